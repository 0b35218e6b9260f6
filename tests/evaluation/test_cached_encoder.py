from __future__ import annotations

from sentence_transformers import SentenceTransformer

from sbert_med.data.beir import load_beir
from sbert_med.evaluation import evaluate_retrieval


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


def test_model_fingerprint_does_not_change_when_the_model_encodes(tiny_encoder_path):
    from sbert_med.encoding import model_fingerprint

    model = SentenceTransformer(tiny_encoder_path, device="cpu")
    before = model_fingerprint(model)
    model.encode(["a first call enables truncation in the fast tokenizer"], show_progress_bar=False)
    assert model_fingerprint(model) == before
