"""MTEB-path scores agree with sentence-transformers' InformationRetrievalEvaluator (real MiniLM, real MedQuAD)."""

from __future__ import annotations

import pytest

from sbert_med.evaluation import evaluate_retrieval, ir_evaluator


def test_mteb_path_agrees_with_information_retrieval_evaluator(minilm, medquad_small):
    ours = evaluate_retrieval(minilm, medquad_small, show_progress_bar=False)
    st = ir_evaluator(medquad_small, show_progress_bar=False)(minilm)
    assert ours[None]["ndcg@10"] == pytest.approx(st["medquad_cosine_ndcg@10"], abs=1e-4)
    assert ours[None]["mrr@10"] == pytest.approx(st["medquad_cosine_mrr@10"], abs=1e-4)
    assert ours[None]["recall@10"] == pytest.approx(st["medquad_cosine_recall@10"], abs=1e-4)
    assert ours[None]["ndcg@10"] > 0.6  # a real model on real data, not a random ranking


@pytest.mark.slow
def test_matryoshka_sweep_agrees_with_evaluator_truncate_dim(minilm, medquad_small, tmp_path):
    # the sweep (truncated cached embeddings) agrees with the evaluator's own truncate_dim
    ours = evaluate_retrieval(minilm, medquad_small, truncate_dims=[None, 128], cache_dir=tmp_path / "cache",
                              show_progress_bar=False)
    st_128 = ir_evaluator(medquad_small, truncate_dim=128, show_progress_bar=False)(minilm)
    assert ours[128]["ndcg@10"] == pytest.approx(st_128["medquad_cosine_ndcg@10"], abs=1e-4)


def test_bm25_baseline_scores_real_data(medquad_small):
    scores = evaluate_retrieval("bm25", medquad_small, show_progress_bar=False)[None]
    assert 0.4 < scores["ndcg@10"] <= 1.0
    with pytest.raises(ValueError, match="SentenceTransformer or 'bm25'"):
        evaluate_retrieval("bm26", medquad_small)
