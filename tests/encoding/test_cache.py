"""The one encoding cache: keyed by producer, resumable, never stale; fingerprints of models and files."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from sbert_med.encoding import (
    EncodingCache,
    encode_cached,
    encoding_key,
    files_fingerprint,
    model_fingerprint,
    route_fingerprint,
)

TEXTS = [f"patient {i} presents with chest pain and dyspnoea, troponin {i * 3} ng/L" for i in range(23)]


@pytest.fixture(scope="module")
def tiny(tiny_encoder_path) -> SentenceTransformer:
    return SentenceTransformer(tiny_encoder_path, device="cpu")


def counting(model, calls: list[int]):
    def encode_fn(batch):
        calls.append(len(batch))
        return model.encode_document(batch, convert_to_numpy=True, normalize_embeddings=True)

    return encode_fn


def test_cached_vectors_equal_direct_encoding_in_input_order(tiny, tmp_path):
    direct = tiny.encode_document(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    cached = encode_cached(tiny, TEXTS, cache_dir=tmp_path, route="document", chunk_size=5, show_progress_bar=False)
    np.testing.assert_allclose(cached, direct, atol=1e-6)
    again = encode_cached(tiny, list(reversed(TEXTS)), cache_dir=tmp_path, route="document", show_progress_bar=False)
    np.testing.assert_allclose(again, direct[::-1], atol=1e-6)


def test_each_text_is_encoded_once_and_a_crash_loses_only_the_shard_in_progress(tiny, tmp_path):
    key = {"model": model_fingerprint(tiny), "route": "document"}
    calls: list[int] = []
    encode = counting(tiny, calls)

    def crash_on_third_chunk(batch):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return encode(batch)

    with pytest.raises(KeyboardInterrupt):
        EncodingCache(tmp_path, key).encode(TEXTS + TEXTS[:4], crash_on_third_chunk, chunk_size=5)
    assert sum(calls) == 10
    resumed = EncodingCache(tmp_path, key).encode(TEXTS, encode, chunk_size=5, show_progress_bar=False)
    assert sum(calls) == len(TEXTS)  # the 10 stored texts were not encoded again, nor were duplicates
    direct = tiny.encode_document(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    np.testing.assert_allclose(resumed, direct, atol=1e-6)
    assert not list(EncodingCache(tmp_path, key).folder.glob("*.tmp"))


def test_another_producer_never_reads_these_vectors(tiny, tmp_path):
    first = encode_cached(tiny, TEXTS[:3], cache_dir=tmp_path, show_progress_bar=False)
    changed = copy.deepcopy(tiny)
    with torch.no_grad():
        weight = dict(changed.named_parameters())["0.model.encoder.layer.0.attention.self.query.weight"]
        weight.add_(torch.randn_like(weight))
    second = encode_cached(changed, TEXTS[:3], cache_dir=tmp_path, show_progress_bar=False)
    assert not np.allclose(first, second)
    as_query = encode_cached(tiny, TEXTS[:3], cache_dir=tmp_path, route="query", prompt="query: ",
                             show_progress_bar=False)
    assert not np.allclose(first, as_query)
    assert len(list(tmp_path.iterdir())) == 3


def test_a_width_cut_by_the_model_or_by_the_call_is_one_producer(tiny, tmp_path):
    width = tiny.get_embedding_dimension() // 2
    by_call = encode_cached(tiny, TEXTS[:4], cache_dir=tmp_path, truncate_dim=width, show_progress_bar=False)
    cut = copy.deepcopy(tiny)
    cut.truncate_dim = width
    calls: list[int] = []
    original = cut.encode_document
    cut.encode_document = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    by_model = encode_cached(cut, TEXTS[:4], cache_dir=tmp_path, show_progress_bar=False)
    assert calls == [] and by_model.shape == (4, width) and np.array_equal(by_call, by_model)
    assert len(list(tmp_path.iterdir())) == 1
    assert encoding_key(cut, "document") == encoding_key(tiny, "document", truncate_dim=width)
    assert EncodingCache(tmp_path, encoding_key(cut, "document")).get(TEXTS[:4]).tolist() == by_call.tolist()
    full = encode_cached(tiny, TEXTS[:4], cache_dir=tmp_path, show_progress_bar=False)  # another width: its own
    assert full.shape == (4, 2 * width) and len(list(tmp_path.iterdir())) == 2
    narrower = encode_cached(cut, TEXTS[:4], cache_dir=tmp_path, truncate_dim=width // 2, show_progress_bar=False)
    assert narrower.shape == (4, width // 2) and len(list(tmp_path.iterdir())) == 3  # the call's width wins


def test_model_fingerprint_follows_weights_and_settings(tiny):
    base = model_fingerprint(tiny)
    assert model_fingerprint(copy.deepcopy(tiny)) == base
    other = copy.deepcopy(tiny)
    other.max_seq_length = 16
    assert model_fingerprint(other) != base
    other = copy.deepcopy(tiny)
    other.prompts = {**other.prompts, "query": "query: "}
    assert model_fingerprint(other) != base
    other = copy.deepcopy(tiny)
    with torch.no_grad():
        list(other.parameters())[-1][0] += 1e-3
    assert model_fingerprint(other) != base


def test_a_frozen_tower_keeps_its_route_fingerprint_and_cached_vectors_inside_an_asymmetric_model(
    tiny, tiny_encoder_path, tmp_path
):
    from sentence_transformers.base.modules import Normalize, Router
    from sentence_transformers.sentence_transformer.modules import Pooling

    from sbert_med.modules import encoder_tower

    alone = SentenceTransformer(modules=[*copy.deepcopy(list(tiny)), Normalize()], device="cpu")
    alone.prompts = {"query": "query: ", "document": "passage: "}
    query_tower = encoder_tower(tiny_encoder_path, pooling="mean")
    router = Router.for_query_document(query_modules=query_tower, document_modules=copy.deepcopy(list(tiny)))
    asymmetric = SentenceTransformer(modules=[router, Normalize()], prompts={"document": "passage: "}, device="cpu")
    assert route_fingerprint(asymmetric, "document") == route_fingerprint(alone, "document")
    assert route_fingerprint(asymmetric, "query") != route_fingerprint(alone, "query")  # no "query: " prompt

    first = encode_cached(alone, TEXTS[:5], cache_dir=tmp_path, show_progress_bar=False)
    calls: list[int] = []
    original = asymmetric.encode_document
    asymmetric.encode_document = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    reused = encode_cached(asymmetric, TEXTS[:5], cache_dir=tmp_path, show_progress_bar=False)
    assert calls == [] and np.array_equal(first, reused)

    # training the query tower leaves the document route's key alone; touching the document tower changes it
    with torch.no_grad():
        next(router.sub_modules["query"][0].parameters()).add_(1.0)
    assert route_fingerprint(asymmetric, "document") == route_fingerprint(alone, "document")
    with torch.no_grad():
        next(router.sub_modules["document"][0].parameters()).add_(1e-3)
    assert route_fingerprint(asymmetric, "document") != route_fingerprint(alone, "document")
    different_pooling = SentenceTransformer(
        modules=[copy.deepcopy(tiny[0]), Pooling(tiny.get_embedding_dimension(), "cls"), Normalize()], device="cpu"
    )
    different_pooling.prompts = alone.prompts
    assert route_fingerprint(different_pooling, "document") != route_fingerprint(alone, "document")


def test_files_fingerprint_sees_one_changed_score(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    before = files_fingerprint(folder)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\n")
    assert files_fingerprint(folder) != before
    with pytest.raises(FileNotFoundError, match="missing"):
        files_fingerprint(tmp_path / "missing")
