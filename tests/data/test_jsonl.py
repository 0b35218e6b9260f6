"""JSONL reading with located errors, and the resumable journal."""

from __future__ import annotations

import json

import pytest

from sbert_med.data import ResumableJsonlWriter, read_jsonl, write_jsonl


@pytest.mark.parametrize(
    ("content", "options", "pattern"),
    [
        ('{"text": "ok"}\n\n{"text": "broken",}\n', {}, r"rows.jsonl, line 3, column 19: invalid JSON"),
        ('{"text": "ok"}\n["a list"]\n', {}, r"rows.jsonl, line 2: expected a JSON object, got list"),
        ('{"text": "ok"}\n{"title": "no text"}\n', {"required_columns": ["text"]},
         r"row 2 lacks column\(s\) \['text'\]"),
        ('{"text": "a"}\n\n{"text": 3}\n', {},
         r"rows.jsonl, line 3, column 'text': expected a string \(as on line 1\)"),
        ('{"tags": ["a"]}\n{"tags": ["b"]}\n{"tags": [["c"]]}\n', {},
         r"rows.jsonl, line 3, column 'tags': values of mixed types"),
        ('{"text": "a"}\n{"text": ""}\n', {"text_columns": ["text"]},
         r"rows.jsonl, line 2, column 'text': expected a non-empty text"),
    ],
    ids=["bad-json", "not-an-object", "missing-column", "type-changes", "mixed-types", "empty-text"],
)
def test_bad_rows_are_named_by_file_line_and_column(tmp_path, content, options, pattern):
    path = tmp_path / "rows.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=pattern):
        read_jsonl(path, **options)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_write_then_read_round_trip(tmp_path):
    rows = [{"text": "α-blockers", "n": 1}, {"text": "β", "n": 2}]
    path = write_jsonl(rows, tmp_path / "out" / "rows.jsonl")
    assert read_jsonl(path).to_list() == rows


def test_journal_drops_a_cut_off_last_line_and_resumes(tmp_path):
    path = tmp_path / "journal.jsonl"
    with ResumableJsonlWriter(path) as journal:
        journal.write({"key": "a", "value": 1})
        journal.write({"key": "b", "value": 2})
    with open(path, "a") as handle:  # a crash in the middle of a write
        handle.write('{"key": "c", "val')
    with ResumableJsonlWriter(path) as journal:
        assert set(journal.records) == {"a", "b"} and "c" not in journal
        journal.write({"key": "c", "value": 3})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["key"] for line in lines] == ["a", "b", "c"]


def test_journal_unfinished_records_are_redone_and_corruption_is_located(tmp_path):
    path = tmp_path / "journal.jsonl"
    finished = lambda record: record["status"] == "ok"  # noqa: E731
    with ResumableJsonlWriter(path, is_finished=finished) as journal:
        journal.write({"key": "a", "status": "failed"})
        journal.write({"key": "b", "status": "ok"})
    with ResumableJsonlWriter(path, is_finished=finished) as journal:
        assert "a" not in journal and "b" in journal
    path.write_text('{"key": "a", "status": "ok"}\nnot json\n{"key": "b", "status": "ok"}\n')
    with pytest.raises(ValueError, match=r"journal.jsonl:2:1: corrupt journal line"):
        ResumableJsonlWriter(path)


def test_schema_comes_from_every_row(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b", "label": 1, "tags": ["x"]}\n')
    assert read_jsonl(path).to_list() == [{"text": "a", "label": None, "tags": None},
                                          {"text": "b", "label": 1, "tags": ["x"]}]
    path.write_text('{"text": "a", "n": 1}\n{"text": "b", "n": 2.5}\n')  # int and float are both numbers
    assert read_jsonl(path)["n"] == [1.0, 2.5]
