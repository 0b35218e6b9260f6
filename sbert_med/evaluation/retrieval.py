"""Retrieval scores through MTEB's own evaluation: local BEIR data, any SentenceTransformer, or BM25."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sbert_med.data.beir import BeirData
from sbert_med.evaluation.mteb_tasks import beir_retrieval_task
from sbert_med.evaluation.retrieval_evaluator import RetrievalEvaluator, short_metrics

logger = logging.getLogger(__name__)

#: The metrics kept in sbert_med's results (MTEB computes many more).
RETRIEVAL_METRICS = ("ndcg@10", "ndcg@100", "map@10", "map@100", "mrr@10", "recall@10", "recall@100",
                     "precision@1")


def bm25_model():
    """MTEB's BM25 baseline (bm25s, Lucene BM25 with English stop words and stemming), usable in ``mteb.evaluate``."""
    from mteb.models.model_implementations.bm25 import BM25Search, bm25_s

    model = BM25Search()
    model.mteb_model_meta = bm25_s
    return model


def run_mteb(model: Any, tasks: list, *, batch_size: int = 32, show_progress_bar: bool = True) -> dict[str, dict]:
    """``mteb.evaluate`` without MTEB's result cache; returns {task name: {metric: value}} of the first eval split."""
    import mteb

    result = mteb.evaluate(
        model, tasks, cache=None, show_progress_bar=show_progress_bar,
        encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress_bar},
    )
    scores = {}
    for task_result in result.task_results:
        split_scores = next(iter(task_result.scores.values()))
        scores[task_result.task_name] = dict(split_scores[0])
    return scores


def evaluate_retrieval(
    model: Any,
    data: BeirData,
    *,
    truncate_dims: Sequence[int | None] = (None,),
    cache_dir: str | Path | None = None,
    batch_size: int = 32,
    show_progress_bar: bool = True,
) -> dict[int | None, dict[str, float]]:
    """Score ``model`` on ``data`` with :class:`RetrievalEvaluator` (MTEB's retrieval evaluation: graded nDCG by
    pytrec_eval, MTEB's search); a thin function over the evaluator.

    Queries are encoded with ``encode_query`` and documents with ``encode_document``, with the model's prompts
    resolved the MTEB way (``"query"``/``"document"`` or ``"Retrieval-query"``/``"Retrieval-document"``).

    Args:
        model: A SentenceTransformer, or ``"bm25"`` for MTEB's BM25 baseline.
        data: The split to score (see :func:`load_beir`).
        truncate_dims: Embedding sizes to score (``None`` = the model's own); each text is encoded once and the
            embeddings are truncated, which makes a Matryoshka sweep cost one encoding pass.
        cache_dir: Embedding cache of this model (resumes an interrupted run); ``None`` keeps embeddings in memory
            for the sweep only.
        batch_size: Encoding batch size.
        show_progress_bar: Show progress bars.

    Returns:
        {truncate_dim: {metric: value}} with the metrics of :data:`RETRIEVAL_METRICS` (e.g. ``ndcg@10``).
    """
    results: dict[int | None, dict[str, float]] = {}
    if isinstance(model, str):
        if model != "bm25":
            raise ValueError(f"model must be a SentenceTransformer or 'bm25', got {model!r}")
        task = beir_retrieval_task(data)
        scores = run_mteb(bm25_model(), [task], batch_size=batch_size, show_progress_bar=show_progress_bar)
        return {None: _pick(scores[task.metadata.name])}

    tmp = None
    if cache_dir is None and len(truncate_dims) > 1:
        import tempfile

        tmp = tempfile.TemporaryDirectory(prefix="sbert_med_emb_")
        cache_dir = tmp.name
    fingerprint = None
    try:
        for dim in truncate_dims:
            evaluator = RetrievalEvaluator(data, truncate_dim=dim, cache_dir=cache_dir, fingerprint=fingerprint,
                                           batch_size=batch_size, show_progress_bar=show_progress_bar,
                                           write_csv=False)
            scores = short_metrics(evaluator(model), evaluator.name)
            fingerprint = evaluator.fingerprint
            results[dim] = {metric: scores[metric] for metric in RETRIEVAL_METRICS}
            logger.info("%s dim=%s: ndcg@10 %.4f", data.name, dim or "full", results[dim]["ndcg@10"])
    finally:
        if tmp is not None:
            tmp.cleanup()
    return results


def _pick(scores: dict[str, Any]) -> dict[str, float]:
    """MTEB's ``ndcg_at_10`` & co. as sbert_med's ``ndcg@10`` keys."""
    renamed = {key.replace("_at_", "@"): value for key, value in scores.items() if "_at_" in key}
    return {metric: float(renamed[metric]) for metric in RETRIEVAL_METRICS if metric in renamed}
