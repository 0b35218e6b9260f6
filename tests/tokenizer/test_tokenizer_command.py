from __future__ import annotations

import hashlib
import json
import shutil

import pytest
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


def _hashes(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture()
def source_model(tmp_path, tiny_encoder_path):
    source = tmp_path / "source"
    SentenceTransformer(tiny_encoder_path, device="cpu").save(str(source))
    (source / "README.md").write_text("my own notes about this model\n")
    return source


@pytest.fixture()
def corpus_file(tmp_path, tiny_corpus):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(tiny_corpus * 5))
    return corpus


def _extend(source, corpus, output, *extra):
    return main(["tokenizer", "extend", "-m", str(source), "-c", str(corpus), "-o", str(output), "--new-tokens", "4",
                 "--min-frequency", "2", "--vocab-size", "2000", "--no-progress", *extra])


def test_extend_never_writes_into_the_source_model(source_model, corpus_file, capsys):
    before = _hashes(source_model)
    for output in (source_model, source_model / "extended", source_model.parent):
        for extra in ((), ("--overwrite",)):
            assert _extend(source_model, corpus_file, output, *extra) == 2
            _one_line_error(capsys, "overlaps the source model folder")
    assert _hashes(source_model) == before


def test_extend_refuses_a_folder_with_files_unless_overwrite(source_model, corpus_file, tmp_path, capsys):
    output = tmp_path / "out"
    output.mkdir()
    (output / "README.md").write_text("a user's file\n")
    assert _extend(source_model, corpus_file, output) == 2
    _one_line_error(capsys, "already holds files", "--overwrite")
    assert (output / "README.md").read_text() == "a user's file\n"
    assert _extend(source_model, corpus_file, output, "--overwrite") == 0
    capsys.readouterr()
    assert (output / "modules.json").is_file() and (output / "tokenizer_extension.json").is_file()
    assert "a user's file" not in (output / "README.md").read_text()  # replaced, as asked, by the model card
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")] == []  # staging moved into place
    (tmp_path / "file").write_text("x")
    assert _extend(source_model, corpus_file, tmp_path / "file") == 2
    _one_line_error(capsys, "is a file")
    assert _extend(source_model, corpus_file, tmp_path / "file" / "below") == 2
    _one_line_error(capsys, "which is a file")


def test_bad_inputs_are_one_line_errors_naming_the_file(tmp_path, minilm_path, corpus_file, capsys):
    assert _extend(tmp_path / "no_such_model", corpus_file, tmp_path / "out") == 2
    _one_line_error(capsys, "cannot load the model", "no_such_model")
    assert main(["tokenizer", "analyze", "-t", str(tmp_path / "no_such_tok"), "-c", str(corpus_file)]) == 2
    _one_line_error(capsys, "cannot load the tokenizer", "no_such_tok")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    assert main(["tokenizer", "analyze", "-t", minilm_path, "-c", str(latin1)]) == 2
    _one_line_error(capsys, "latin1.txt, line 1", "not valid UTF-8")
    tokenizer = tmp_path / "tok"
    tokenizer.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(f"{minilm_path}/{name}", tokenizer / name)
    (tokenizer / "vocab.txt").write_bytes(b"[PAD]\n\xff\xfe\n")
    assert main(["tokenizer", "analyze", "-t", str(tokenizer), "-c", str(corpus_file)]) == 2
    _one_line_error(capsys, "cannot load the tokenizer", "vocab.txt is not UTF-8 text")
    assert main(["tokenizer", "analyze", "-t", minilm_path, "-c", str(corpus_file), "--json", str(corpus_file)]) == 2
    _one_line_error(capsys, "is the corpus file")
