"""Issue #16: a card says what the model is (recorded training, Hub ids, base licence, the metrics it holds); push
checks the model with probe sentences and refuses a broken folder in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize

from sbert_med.cli import main
from sbert_med.hub import MedModelCardData, push_model, save_with_card
from sbert_med.modules import check_model, encoder_tower

REPO = "med-org/plain"
FAMILY_CLAIMS = ("synthetic queries", "mined hard negatives", "MedEmbed-style", "in the style of")


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("sbert-med ") and ": error: " in line]


@pytest.fixture(scope="module")
def plain_dir(tiny_encoder_path, tmp_path_factory):
    """A plain sentence-transformers model folder (no sbert_med card data), saved in a temporary folder."""
    model = SentenceTransformer(modules=[*encoder_tower(tiny_encoder_path, pooling="mean"), Normalize()],
                                device="cpu")
    path = tmp_path_factory.mktemp("plain") / "model"
    model.save(str(path))
    return path


def card_of(folder: Path) -> str:
    return (folder / "README.md").read_text()


def flat(text: str) -> str:
    return " ".join(text.split())


def test_plain_model_pushes_without_family_with_a_neutral_card(plain_dir, tmp_path, capsys):
    assert main(["push", str(plain_dir), REPO, "--dry-run", str(tmp_path / "dry")]) == 0
    card = card_of(tmp_path / "dry")
    assert "# plain" in card and "No training was recorded" in flat(card)
    assert not any(claim in card for claim in FAMILY_CLAIMS), card
    # the base model is not a Hub model it can name: the card says so instead of printing the local path
    assert "unknown (a local model; name it with --base-model)" in card
    assert str(plain_dir.parent) not in card and "/tmp/" not in card
    assert main(["push", str(plain_dir), REPO, "--dry-run", str(tmp_path / "dry2"), "--base-model",
                 "google/bert_uncased_L-2_H-128_A-2"]) == 0
    card = card_of(tmp_path / "dry2")
    assert "| default | google/bert_uncased_L-2_H-128_A-2 | BertModel |" in card
    assert "base_model: google/bert_uncased_L-2_H-128_A-2" in card.split("---")[1]


def test_local_copy_of_a_hub_model_is_named_by_hub_id_with_its_licence(minilm_path, tmp_path):
    model = SentenceTransformer(minilm_path, device="cpu")
    path = Path(save_with_card(model, tmp_path / "m", family=None))
    card = card_of(path)
    front = card.split("---")[1]
    assert "| default | sentence-transformers/all-MiniLM-L6-v2 | BertModel |" in card
    assert "site-packages" not in card and minilm_path not in card
    assert "license: apache-2.0" in front and "apache-2.0 (the base model's licence)" in card
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in front


def test_card_describes_the_recorded_training_not_the_family_template(minilm_path, tmp_path):
    # the demo's situation: the medembed recipe on ICD-10 pairs, no mined negatives, base model by local path
    model = SentenceTransformer(minilm_path, device="cpu")
    recipe = {"recipe": "medembed", "model": minilm_path, "train_data": "/data/simple_icd_10_cm/pairs.tsv",
              "num_negatives": 0, "mine_negatives": 0, "temperature": 0.02, "epochs": 1.0}
    path = Path(save_with_card(model, tmp_path / "demo", family="medembed", recipe_config=recipe,
                               eval_results={"this model": {"dev": {"ndcg@10": 0.8123, "mrr@10": 0.7}}}))
    card = card_of(path)
    assert "fine-tuned with the sbert_med **medembed** recipe in the style of MedEmbed" in flat(card)
    assert "in-batch negatives only" in flat(card) and "ICD-10-CM 2026" in flat(card)
    assert "synthetic queries" not in card and "mined hard negatives" not in card
    assert "model: sentence-transformers/all-MiniLM-L6-v2" in card and minilm_path not in card
    assert "| this model | 0.8123 |" in card  # the metric the card data holds, not "–"


def test_untrained_model_saved_as_a_family_makes_no_family_claims(plain_dir, tmp_path):
    model = SentenceTransformer(str(plain_dir), device="cpu")
    path = Path(save_with_card(model, tmp_path / "m", family="medembed",
                               eval_results={"m": {"pairs": {"acc@1": 0.9}, "legacy": {"cosine_accuracy": 0.7}}}))
    card = card_of(path)
    assert not any(claim in card for claim in FAMILY_CLAIMS), card
    assert "| m | 0.9000 | 0.7000 |" in card


def test_degenerate_tokenizer_is_caught_before_push(plain_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(plain_dir, broken)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (broken / name).unlink(missing_ok=True)
    report = check_model(SentenceTransformer(str(broken), device="cpu"))
    assert {r.name for r in report.failures} >= {"tokenizer"}, str(report)
    assert main(["push", str(broken), REPO, "--dry-run", str(tmp_path / "dry")]) == 2
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "fails check_model" in errors[0] and "tokenizer" in errors[0], errors
    assert not (tmp_path / "dry").exists() or not any((tmp_path / "dry").iterdir())


def test_identical_embeddings_for_unrelated_texts_fail_the_check(tiny_encoder_path):
    import torch

    model = SentenceTransformer(modules=[*encoder_tower(tiny_encoder_path, pooling="mean"), Normalize()],
                                device="cpu")
    with torch.no_grad():  # a collapsed model: every token embeds to the same vector and attention is constant
        for name, param in model.named_parameters():
            param.zero_()
    assert "distinct_embeddings" in {r.name for r in check_model(model).failures}
    with pytest.raises(ValueError, match="refusing to save a model that fails check_model"):
        save_with_card(model, Path("/nonexistent/never-written"), family=None)


def test_missing_weights_is_a_one_line_error(plain_dir, tmp_path, capsys):
    broken = tmp_path / "noweights"
    shutil.copytree(plain_dir, broken)
    (broken / "model.safetensors").unlink()
    assert main(["push", str(broken), REPO, "--dry-run", str(tmp_path / "dry")]) == 2
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "model.safetensors is missing" in errors[0], errors
    with pytest.raises(ValueError, match="--base-model must be a Hub id"):
        from sbert_med.hub.base_model import parse_base_models

        parse_base_models(["/tmp/local/model"])


def test_stored_card_data_keeps_the_neutral_family(plain_dir, tmp_path):
    model = SentenceTransformer(str(plain_dir), device="cpu")
    path = save_with_card(model, tmp_path / "m", family=None)
    assert json.loads((Path(path) / "sbert_med_card.json").read_text())["family"] is None
    assert MedModelCardData.from_json(path).family is None
    push_model(path, REPO, dry_run_dir=tmp_path / "dry")
    assert "No training was recorded" in flat(card_of(tmp_path / "dry"))
