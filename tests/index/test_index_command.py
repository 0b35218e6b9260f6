"""``sbert-med index build | search | info`` through ``sbert_med.cli.main``."""

from __future__ import annotations

import json

import pytest

from sbert_med.cli import main


@pytest.fixture(scope="module")
def model_dir(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_model_dir")
    tiny_model.save(str(path))
    return str(path)


@pytest.fixture(scope="module")
def beir_dir(tmp_path_factory, tiny_corpus):
    folder = tmp_path_factory.mktemp("beir")
    rows = [{"_id": f"doc{i}", "title": "", "text": text} for i, text in enumerate(tiny_corpus)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def test_build_search_info(model_dir, beir_dir, tmp_path, capsys, tiny_corpus):
    out = tmp_path / "idx"
    assert main(["index", "build", "--model", model_dir, "--corpus", str(beir_dir), "--out", str(out), "--kind",
                 "hnsw", "--precision", "int8", "--shard-size", "3", "--no-progress"]) == 0
    assert "HNSW32_SQ8 index of 8 documents (32-d, cosine)" in capsys.readouterr().out

    assert main(["index", "search", str(out), "--model", model_dir, "--query", tiny_corpus[2], "--top-k", "3",
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [sorted(hit) for hit in hits] == [["id", "score", "text"]] * 3
    assert hits[0]["id"] == "doc2" and hits[0]["text"] == tiny_corpus[2]  # a document finds itself
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)

    assert main(["index", "search", str(out), "--model", model_dir, "--query", "anemia", "--query", "asthma",
                 "--top-k", "2"]) == 0
    text = capsys.readouterr().out
    assert text.count("query: ") == 2 and "  1. " in text and "doc" in text

    assert main(["index", "info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "hnsw" and info["precision"] == "int8" and info["num_documents"] == 8
    assert info["model_name"] == model_dir and "fingerprint" not in info


def test_errors_are_one_line_with_exit_code_2(model_dir, beir_dir, tmp_path, capsys, minilm_path):
    assert main(["index", "info", str(tmp_path)]) == 2
    assert "not a finished sbert-med index" in capsys.readouterr().err
    out = tmp_path / "idx"
    assert main(["index", "build", "--model", model_dir, "--corpus", str(tmp_path / "missing.jsonl"), "--out",
                 str(out), "--no-progress"]) == 2
    assert "corpus not found" in capsys.readouterr().err
    assert main(["index", "build", "--model", model_dir, "--corpus", str(beir_dir), "--out", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["index", "search", str(out), "--model", minilm_path, "--query", "x"]) == 2
    err = capsys.readouterr().err
    assert "sbert-med index: error:" in err and "gives 384-d query embeddings" in err
