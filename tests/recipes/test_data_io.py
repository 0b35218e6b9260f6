from __future__ import annotations

import json

import pytest

from sbert_med.data.beir import load_beir
from sbert_med.data.pairs import load_training_pairs, truncate_to_tokens


def test_jsonl_triplets(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"query": "q1", "pos": ["p1", "p1b"], "neg": ["n1", "n2"]}, {"query": "q2", "pos": "p2", "neg": ["n3"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = load_training_pairs(path, num_negatives=1)
    assert data.column_names == ["anchor", "positive", "negative_1"]
    assert data["positive"] == ["p1", "p1b", "p2"] and data["negative_1"] == ["n1", "n1", "n3"]
    with pytest.raises(ValueError, match=r"t\.jsonl: line 2: num_negatives=2 but the row has 1"):
        load_training_pairs(path, num_negatives=2)


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("bad.jsonl", b'{"query": "q", "pos": "p"}\n{"query": "q2", "pos": [1]}\n',
         r"bad\.jsonl: line 2: 'pos' must be a string or a list"),
        ("bad.jsonl", b'{"query": "q", "pos": "p"}\n{oops\n', r"bad\.jsonl, line 2, column 2: invalid JSON"),
        ("bad.jsonl", b'{"pos": "p"}\n', r"bad\.jsonl: line 1: missing or empty 'query'"),
        ("bad.tsv", b"question\tanswer\nq\ta\n", r"bad\.tsv: line 1: the header needs 'query' and 'document'"),
        ("bad.tsv", b"query\tdocument\nq\ta\n\tb\n", r"bad\.tsv: line 3: empty 'query'"),
        ("pairs.tsv", b"query\tdocument\nq\ta\nq2\tcaf\xe9\n", r"pairs\.tsv, line 3, column 7: not valid UTF-8"),
    ],
    ids=["jsonl-pos-type", "jsonl-bad-json", "jsonl-no-query", "tsv-header", "tsv-empty-query", "tsv-non-utf8"],
)
def test_pair_file_errors_name_line(tmp_path, name, content, pattern):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern):
        load_training_pairs(path)


def test_tsv_pairs_and_missing_file(tmp_path, qa_pairs_tsv):
    assert len(load_training_pairs(qa_pairs_tsv, max_examples=5)) == 5
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        load_training_pairs(tmp_path / "missing.tsv")


def test_beir_split(samples):
    split = load_beir(samples / "medquad", "test", max_queries=20, max_corpus=100)
    assert len(split.queries) == 20 and len(split.corpus) == 100
    assert all(docs <= set(split.corpus) for docs in split.relevant_docs.values())


@pytest.mark.parametrize(
    ("score", "pattern"),
    [("high", r"test\.tsv, line 2, column 3: score must be an integer"),
     ("0", r"test\.tsv: every relevance score is <= 0")],
)
def test_one_judgement_qrels_errors(tmp_path, score, pattern):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text(f"query-id\tcorpus-id\tscore\nq1\td1\t{score}\n")
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "y"}\n')
    with pytest.raises(ValueError, match=pattern):
        load_beir(tmp_path, "test")


def test_truncate_to_tokens(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    text = "Hypertension is treated with diuretics and ACE inhibitors."
    cut = truncate_to_tokens([text, "short"], tokenizer, 3)
    assert cut[1] == "short" and text.startswith(cut[0]) and len(tokenizer.tokenize(cut[0])) == 3
