"""`sbert-med data` with bad inputs: a one-line error naming the file/line/column, exit 2, no traceback, and no
input file changed (issue #16, items 8 and 9, and "no command writes over an input")."""

from __future__ import annotations

import hashlib
import json

import pytest

from sbert_med.cli import main
from sbert_med.data import read_jsonl, write_jsonl


def digest(paths) -> dict:
    out = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        out.update({str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files})
    return out


def fails_with_one_line(argv, capsys, *expected, inputs=()) -> str:
    before = digest(inputs)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("sbert-med data: error:")]
    assert len(errors) == 1, err
    for text in expected:
        assert text in errors[0], errors[0]
    assert digest(inputs) == before, "an input file was changed"
    return errors[0]


def beir(folder, qrels="q1\td1\t1\n"):
    (folder / "qrels").mkdir(parents=True)
    write_jsonl([{"_id": "q1", "text": "How is gout treated?"}], folder / "queries.jsonl")
    write_jsonl([{"_id": "d1", "title": "", "text": "Gout is treated with colchicine."}], folder / "corpus.jsonl")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder


def test_columns_that_first_appear_after_row_1_are_kept(tmp_path):
    source = tmp_path / "rows.jsonl"
    source.write_text('{"text": "Gout is treated with colchicine."}\n'
                      '{"text": "Asthma is treated with inhalers.", "label": 1, "source": "book"}\n')
    eval_file = write_jsonl([{"text": "something unrelated"}], tmp_path / "eval.jsonl")
    assert main(["data", "decontaminate", "--input", str(source), "--output", str(tmp_path / "out.jsonl"),
                 "--eval", str(eval_file)]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[1] == {"text": "Asthma is treated with inhalers.", "label": 1, "source": "book"}
    assert rows[0]["label"] is None


@pytest.mark.parametrize(("content", "step", "expected"), [
    ('{"query": "a", "document": "b"}\n{"query": "c", "document": 7}\n', "mine",
     ["rows.jsonl, line 2, column 'document'"]),
    ('{"query": "a"}\n\n{"query": null}\n', "diversify", ["rows.jsonl, line 3, column 'query'", "null"]),
    ('{"query": "a"}\n{"query": 3}\n', "decontaminate", ["rows.jsonl, line 2, column 'query'", "number"]),
    ('{"text": "caf\xe9"}\n', "decontaminate", ["rows.jsonl, line 1", "not valid UTF-8"]),
])
def test_bad_rows_are_named_by_file_line_and_column(tmp_path, capsys, content, step, expected):
    source = tmp_path / "rows.jsonl"
    source.write_bytes(content.encode("latin-1") if "\xe9" in content else content.encode())
    eval_file = write_jsonl([{"text": "x"}], tmp_path / "eval.jsonl")
    extra = ["--eval", str(eval_file)] if step == "decontaminate" else []
    fails_with_one_line(["data", step, "--input", str(source), "--output", str(tmp_path / "out.jsonl"), *extra],
                        capsys, *expected, inputs=[source, eval_file])
    assert not (tmp_path / "out.jsonl").exists()


def test_non_utf8_textbook_names_the_file_and_line(tmp_path, capsys):
    book = tmp_path / "book.txt"
    book.write_bytes(b"Chapter 1 Blood\n\nPlasma is the liquid part of blood.\nIt carries caf\xe9 cells.\n")
    fails_with_one_line(["data", "textbook", "--input", str(book), "--output", str(tmp_path / "s.jsonl")], capsys,
                        "book.txt, line 4", "not valid UTF-8", inputs=[book])


def test_outputs_never_overwrite_inputs(tmp_path, capsys):
    rows = write_jsonl([{"text": "Plasma is the liquid part of the blood."}], tmp_path / "rows.jsonl")
    evaluation = beir(tmp_path / "beir")
    base = ["data", "decontaminate", "--input", str(rows), "--eval", str(evaluation)]
    inputs = [rows, evaluation]
    fails_with_one_line([*base, "--output", str(rows)], capsys, "would overwrite the input --input", inputs=inputs)
    fails_with_one_line([*base, "--output", str(tmp_path / "." / "rows.jsonl")], capsys, "would overwrite",
                        inputs=inputs)
    fails_with_one_line([*base, "--output", str(evaluation / "corpus.jsonl")], capsys,
                        "would overwrite the input --eval", inputs=inputs)
    fails_with_one_line([*base, "--output", str(tmp_path / "o.jsonl"), "--report", str(rows)], capsys,
                        "--report", inputs=inputs)
    fails_with_one_line([*base, "--output", str(tmp_path)], capsys, "is a folder", inputs=inputs)
    fails_with_one_line([*base, "--output", str(rows / "out.jsonl")], capsys, "is a file, not a folder",
                        inputs=inputs)
    fails_with_one_line(["data", "textbook", "--input", str(rows), "--output", str(rows)], capsys,
                        "would overwrite", inputs=inputs)
    fails_with_one_line(["data", "mine", "--input", str(rows), "--output", str(tmp_path / "m.jsonl"), "--corpus",
                         str(rows), "--report", str(rows)], capsys, "would overwrite", inputs=inputs)
    # a good run writes through a temporary file and leaves nothing else behind
    assert main([*base, "--output", str(tmp_path / "out" / "clean.jsonl"), "--report",
                 str(tmp_path / "out" / "report.json")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clean.jsonl", "report.json"]


def test_all_zero_qrels_and_missing_model(tmp_path, capsys):
    rows = write_jsonl([{"query": "How is gout treated?", "document": "Colchicine."}], tmp_path / "rows.jsonl")
    zero = beir(tmp_path / "beir", qrels="q1\td1\t0\n")
    fails_with_one_line(["data", "decontaminate", "--input", str(rows), "--output", str(tmp_path / "o.jsonl"),
                         "--eval", str(zero)], capsys, "test.tsv", "every relevance score is <= 0",
                        inputs=[rows, zero])
    fails_with_one_line(["data", "mine", "--input", str(rows), "--output", str(tmp_path / "o.jsonl"), "--model",
                         str(tmp_path / "no-such-model")], capsys, "--model", "no-such-model", inputs=[rows])


def test_decontaminate_against_a_beir_folder_by_id_and_text(tmp_path, capsys):
    rows = write_jsonl([{"query_id": "q1", "query": "a paraphrase", "document": "x"},
                        {"query_id": "t2", "query": "HOW is gout treated", "document": "y"},
                        {"query_id": "t3", "query": "What is lupus?", "document": "Gout is treated with colchicine."},
                        {"query_id": "t4", "query": "What is lupus?", "document": "An autoimmune disease."}],
                       tmp_path / "rows.jsonl")
    assert main(["data", "decontaminate", "--input", str(rows), "--eval", str(beir(tmp_path / "beir")),
                 "--output", str(tmp_path / "clean.jsonl"), "--report", str(tmp_path / "report.json")]) == 0
    assert read_jsonl(tmp_path / "clean.jsonl")["query_id"] == ["t4"]
    assert json.loads((tmp_path / "report.json").read_text())["dropped"] == {"eval_id": 1, "exact": 2}


@pytest.mark.parametrize(("step", "options", "expected"), [
    ("mine", ["--num-negatives", "0"], "num_negatives must be >= 1"),
    ("mine", ["--num-negatives", "3", "--candidates-per-query", "2"], "candidates_per_query (2)"),
    ("mine", ["--relative-margin", "1.5"], "relative_margin must be in [0, 1)"),
    ("textbook", ["--min-words", "0"], "min_words"),
    ("decontaminate", ["--ngram-overlap", "-2"], "ngram_overlap must be >= 1"),
    ("decontaminate", ["--embedding-threshold", "3"], "embedding_threshold must be"),
    ("decontaminate", ["--near-duplicate-threshold", "1.5"], "threshold must be in (0, 1]"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, step, options, expected):
    rows = write_jsonl([{"query": "How is gout treated?", "document": "Gout is treated with colchicine.",
                         "text": "Gout is treated with colchicine and rest."}], tmp_path / "rows.jsonl")
    eval_file = write_jsonl([{"text": "x"}], tmp_path / "eval.jsonl")
    extra = ["--eval", str(eval_file)] if step == "decontaminate" else []
    fails_with_one_line(["data", step, "--input", str(rows), "--output", str(tmp_path / "o.jsonl"), *extra,
                         *options], capsys, expected, inputs=[rows, eval_file])
