from __future__ import annotations

import json

import pytest
from datasets import Dataset

from sbert_med.index import IndexCorpus, load_corpus


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_jsonl_beir_folder_and_dataset_agree(tmp_path):
    rows = [{"_id": "d1", "title": "Asthma", "text": "Inhaled steroids."}, {"_id": "d2", "title": "", "text": "ACE."}]
    write_jsonl(tmp_path / "corpus.jsonl", rows)
    from_file = load_corpus(tmp_path / "corpus.jsonl")
    from_folder = load_corpus(tmp_path)
    from_dataset = load_corpus(Dataset.from_list(rows))
    assert from_file.ids == ["d1", "d2"]
    assert from_file.texts == ["Asthma Inhaled steroids.", "ACE."]
    assert from_file.checksum == from_folder.checksum == from_dataset.checksum
    assert load_corpus(tmp_path, with_title=False).texts == ["Inhaled steroids.", "ACE."]


def test_checksum_depends_on_ids_texts_and_order():
    base = IndexCorpus(ids=["a", "b"], texts=["x", "y"])
    assert base.checksum == IndexCorpus(ids=["a", "b"], texts=["x", "y"]).checksum
    assert base.checksum != IndexCorpus(ids=["b", "a"], texts=["y", "x"]).checksum
    assert base.checksum != IndexCorpus(ids=["a", "b"], texts=["x", "z"]).checksum


def test_bad_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "1", "text": "ok"}\n{"_id": "2", "text": oops}\n')
    with pytest.raises(ValueError, match=r"c\.jsonl, line 2, column \d+: invalid JSON"):
        load_corpus(path)


def test_missing_text_field_and_duplicate_ids(tmp_path):
    with pytest.raises(ValueError, match=r"line 1: no text field; expected one of"):
        load_corpus(write_jsonl(tmp_path / "a.jsonl", [{"_id": "1", "body": "x"}]))
    with pytest.raises(ValueError, match=r"duplicate document id '1'"):
        load_corpus(write_jsonl(tmp_path / "b.jsonl", [{"_id": "1", "text": "x"}, {"_id": "1", "text": "y"}]))
    with pytest.raises(FileNotFoundError, match="without corpus.jsonl"):
        load_corpus(tmp_path / "..")
    with pytest.raises(ValueError, match="needs an id column"):
        load_corpus(Dataset.from_dict({"text": ["x"]}))
