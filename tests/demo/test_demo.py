from __future__ import annotations

import csv
import json

import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.cli import main
from sbert_med.demo import build_icd10cm_retrieval


def test_icd10cm_split_is_by_category(tmp_path):
    sizes = build_icd10cm_retrieval(tmp_path, max_train=0, max_dev_queries=0, max_test_queries=0)
    assert sizes["train_triplets"] > 8000 and sizes["test_queries"] > 1000 and sizes["corpus"] > 1000
    train = [json.loads(line) for line in open(tmp_path / "train.jsonl")]
    train_categories = {row["source"].split()[-1][:3] for row in train}
    for split in ("dev", "test"):
        with open(tmp_path / "qrels" / f"{split}.tsv") as handle:
            codes = {row["corpus-id"] for row in csv.DictReader(handle, delimiter="\t")}
        assert codes and not {code[:3] for code in codes} & train_categories  # no held-out category in training
    assert all(row["neg"] and row["neg"][0] != row["pos"][0] for row in train)
    assert build_icd10cm_retrieval(tmp_path / "again", max_train=50)["train_triplets"] == 50
    with pytest.raises(ValueError, match="test_fraction must be between 0 and 1"):
        build_icd10cm_retrieval(tmp_path, test_fraction=1.5)


def test_demo_smoke_tiny(tmp_path, tiny_encoder_path, capsys):
    """Mechanics on a reduced size with a tiny model: table, results.json, a plainly loadable model with its card."""
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--output",
            str(out),
            "--model",
            tiny_encoder_path,
            "--max-train",
            "32",
            "--max-test-queries",
            "20",
            "--max-test-corpus",
            "60",
            "--batch-size",
            "16",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "ndcg@10" in printed and "before" in printed and "after" in printed
    results = json.loads((out / "results.json").read_text())
    assert {"ndcg@10", "mrr@10", "accuracy@1"} <= set(results["before"]) & set(results["after"])
    assert results["data"]["test_queries"] == 20 and results["data"]["test_corpus"] == 60
    assert (out / "model" / "README.md").is_file()
    SentenceTransformer(str(out / "model")).encode(["Typhoid endocarditis"])


def test_demo_bad_dataset(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path), "--dataset", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_improves_minilm(tmp_path, minilm_path):
    """The main job on a reduced size with the real all-MiniLM-L6-v2: held-out nDCG@10 clearly improves."""
    out = tmp_path / "demo"
    assert (
        main(
            [
                "demo",
                "--output",
                str(out),
                "--max-train",
                "512",
                "--max-test-queries",
                "200",
                "--max-test-corpus",
                "600",
                "--no-progress",
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text())
    assert results["after"]["ndcg@10"] > results["before"]["ndcg@10"] + 0.02, results
