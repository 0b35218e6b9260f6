"""`sbert-med train` / `demo` never mix runs, never write over a user's files, refuse nonsense before loading a model,
and ship the base model's inference length (issue #16: items 2, 9, 10, 11)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from sentence_transformers import SentenceTransformer

from sbert_med.cli import main
from sbert_med.recipes import ConfigError, load_recipe_config
from sbert_med.recipes.mar import MARConfig
from sbert_med.recipes.medembed import MedEmbedConfig


def _medembed_config(tmp_path, model: str, data: str, **kw) -> Path:
    config = {
        "recipe": "medembed", "model": model, "train_data": data, "batch_size": 4, "max_steps": 2, "save_steps": 1,
        "use_cpu": True, "show_progress_bar": False, "passage_max_length": 16, "query_max_length": 8, **kw,
    }
    path = tmp_path / f"config_{len(list(tmp_path.glob('config_*')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file()}


def test_a_run_folder_is_not_reused_for_another_config(tmp_path, tiny_encoder_path, qa_pairs_tsv, capsys):
    """Item 2: another config into a run folder is an error unless --overwrite; --resume refuses it."""
    out = tmp_path / "run"
    first = _medembed_config(tmp_path, tiny_encoder_path, qa_pairs_tsv)
    assert main(["train", str(first), "--output", str(out)]) == 0
    capsys.readouterr()
    before = _digest(out / "model")
    other = _medembed_config(tmp_path, tiny_encoder_path, qa_pairs_tsv, learning_rate=1e-3)
    err = _one_line_error(capsys, main(["train", str(other), "--output", str(out)]))
    assert "another config" in err and "learning_rate" in err and "--overwrite" in err
    err = _one_line_error(capsys, main(["train", str(other), "--output", str(out), "--resume"]))
    assert "cannot resume" in err
    assert _digest(out / "model") == before  # refused: the first run's model is untouched
    assert main(["train", str(other), "--output", str(out), "--overwrite", "--set", "max_steps=1"]) == 0
    assert json.loads((out / "train_info.json").read_text())["global_step"] == 1
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-1"]  # old checkpoints gone
    assert not list(out.glob(".*tmp*"))  # outputs were moved into place


def test_saved_model_reads_the_base_length(tmp_path, tiny_encoder_path, qa_pairs_tsv):
    """Item 10: trained on 16-token passages, the saved model still reads the base's length; the card data says
    both."""
    base_length = SentenceTransformer(tiny_encoder_path, device="cpu").max_seq_length
    assert base_length > 16
    path = _medembed_config(tmp_path, tiny_encoder_path, qa_pairs_tsv, output_dir=str(tmp_path / "run"))
    from sbert_med.recipes import run_recipe

    model_dir = run_recipe(load_recipe_config(path))
    assert SentenceTransformer(model_dir, device="cpu").max_seq_length == base_length
    card = (Path(model_dir) / "sbert_med_card.json").read_text()
    settings = json.loads(card)["recipe_settings"]
    assert settings["training_max_seq_length"] == 16 and settings["inference_max_seq_length"] == base_length
    told = load_recipe_config(path, [f"output_dir={tmp_path / 'told'}", "inference_max_length=24"])
    assert SentenceTransformer(run_recipe(told), device="cpu").max_seq_length == 24


@pytest.mark.parametrize(
    "override, key",
    [("epochs=0", "epochs"), ("batch_size=-4", "batch_size"), ("max_train_examples=-5", "max_train_examples"),
     ("learning_rate=0", "learning_rate")],
)
def test_nonsense_values_fail_before_the_model_loads(tmp_path, capsys, override, key):
    """Item 11: the model path does not exist, so reaching the model would be another error."""
    path = _medembed_config(tmp_path, str(tmp_path / "no-model"), str(tmp_path / "pairs.tsv"))
    (tmp_path / "pairs.tsv").write_text("query\tdocument\nq\td\n")
    argv = ["train", str(path), "--output", str(tmp_path / "o"), "--set", "max_steps=-1", "--set", override]
    err = _one_line_error(capsys, main(argv))
    assert key in err and "no-model" not in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match=key):
        MedEmbedConfig(**{key: yaml.safe_load(override.split("=")[1])})


def test_mar_nonsense_stage_values():
    with pytest.raises(ConfigError, match="stage1_batch_size"):
        MARConfig(stage1_batch_size=0)
    with pytest.raises(ConfigError, match="stage2_epochs"):
        MARConfig(stage2_epochs=0)


@pytest.mark.parametrize("args, key", [(["--epochs", "-1"], "epochs"), (["--max-train", "-5"], "max-train"),
                                       (["--batch-size", "0"], "batch-size")])
def test_demo_nonsense(tmp_path, capsys, args, key):
    err = _one_line_error(capsys, main(["demo", "--output", str(tmp_path / "demo"), *args]))
    assert key in err
    assert not (tmp_path / "demo").exists()  # nothing built


def test_train_output_and_set_errors(tmp_path, tiny_encoder_path, qa_pairs_tsv, capsys):
    """Item 9: --output a user's folder / below a file, a --set value that is not YAML: one line, exit 2."""
    path = _medembed_config(tmp_path, tiny_encoder_path, qa_pairs_tsv)
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    err = _one_line_error(capsys, main(["train", str(path), "--output", str(user)]))
    assert str(user) in err and "not an sbert-med run folder" in err
    err = _one_line_error(capsys, main(["train", str(path), "--output", str(user), "--overwrite"]))
    assert "not an sbert-med run folder" in err
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"] and (user / "notes.txt").read_text() == "keep me"
    err = _one_line_error(capsys, main(["train", str(path), "--output", str(user / "notes.txt" / "run")]))
    assert "notes.txt" in err
    err = _one_line_error(capsys, main(["train", str(path), "--set", "epochs=[1"]))
    assert "epochs" in err and "[1" in err
    err = _one_line_error(capsys, main(["demo", "--output", str(user)]))
    assert "not an sbert-med run folder" in err
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"]
