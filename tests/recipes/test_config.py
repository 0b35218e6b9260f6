from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import pytest

from sbert_med.cli import main
from sbert_med.recipes import ConfigError, RecipeConfig, load_recipe_config, parse_overrides
from sbert_med.recipes.medembed import MedEmbedConfig


@dataclasses.dataclass
class ToyConfig(RecipeConfig):
    recipe: ClassVar[str] = "toy"
    mode: Literal["a", "b"] = "a"
    layers: list[str] = dataclasses.field(default_factory=list)
    limit: int | None = None


def test_yaml_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("recipe: toy\nepochs: 2\nmode: b\nlayers: [x, y]\n")
    config = ToyConfig.from_yaml(path, overrides=["learning_rate=3e-4", "limit=5", "bf16=true"])
    assert config.epochs == 2.0 and isinstance(config.epochs, float)
    assert config.mode == "b" and config.layers == ["x", "y"]
    assert config.learning_rate == 3e-4 and config.limit == 5 and config.bf16 is True


def test_json_config(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"recipe": "toy", "batch_size": 8}')
    assert ToyConfig.from_yaml(path).batch_size == 8


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("recipe: toy\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*'learning_rat'.*did you mean 'learning_rate'"):
        ToyConfig.from_yaml(path)


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("epochs: three", r"'epochs' must be a number, got 'three'"),
        ("batch_size: 3.5", r"'batch_size' must be an integer"),
        ("bf16: 1", r"'bf16' must be true or false"),
        ("mode: c", r"'mode' must be one of \['a', 'b'\], got 'c'"),
        ("layers: x", r"'layers' must be a list"),
        ("limit: many", r"'limit' must be an integer or NoneType"),
    ],
)
def test_wrong_type_names_key(tmp_path, line, pattern):
    path = tmp_path / "bad.yaml"
    path.write_text(f"recipe: toy\n{line}\n")
    with pytest.raises(ConfigError, match=pattern):
        ToyConfig.from_yaml(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        ToyConfig.from_yaml("nope.yaml")


def test_invalid_yaml_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("recipe: toy\nepochs: [1,\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: line \d+, column \d+"):
        ToyConfig.from_yaml(path)


def test_bad_override():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["epochs"])


def test_recipe_dispatch_and_round_trip(tmp_path):
    path = tmp_path / "m.yaml"
    MedEmbedConfig(train_data="x.tsv", epochs=1).save_yaml(path)
    config = load_recipe_config(path, ["batch_size=4"])
    assert isinstance(config, MedEmbedConfig) and config.batch_size == 4 and config.train_data == "x.tsv"
    assert config.temperature == 0.02 and config.query_max_length == 128 and config.passage_max_length == 256


def test_recipe_key_errors(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("epochs: 1\n")
    with pytest.raises(ConfigError, match="missing key 'recipe'"):
        load_recipe_config(path)
    path.write_text("recipe: nosuch\n")
    with pytest.raises(ConfigError, match="'recipe' must be one of"):
        load_recipe_config(path)


def test_cli_reports_config_errors(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("recipe: medembed\ntrain_data: x.tsv\nwarmup: 3\n")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "'warmup'" in err and "Traceback" not in err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    path.write_text("recipe: medembed\ntrain_data: x.tsv\n")
    assert main(["train", str(path), "--set", "epochs=three"]) == 2
    assert "'epochs' must be a number" in capsys.readouterr().err


def test_missing_input_file_names_key_before_any_model_loads(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(f"recipe: mar\ntrain_data: {tmp_path / 'nope.tsv'}\nquery_model: not/a-model\n")
    assert main(["train", str(path)]) == 2  # fails on the data path, not on the (unreachable) model
    err = capsys.readouterr().err
    assert "train_data" in err and "nope.tsv" in err and "Traceback" not in err
    path.write_text(f"recipe: medeir\ntokenizer_corpus: [{path}, {tmp_path / 'gone.jsonl'}]\n")
    assert main(["train", str(path)]) == 2
    assert "tokenizer_corpus: " + str(tmp_path / "gone.jsonl") in capsys.readouterr().err


@pytest.mark.parametrize("ratio, steps", [(0.1, 100), (0.06, 60), (0.0, 0)])
def test_warmup_ratio_becomes_that_share_of_steps_without_a_deprecation_warning(tmp_path, caplog, ratio, steps):
    with caplog.at_level("WARNING"):
        arguments = ToyConfig(warmup_ratio=ratio, use_cpu=True).training_arguments(output_dir=str(tmp_path))
    assert arguments.get_warmup_steps(1000) == steps
    assert "warmup_ratio" not in caplog.text
