from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.data.beir import load_beir
from sbert_med.evaluation import EmbeddingStore, evaluate_retrieval


def test_store_resumes_and_ignores_unfinished_shard(tmp_path):
    store = EmbeddingStore(tmp_path)
    store.add([EmbeddingStore.key("a"), EmbeddingStore.key("b")], np.ones((2, 3)))
    np.save(tmp_path / "00001.npy", np.zeros((1, 3)))  # a crash between the vectors and the keys file
    reopened = EmbeddingStore(tmp_path)
    assert len(reopened) == 2 and EmbeddingStore.key("a") in reopened
    reopened.add([EmbeddingStore.key("c")], np.full((1, 3), 2.0))  # overwrites the unfinished shard
    assert len(EmbeddingStore(tmp_path)) == 3
    (tmp_path / "00000.json").write_text('["only-one-key"]')
    with pytest.raises(ValueError, match=r"00000\.json: 1 keys but 2 vectors"):
        EmbeddingStore(tmp_path)


def test_sweep_encodes_once_and_truncates(tiny_encoder_path, beir_folder, tmp_path):
    model = SentenceTransformer(tiny_encoder_path, device="cpu")
    data = load_beir(beir_folder)
    calls = []
    original = model.encode_document

    def spy(texts, **kwargs):
        calls.append(len(texts))
        return original(texts, **kwargs)

    model.encode_document = spy
    cache = tmp_path / "cache"
    scores = evaluate_retrieval(model, data, truncate_dims=[None, 16, 8], cache_dir=cache, show_progress_bar=False)
    assert set(scores) == {None, 16, 8} and sum(calls) == len(data.corpus)  # encoded once for three sizes
    again = evaluate_retrieval(model, data, truncate_dims=[None, 16, 8], cache_dir=cache, show_progress_bar=False)
    assert again == scores and sum(calls) == len(data.corpus)  # resumed from the cache: nothing re-encoded
    assert scores[8] != scores[None]  # truncation changes the ranking of a random 32-d model


def test_prompts_are_honoured_per_route(tiny_encoder_path, beir_folder):
    model = SentenceTransformer(tiny_encoder_path, device="cpu",
                                prompts={"query": "task: search result | query: ", "document": "title: none | text: "})
    seen = {}
    for route in ("query", "document"):
        original = getattr(model, f"encode_{route}")

        def spy(texts, route=route, original=original, **kwargs):
            seen[route] = kwargs.get("prompt")
            return original(texts, **kwargs)

        setattr(model, f"encode_{route}", spy)
    evaluate_retrieval(model, load_beir(beir_folder), show_progress_bar=False)
    assert seen == {"query": "task: search result | query: ", "document": "title: none | text: "}
