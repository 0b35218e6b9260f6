"""An asymmetric model is evaluated with queries on the query tower and documents on the document tower."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense, Normalize, Router, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling

from sbert_med.data.beir import load_beir
from sbert_med.evaluation import evaluate_retrieval, ir_evaluator, measure_efficiency
from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower


def _count_texts(model: SentenceTransformer) -> dict[str, int]:
    """Count the texts each route's Transformer embeds."""
    counts = {}
    for route, modules in model[0].sub_modules.items():
        counts[route] = 0
        transformer = next(m for m in modules if isinstance(m, Transformer))

        def hook(module, args, output, route=route):
            counts[route] += len(output["sentence_embedding"] if "sentence_embedding" in output
                                 else output["token_embeddings"])

        transformer.register_forward_hook(hook)
    return counts


def test_each_side_goes_to_its_own_tower(tiny_encoder_path, tiny_decoder_path, beir_folder):
    model = build_asymmetric_model(encoder_tower(tiny_encoder_path, pooling="mean"), eos_tower(tiny_decoder_path),
                                   bridge="project")
    data = load_beir(beir_folder)
    counts = _count_texts(model)
    evaluate_retrieval(model, data, show_progress_bar=False)  # MTEB's evaluation
    assert counts == {"query": len(data.queries), "document": len(data.corpus)}

    counts.update(query=0, document=0)
    ir_evaluator(data, show_progress_bar=False)(model)  # sentence-transformers' evaluator
    assert counts == {"query": len(data.queries), "document": len(data.corpus)}

    counts.update(query=0, document=0)
    speed = measure_efficiency(model, queries=["a", "b", "c"], documents=["d", "e"], batch_size=2, n_single=1,
                               show_progress_bar=False)
    assert set(speed) == {"query", "document"}
    # warm-up (2) + batch 1 (1) + batched (3 queries / 2 documents)
    assert counts == {"query": 2 + 1 + 3, "document": 2 + 1 + 2}


def _dot_towers(minilm_path: str, scale: torch.Tensor, *, misrouted: bool) -> SentenceTransformer:
    """Query tower = MiniLM then diag(scale); document tower = MiniLM then diag(1/scale); dot similarity.

    q·d is then exactly MiniLM's cosine, but q·q' (documents through the query tower) is dominated by a few
    dimensions and ranks badly. ``misrouted=True`` builds the broken model whose document route is the query tower.
    """
    def tower(weights):
        return [Transformer(minilm_path, max_seq_length=128), Pooling(384, "mean"), Normalize(),
                Dense(384, 384, bias=False, activation_function=None, init_weight=torch.diag(weights))]

    query = tower(scale)
    document = tower(scale) if misrouted else tower(1.0 / scale)
    router = Router.for_query_document(query_modules=query, document_modules=document)
    return SentenceTransformer(modules=[router], similarity_fn_name="dot", device="cpu")


@pytest.mark.slow
def test_real_asymmetric_model_scores_only_when_routed(minilm_path, minilm, medquad_small, tmp_path):
    torch.manual_seed(0)
    scale = torch.exp(torch.randn(384) * 2.0)
    reference = evaluate_retrieval(minilm, medquad_small, show_progress_bar=False)[None]["ndcg@10"]
    routed = _dot_towers(minilm_path, scale, misrouted=False)
    score = evaluate_retrieval(routed, medquad_small, show_progress_bar=False)[None]["ndcg@10"]
    assert score == pytest.approx(reference, abs=2e-3)  # q·d == MiniLM cosine when each side uses its tower

    # save -> plain reload keeps the routing
    routed.save(str(tmp_path / "asym"))
    reloaded = SentenceTransformer(str(tmp_path / "asym"), device="cpu")
    assert evaluate_retrieval(reloaded, medquad_small, show_progress_bar=False)[None]["ndcg@10"] == \
        pytest.approx(score, abs=1e-4)

    broken = _dot_towers(minilm_path, scale, misrouted=True)
    broken_score = evaluate_retrieval(broken, medquad_small, show_progress_bar=False)[None]["ndcg@10"]
    assert broken_score < reference - 0.2  # documents through the query tower: the score collapses
