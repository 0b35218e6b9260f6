from __future__ import annotations

import json

import pytest

from sbert_med.data.beir import load_beir
from tests.evaluation.conftest import write_beir


def test_load_beir_graded_and_filtered(beir_folder):
    data = load_beir(beir_folder)
    assert data.name == "toy" and data.split == "test"
    assert set(data.queries) == {"q1", "q2", "q3", "q4", "q5"}
    assert data.qrels["q1"] == {"d1": 2, "d4": 0}  # graded, the 0 kept for MTEB
    assert data.relevant_docs["q1"] == {"d1"}  # score > 0 is relevant
    assert data.relevant_docs["q5"] == {"d6", "d1"}
    assert data.corpus["d1"] == "Hypertension High blood pressure is treated with diuretics and ACE inhibitors."
    assert data.corpus["d3"] == "Asthma attacks are relieved with inhaled beta agonists."
    assert data.titles["d3"] == "" and data.texts["d1"].startswith("High blood")


def test_queries_outside_split_and_unanswerable_are_dropped(tmp_path):
    queries = {"q1": "How is high blood pressure treated?", "q9": "not judged", "q8": "judged 0 only"}
    folder = write_beir(tmp_path / "t", queries=queries, qrels=[("q1", "d1", 1), ("q8", "d2", 0)])
    data = load_beir(folder)
    assert set(data.queries) == {"q1"}


def test_corpus_file_and_split(tmp_path):
    folder = write_beir(tmp_path / "t", split="dev")
    (folder / "corpus_small.jsonl").write_text(
        "\n".join(json.dumps({"_id": d, "title": "", "text": "x"}) for d in ["d1", "d2", "d3", "d4", "d5", "d6"])
    )
    data = load_beir(folder, "dev", corpus_file="corpus_small.jsonl")
    assert data.corpus["d1"] == "x"
    with pytest.raises(FileNotFoundError, match=r"qrels.*test\.tsv.*splits available: \['dev'\]"):
        load_beir(folder, "test")


def test_subset_keeps_judged_documents(samples):
    data = load_beir(samples / "medquad")
    small = data.subset(max_queries=5, max_corpus=200, seed=0)
    assert len(small.queries) == 5
    judged = {cid for docs in small.qrels.values() for cid in docs}
    assert judged <= set(small.corpus) and len(small.corpus) == max(200, len(judged))
    assert small.subset(max_queries=5, max_corpus=200, seed=0).queries.keys() == small.queries.keys()


# --- malformed input: clear errors naming the file and the line ---------------------------------------------------


QRELS_FILE = "qrels/test.tsv"


@pytest.mark.parametrize(
    ("file", "appended", "pattern"),
    [
        (QRELS_FILE, b"q2\td3\n", r"test\.tsv, line 9: expected 3 tab-separated columns .* got 2"),
        (QRELS_FILE, b"q2\tMISSING-DOC\t1\n",
         r"test\.tsv, line 9: corpus-id 'MISSING-DOC' is not in .*corpus\.jsonl"),
        (QRELS_FILE, b"q404\td1\t1\n", r"test\.tsv, line 9: query-id 'q404' is not in .*queries\.jsonl"),
        (QRELS_FILE, b"q2\td3\thigh\n", r"test\.tsv, line 9, column 3: score must be an integer, got 'high'"),
        (QRELS_FILE, b"q1\td1\t1\n", r"test\.tsv, line 9: duplicate judgement .*'q1', 'd1'.* line 2"),
        (QRELS_FILE, b"q1\td\xff2\t1\n", r"test\.tsv, line 9, column 5: not valid UTF-8 \(byte 0xff\)"),
        ("corpus.jsonl", b'{"_id": "d2", "title": "", "text": "again"}\n',
         r"corpus\.jsonl, line 7: duplicate id 'd2' \(first seen on line 2\)"),
        ("corpus.jsonl", b'{"_id": "d7", "title": "", "text": "caf\xe9 au lait"}\n',
         r"corpus\.jsonl, line 7, column 40: not valid UTF-8 \(byte 0xe9\)"),
        ("queries.jsonl", b'{"_id": "q1", "text": "again"}\n',
         r"queries\.jsonl, line 6: duplicate id 'q1' \(first seen on line 1\)"),
        ("queries.jsonl", b'{"_id": "q6", "text": "unterminated\n',
         r"queries\.jsonl, line 6, column \d+: invalid JSON"),
        ("queries.jsonl", b'{"_id": "q6"}\n', r"queries\.jsonl, line 6: missing key\(s\) \['text'\]"),
    ],
    ids=["qrels-missing-column", "qrels-unknown-corpus-id", "qrels-unknown-query-id", "qrels-bad-score",
         "qrels-duplicate-judgement", "qrels-non-utf8", "corpus-duplicate-id", "corpus-non-utf8",
         "queries-duplicate-id", "queries-bad-json", "queries-missing-key"],
)
def test_malformed_line_is_named(beir_folder, file, appended, pattern):
    with open(beir_folder / file, "ab") as handle:
        handle.write(appended)
    with pytest.raises(ValueError, match=pattern):
        load_beir(beir_folder)


def test_missing_files(tmp_path, beir_folder):
    with pytest.raises(FileNotFoundError, match="BEIR folder not found"):
        load_beir(tmp_path / "nowhere")
    (beir_folder / "corpus.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"corpus file not found: .*corpus\.jsonl"):
        load_beir(beir_folder)
