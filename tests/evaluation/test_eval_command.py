"""`sbert-med eval` end to end on local folders, and the MTEB-by-name path with the Hub unreachable."""

from __future__ import annotations

import json

import pytest

from sbert_med.cli import main
from sbert_med.evaluation import MTEBDataUnavailableError, evaluate_models, mteb_tasks_by_name
from tests.evaluation.conftest import write_beir


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    write_beir(root / "toy")
    (root / "sts").mkdir()
    (root / "sts" / "pairs.tsv").write_text(
        "sentence1\tsentence2\tscore\n"
        "The heart pumps blood.\tBlood is pumped by the heart.\t4\n"
        "Insulin lowers blood sugar.\tThe patient broke a leg.\t0\n"
        "Aspirin thins the blood.\tAspirin reduces clotting.\t3\n"
    )
    return root


def test_eval_cli_end_to_end(tiny_encoder_path, data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["eval", "bm25", f"tiny={tiny_encoder_path}", "--tasks", "toy", "sts", "--data-dir", str(data_dir),
            "--out", str(out), "--truncate-dims", "16", "--batch-size", "4", "--no-progress"]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"bm25", "tiny"}
    assert set(results["tiny"]) == {"toy", "toy@16", "sts", "efficiency"}
    assert 0.0 <= results["tiny"]["toy"]["ndcg@10"] <= 1.0
    assert results["bm25"]["toy"]["ndcg@10"] > 0.5  # lexical overlap makes the toy set easy for BM25
    assert "spearman" in results["tiny"]["sts"] and "sts" not in results["bm25"]
    for route in ("query", "document"):
        assert results["tiny"]["efficiency"][f"{route}_batched_per_s"] > 0
        assert results["tiny"]["efficiency"][f"{route}_b1_p95_ms"] >= results["tiny"]["efficiency"][
            f"{route}_b1_p50_ms"]
    assert (out / "quality_vs_speed.png").exists() and (out / "matryoshka.png").exists()
    assert "| tiny |" in (out / "results.md").read_text() and "| tiny |" in capsys.readouterr().out
    settings = json.loads((out / "settings.json").read_text())
    assert settings["tasks"]["toy"]["queries"] == 5 and settings["models"]["tiny"]["embedding_dim"] == 32

    # a rerun resumes: nothing to do, results unchanged
    before = (out / "results.json").read_text()
    assert main(argv) == 0
    assert json.loads((out / "results.json").read_text()) == json.loads(before)


def test_eval_cli_user_errors(data_dir, tmp_path, capsys):
    bad = data_dir / "toy" / "qrels" / "test.tsv"
    bad.write_text(bad.read_text() + "q1\n")
    assert main(["eval", "bm25", "--tasks", "toy", "--data-dir", str(data_dir), "--out", str(tmp_path / "o")]) == 2
    assert "test.tsv, line 9: expected 3 tab-separated columns" in capsys.readouterr().err
    assert main(["eval", "bm25", "--tasks", "BIOSSES", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "MTEB task 'BIOSSES' needs its data from the Hugging Face Hub" in err and "unreachable" in err


def test_mteb_by_name_offline_is_a_clear_error_not_a_fake():
    with pytest.raises(MTEBDataUnavailableError, match=r"'CmedqaRetrieval' needs its data from the Hugging Face"):
        mteb_tasks_by_name("CmedqaRetrieval")
    with pytest.raises(ValueError, match="neither a local task folder nor an MTEB task"):
        mteb_tasks_by_name("NoSuchTaskAnywhere")


def test_evaluate_models_validates_before_running(tmp_path, data_dir):
    with pytest.raises(ValueError, match="a task is NAME"):
        evaluate_models(["bm25"], ["toy:test:corpus.jsonl:extra"], out_dir=tmp_path, data_dir=data_dir)
    with pytest.raises(ValueError, match="model name 'bm25' given twice"):
        evaluate_models(["bm25", "bm25"], ["toy"], out_dir=tmp_path, data_dir=data_dir)
