from __future__ import annotations

import pytest

from sbert_med.data.corpus import read_glossary_terms, read_texts


def test_read_txt_jsonl_tsv(tmp_path):
    (tmp_path / "a.txt").write_text("first line\n\n second line \n")
    (tmp_path / "b.jsonl").write_text('{"_id": "1", "title": "Heart", "text": "It pumps."}\n{"text": "x"}\n')
    (tmp_path / "c.tsv").write_text("term\tdefinition\natrium\tupper chamber\nventricle\tlower chamber\n")
    assert read_texts(tmp_path / "a.txt") == ["first line", "second line"]
    assert read_texts(tmp_path / "b.jsonl") == ["Heart. It pumps.", "x"]
    assert read_texts(tmp_path / "c.tsv", column="term") == ["atrium", "ventricle"]
    assert read_texts(tmp_path / "c.tsv", column="definition", limit=1) == ["upper chamber"]


def test_bad_files_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2, column \d+: invalid JSON"):
        read_texts(bad)
    (tmp_path / "missing_field.jsonl").write_text('{"body": "ok"}\n')
    with pytest.raises(ValueError, match=r"missing_field\.jsonl, line 1: .*'text'"):
        read_texts(tmp_path / "missing_field.jsonl")
    (tmp_path / "g.tsv").write_text("chapter\tdefinition\n1\tx\n")
    with pytest.raises(ValueError, match=r"g\.tsv, line 1: the header must name a 'term' column"):
        read_texts(tmp_path / "g.tsv", column="term")
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(ValueError, match="suffix must be one of"):
        read_texts(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_texts(tmp_path / "nope.txt")


def test_real_glossary_terms(samples):
    glossary_terms = read_glossary_terms(samples / "openstax_ap2e" / "glossary.tsv")
    assert len(glossary_terms) > 350  # the sample's chapters 1, 5, 18, 19 define 378 terms
    assert "anatomy" in glossary_terms and len(set(glossary_terms)) == len(glossary_terms)


@pytest.mark.parametrize("name", ["latin1.txt", "latin1.tsv", "latin1.jsonl"])
def test_non_utf8_file_names_file_and_line(tmp_path, name):
    path = tmp_path / name
    text = {"txt": "ok\ncaf\xe9\n", "tsv": "text\nok\ncaf\xe9\n", "jsonl": '{"text": "ok"}\n{"text": "caf\xe9"}\n'}
    path.write_bytes(text[name.split(".")[1]].encode("latin-1"))
    line = 3 if name.endswith(".tsv") else 2
    with pytest.raises(ValueError, match=rf"{name}, line {line}, column \d+: not valid UTF-8"):
        read_texts(path)
