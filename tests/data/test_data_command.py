"""`sbert-med data <step>` through sbert_med.cli.main."""

from __future__ import annotations

import json

from sbert_med.cli import main
from sbert_med.data import read_jsonl, write_jsonl


def test_scrub_textbook_and_decontaminate(tmp_path, capsys):
    notes = write_jsonl([{"text": "Mr. John Carter, MRN: 00482913, was seen on 03/14/2024 for gout."}],
                        tmp_path / "notes.jsonl")
    assert main(["data", "scrub", "--input", str(notes), "--output", str(tmp_path / "scrubbed.jsonl"),
                 "--report", str(tmp_path / "report.json")]) == 0
    assert read_jsonl(tmp_path / "scrubbed.jsonl")[0]["text"] == \
        "Mr. [NAME_1], MRN: [MRN_1], was seen on [DATE_1] for gout."
    assert json.loads((tmp_path / "report.json").read_text())["replacements"] == {"date": 1, "mrn": 1, "name": 1}
    book = tmp_path / "book.md"
    book.write_text("# Blood\n\n## Plasma\n\nPlasma is the liquid part of the blood. It carries cells and proteins "
                    "around the body.\n")
    assert main(["data", "textbook", "--input", str(book), "--output", str(tmp_path / "sentences.jsonl")]) == 0
    sentences = read_jsonl(tmp_path / "sentences.jsonl")
    assert sentences["text"] == ["Plasma is the liquid part of the blood.",
                                 "It carries cells and proteins around the body."]
    assert sentences["sentence_id"][0] == "book/1/1.1/1"
    evaluation = write_jsonl([{"_id": "q1", "text": "plasma is the liquid part of the blood"}], tmp_path / "q.jsonl")
    assert main(["data", "decontaminate", "--input", str(tmp_path / "sentences.jsonl"), "--output",
                 str(tmp_path / "clean.jsonl"), "--eval", str(evaluation), "--column", "text"]) == 0
    assert read_jsonl(tmp_path / "clean.jsonl")["text"] == ["It carries cells and proteins around the body."]
    assert "wrote 1 rows" in capsys.readouterr().out


def test_generate_through_an_http_server(tmp_path, chat_server):
    notes = write_jsonl([{"_id": "n1", "text": "Gout flare treated with colchicine and naproxen."}],
                        tmp_path / "notes.jsonl")
    with chat_server() as server:
        code = main(["data", "generate", "--input", str(notes), "--output", str(tmp_path / "queries.jsonl"),
                     "--generator", "openai", "--base-url", server.base_url, "--model", "test-llm"])
    assert code == 0
    queries = read_jsonl(tmp_path / "queries.jsonl")
    assert len(queries) == 5 and set(queries["source_id"]) == {"n1"} and set(queries["generator"]) == {"test-llm"}
    assert (tmp_path / "queries.jsonl.journal.jsonl").exists()


def test_diversify_and_mine_with_minilm(tmp_path):
    rows = [{"query": q, "document": d} for q, d in [
        ("What causes gout?", "Gout is caused by uric acid crystals in the joints."),
        ("What causes gout ?", "Gout is caused by uric acid crystals in the joints."),
        ("what causes gout", "Gout is caused by uric acid crystals in the joints."),
        ("How is asthma treated?", "Asthma is treated with inhaled corticosteroids and bronchodilators."),
        ("What is anemia?", "Anemia is a lack of healthy red blood cells or hemoglobin."),
        ("How is hypertension treated?", "Hypertension is treated with diuretics and ACE inhibitors."),
    ]]
    source = write_jsonl(rows, tmp_path / "pairs.jsonl")
    assert main(["data", "diversify", "--input", str(source), "--output", str(tmp_path / "diverse.jsonl")]) == 0
    diverse = read_jsonl(tmp_path / "diverse.jsonl")
    assert len(diverse) == 5 and diverse["query"][:2] == ["What causes gout?", "What causes gout ?"]
    assert main(["data", "mine", "--input", str(tmp_path / "diverse.jsonl"), "--output", str(tmp_path / "mined.jsonl"),
                 "--num-negatives", "1", "--relative-margin", "0"]) == 0
    mined = read_jsonl(tmp_path / "mined.jsonl")
    gout = [row for row in mined if "gout" in row["query"].lower()]
    assert all("uric acid" not in row["negative_1"] for row in gout)


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": oops}\n')
    assert main(["data", "scrub", "--input", str(bad), "--output", str(tmp_path / "out.jsonl")]) == 2
    assert "bad.jsonl, line 2, column 10: invalid JSON" in capsys.readouterr().err
    assert main(["data", "scrub", "--input", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "o.jsonl")]) == 2
    good = write_jsonl([{"text": "x"}], tmp_path / "good.jsonl")
    assert main(["data", "generate", "--input", str(good), "--output", str(tmp_path / "o.jsonl"), "--generator",
                 "openai", "--model", "m"]) == 2
    assert "--base-url" in capsys.readouterr().err
