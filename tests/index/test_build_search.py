from __future__ import annotations

import json

import numpy as np
import pytest

from sbert_med.index import MedIndex, build_index

KINDS = ["flat", "ivf", "hnsw"]
PRECISIONS = ["float32", "int8", "binary"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory, tiny_corpus):
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    rows = [{"_id": f"doc{i}", "text": text} for i, text in enumerate(tiny_corpus * 10)]
    rows = [{**row, "text": f"{row['text']} (copy {i // len(tiny_corpus)})"} for i, row in enumerate(rows)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def brute_force(index: MedIndex, queries: np.ndarray, top_k: int):
    scores = queries @ np.asarray(index.embeddings).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    return np.take_along_axis(scores, order, axis=1), order


FAST = {("flat", "float32"), ("ivf", "int8"), ("hnsw", "binary")}


@pytest.mark.parametrize(
    ("kind", "precision"),
    [pytest.param(k, p, marks=() if (k, p) in FAST else pytest.mark.slow) for k in KINDS for p in PRECISIONS],
)
def test_every_kind_and_precision_builds_reloads_and_finds_itself(tiny_model, corpus_file, tmp_path, kind,
                                                                   precision):
    built = build_index(tiny_model, corpus_file, tmp_path / "idx", kind=kind, precision=precision, nlist=2,
                        nprobe=2, show_progress_bar=False)
    loaded = MedIndex.load(tmp_path / "idx")
    assert len(loaded) == 80 and loaded.manifest.kind == kind and loaded.manifest.precision == precision
    assert not (tmp_path / "idx" / "shards").exists()
    queries = ["Type 2 diabetes mellitus is managed with metformin, diet and exercise. (copy 3)"]
    hits = loaded.search(tiny_model, queries, top_k=5)[0]
    assert hits == built.search(tiny_model, queries, top_k=5)[0]
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted([h.score for h in hits], reverse=True)
    if precision == "float32" and kind != "flat":
        return  # approximate candidates; exact scores checked below
    # flat, or int8/binary with float32 rescoring: scores are exact cosines of the returned documents
    query = loaded.encode_queries(tiny_model, queries)
    positions = [loaded.ids.index(h.id) for h in hits]
    np.testing.assert_allclose([h.score for h in hits], np.asarray(loaded.embeddings)[positions] @ query[0],
                               rtol=1e-4, atol=1e-4 if precision != "int8" else 2e-2)


def test_flat_equals_brute_force_cosine(tiny_model, corpus_file, tmp_path, tiny_corpus):
    index = build_index(tiny_model, corpus_file, tmp_path / "flat", show_progress_bar=False)
    queries = index.encode_queries(tiny_model, tiny_corpus)
    scores, positions = index.search_embeddings(queries, top_k=10)
    expected_scores, expected_positions = brute_force(index, queries, 10)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    # same documents (ties between exact copies may swap places)
    for got, want, want_scores in zip(positions, expected_positions, expected_scores):
        assert set(got[want_scores > want_scores[-1] + 1e-5]) <= set(got)
        assert set(want[want_scores > want_scores[-1] + 1e-5]) <= set(got)
    # embeddings equal the model's own normalised document embeddings
    direct = tiny_model.encode_document(index.texts, normalize_embeddings=True)
    np.testing.assert_allclose(np.asarray(index.embeddings), direct, atol=1e-5)


@pytest.mark.slow
def test_ivf_with_all_lists_probed_equals_flat(tiny_model, corpus_file, tmp_path, tiny_corpus):
    flat = build_index(tiny_model, corpus_file, tmp_path / "flat", shard_dir=tmp_path / "shards",
                       show_progress_bar=False)
    ivf = build_index(tiny_model, corpus_file, tmp_path / "ivf", kind="ivf", nlist=2,
                      shard_dir=tmp_path / "shards", show_progress_bar=False)
    assert (tmp_path / "shards").is_dir()  # a shard folder of one's own is kept and reused
    queries = flat.encode_queries(tiny_model, tiny_corpus)
    np.testing.assert_allclose(ivf.search_embeddings(queries, top_k=5, nprobe=2)[0],
                               flat.search_embeddings(queries, top_k=5)[0], atol=1e-5)


def test_existing_index_is_not_overwritten_silently(tiny_model, corpus_file, tmp_path):
    build_index(tiny_model, corpus_file, tmp_path / "idx", show_progress_bar=False)
    with pytest.raises(ValueError, match="already holds an index; pass overwrite=True"):
        build_index(tiny_model, corpus_file, tmp_path / "idx", show_progress_bar=False)
    build_index(tiny_model, corpus_file, tmp_path / "idx", kind="hnsw", overwrite=True, show_progress_bar=False)
    assert MedIndex.load(tmp_path / "idx").manifest.kind == "hnsw"


def test_bad_options_are_refused(tiny_model, corpus_file, tmp_path):
    with pytest.raises(ValueError, match=r"kind must be one of \['flat', 'ivf', 'hnsw'\], got 'tree'"):
        build_index(tiny_model, corpus_file, tmp_path / "a", kind="tree")
    with pytest.raises(ValueError, match="precision must be one of"):
        build_index(tiny_model, corpus_file, tmp_path / "a", precision="fp8")
    with pytest.raises(ValueError, match="nlist must be between 1 and the number of documents"):
        build_index(tiny_model, corpus_file, tmp_path / "a", kind="ivf", nlist=1000, show_progress_bar=False)
    with pytest.raises(FileNotFoundError, match="not a finished sbert-med index"):
        MedIndex.load(tmp_path)


@pytest.mark.slow
def test_tampered_index_is_refused(tiny_model, corpus_file, tmp_path):
    build_index(tiny_model, corpus_file, tmp_path / "idx", show_progress_bar=False)
    corpus = tmp_path / "idx" / "corpus.jsonl"
    corpus.write_text("".join(corpus.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(ValueError, match="manifest says 80 documents .* corpus.jsonl holds 79"):
        MedIndex.load(tmp_path / "idx")
    build_index(tiny_model, corpus_file, tmp_path / "idx", overwrite=True, show_progress_bar=False)
    corpus.write_text(corpus.read_text().replace("Anemia", "Anaemia"))
    with pytest.raises(ValueError, match="corpus.jsonl does not match the manifest's corpus checksum"):
        MedIndex.load(tmp_path / "idx")
