from __future__ import annotations

import json

from sentence_transformers import SentenceTransformer

from sbert_med.cli import main


def test_analyze_compares_tokenizers(tmp_path, minilm_path, tiny_decoder_path, capsys):
    corpus = tmp_path / "terms.tsv"
    corpus.write_text("term\tdefinition\nhypertension\thigh blood pressure\natrioventricular node\tpacemaker\n")
    out = tmp_path / "report.json"
    code = main(["tokenizer", "analyze", "-t", minilm_path, "-t", tiny_decoder_path, "-c", str(corpus),
                 "--column", "term", "--json", str(out)])
    assert code == 0
    reports = json.loads(out.read_text())["reports"]
    assert [r["num_words"] for r in reports] == [3, 3]
    assert reports[0]["tokens_per_word"] > 1.0
    assert "tokens/word" in capsys.readouterr().out


def test_extend_writes_a_plain_model(tmp_path, tiny_encoder_path, tiny_corpus, capsys):
    source = tmp_path / "source"
    SentenceTransformer(tiny_encoder_path, device="cpu").save(str(source))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(tiny_corpus * 5))
    code = main(["tokenizer", "extend", "-m", str(source), "-c", str(corpus), "-o", str(tmp_path / "out"),
                 "--new-tokens", "4", "--min-frequency", "2", "--vocab-size", "2000", "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert 1 <= summary["added"] <= 4 and summary["checked_texts"] == 40
    model = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    assert len(model.tokenizer) == summary["vocabulary"][1] == 30522 + summary["added"]
    assert json.loads((tmp_path / "out" / "tokenizer_extension.json").read_text())["added"] == summary["examples"]


def test_errors_are_one_line(tmp_path, minilm_path, capsys):
    assert main(["tokenizer", "analyze", "-t", minilm_path, "-c", str(tmp_path / "missing.txt")]) == 2
    assert "corpus file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    assert main(["tokenizer", "analyze", "-t", minilm_path, "-c", str(bad)]) == 2
    assert "bad.jsonl, line 1" in capsys.readouterr().err
