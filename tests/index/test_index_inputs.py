"""Issue #16: ``sbert-med index`` never writes over an input, and bad inputs are one-line errors."""

from __future__ import annotations

import hashlib
import json

import pytest

from sbert_med.cli import main
from sbert_med.index import MedIndex, build_index


@pytest.fixture(scope="module")
def model_dir(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_model_dir")
    tiny_model.save(str(path))
    return str(path)


def write_corpus(folder, texts):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.jsonl"
    path.write_text("".join(json.dumps({"_id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def error_lines(err: str) -> list[str]:
    """The error lines of stderr (progress bars and log lines of loading a model are not errors)."""
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("sbert-med ") and ": error: " in line]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("layout", ["beir_folder_into_itself", "corpus_file_into_its_folder", "user_folder"])
def test_build_never_rewrites_a_corpus_in_out(layout, model_dir, tiny_corpus, tmp_path, capsys):
    user = write_corpus(tmp_path / "beir", tiny_corpus)
    (tmp_path / "beir" / "queries.jsonl").write_text('{"_id": "q1", "text": "anemia"}\n')
    before = {p.name: digest(p) for p in (tmp_path / "beir").iterdir()}
    corpus = {"beir_folder_into_itself": tmp_path / "beir", "corpus_file_into_its_folder": user,
              "user_folder": write_corpus(tmp_path / "other", tiny_corpus[:4])}[layout]
    assert main(["index", "build", "--model", model_dir, "--corpus", str(corpus), "--out", str(tmp_path / "beir"),
                 "--no-progress"]) == 2
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "choose another --out folder" in errors[0], errors
    assert {p.name: digest(p) for p in (tmp_path / "beir").iterdir()} == before


def test_rebuilding_an_index_from_its_own_corpus_is_refused(tiny_model, tiny_corpus, tmp_path):
    out = tmp_path / "idx"
    build_index(tiny_model, write_corpus(tmp_path / "src", tiny_corpus), out, show_progress_bar=False)
    with pytest.raises(ValueError, match="would be overwritten by the index"):
        build_index(tiny_model, out / "corpus.jsonl", out, overwrite=True, show_progress_bar=False)


def test_truncated_index_file_is_a_one_line_error(model_dir, tiny_corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    assert main(["index", "build", "--model", model_dir, "--corpus", str(write_corpus(tmp_path / "c", tiny_corpus)),
                 "--out", str(out), "--no-progress"]) == 0
    faiss_file = out / "index.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:50])
    capsys.readouterr()
    assert main(["index", "search", str(out), "--model", model_dir, "--query", "anemia"]) == 2
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "index.faiss: unreadable FAISS index" in errors[0], errors


def test_empty_query_is_refused(tiny_model, tiny_corpus, tmp_path):
    index = build_index(tiny_model, write_corpus(tmp_path / "c", tiny_corpus), tmp_path / "idx",
                        show_progress_bar=False)
    with pytest.raises(ValueError, match=r"query 2 is empty \('  '\)"):
        index.search(tiny_model, ["anemia", "  "])
    with pytest.raises(ValueError, match="query 1 is empty"):
        index.search(tiny_model, "")
    assert MedIndex.load(tmp_path / "idx").search(tiny_model, "anemia", top_k=1)[0]


def test_long_documents_are_counted_in_a_warning(tiny_model, tiny_corpus, tmp_path, caplog):
    huge = "chronic kidney disease with anemia " * 30_000  # about 1 MB
    corpus = write_corpus(tmp_path / "c", [*tiny_corpus, huge, huge + " again"])
    with caplog.at_level("WARNING", logger="sbert_med.index.build"):
        build_index(tiny_model, corpus, tmp_path / "idx", show_progress_bar=False)
    assert "2 of 10 documents are longer than max_seq_length=64 tokens" in caplog.text
