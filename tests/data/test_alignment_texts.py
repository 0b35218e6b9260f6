"""Reading an alignment corpus (MAR Stage I): every accepted source, many at once, and errors naming file and line."""

from __future__ import annotations

import json

import pytest

from sbert_med.data.alignment import load_alignment_texts


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_source_kind_many_at_once(tmp_path):
    jsonl = _write(tmp_path / "a.jsonl", [json.dumps({"text": "alpha"}), json.dumps({"title": "T", "text": "beta"}),
                                          json.dumps({"query": "q1", "pos": ["p1"], "neg": ["n1"]})])
    txt = _write(tmp_path / "b.txt", ["gamma", "", "  alpha  "])
    tsv = _write(tmp_path / "c.tsv", ["id\ttext", "1\tdelta"])
    pairs = _write(tmp_path / "d.tsv", ["query_id\tdoc_id\tquery\tdocument", "q\td\tq2\tp2"])
    csv = _write(tmp_path / "e.csv", ["text", '"epsilon, with a comma"'])
    beir = tmp_path / "beir"
    beir.mkdir()
    _write(beir / "corpus.jsonl", [json.dumps({"_id": "d1", "title": "", "text": "zeta"})])
    _write(beir / "queries.jsonl", [json.dumps({"_id": "q1", "text": "eta"})])
    texts = load_alignment_texts([jsonl, txt, tsv, pairs, csv, beir])
    assert texts == ["alpha", "T beta", "q1", "p1", "n1", "gamma", "delta", "q2", "p2", "epsilon, with a comma",
                     "zeta", "eta"]
    assert load_alignment_texts(str(txt)) == ["gamma", "alpha"]


def test_seeded_sample(tmp_path):
    txt = _write(tmp_path / "t.txt", [f"text {i}" for i in range(100)])
    sample = load_alignment_texts(txt, max_texts=10, seed=3)
    assert len(sample) == len(set(sample)) == 10
    assert sample == load_alignment_texts(txt, max_texts=10, seed=3)
    assert sample != load_alignment_texts(txt, max_texts=10, seed=4)
    assert len(load_alignment_texts(txt, max_texts=1000)) == 100


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"text": "ok"}\n{"text": \n', r"bad\.jsonl, line 2, column \d+: invalid JSON"),
        ("bad.jsonl", '{"text": "ok"}\n{"body": "x"}\n', r"bad\.jsonl, line 2: expected a 'text' field"),
        ("bad.jsonl", '{"text": ["x"]}\n', r"bad\.jsonl, line 1: 'text' must be a string"),
        ("bad.tsv", "id\tbody\n1\tx\n", r"bad\.tsv, line 1: the header needs a 'text' column"),
        ("bad.tsv", "id\tx\ttext\n1\n", r"bad\.tsv, line 2: expected 3 columns, got 1"),
        ("bad.parquet", "x", r"bad\.parquet: alignment data must be"),
        ("empty.txt", "\n \n", r"no alignment text in .*empty\.txt"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_alignment_texts(path)


def test_missing_and_odd_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="alignment data not found: .*nope.txt"):
        load_alignment_texts(tmp_path / "nope.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="must be a BEIR folder"):
        load_alignment_texts(tmp_path / "folder")
    (tmp_path / "latin1.txt").write_bytes(b"ok\ncaf\xe9\n")
    with pytest.raises(ValueError, match=r"latin1\.txt, line 2, column 4: not valid UTF-8"):
        load_alignment_texts(tmp_path / "latin1.txt")
    with pytest.raises(ValueError, match="no alignment sources"):
        load_alignment_texts([])
