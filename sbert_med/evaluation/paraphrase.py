"""Paraphrase retrieval Acc@K / MRR with an explicit candidate pool (the CardioEmbed evaluation, pool stated)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sbert_med.evaluation.paraphrase_evaluator import ParaphraseAccuracyEvaluator


def paraphrase_accuracy(
    model: Any,
    anchors: Sequence[str],
    paraphrases: Sequence[str],
    *,
    pool_size: int | None = None,
    top_k: Sequence[int] = (1, 5),
    seed: int = 0,
    batch_size: int = 32,
    show_progress_bar: bool = True,
) -> dict[str, float]:
    """For each anchor, rank its own paraphrase among a pool of candidate paraphrases (a thin function over
    :class:`~sbert_med.evaluation.paraphrase_evaluator.ParaphraseAccuracyEvaluator`).

    Anchors are encoded with ``encode_query`` and candidates with ``encode_document``. The pool of anchor *i* is its
    paraphrase ``paraphrases[i]`` plus ``pool_size - 1`` other paraphrases drawn at random (``seed``); with
    ``pool_size=None`` the pool is all paraphrases. Always report the pool size with the numbers: Acc@1 over a
    pool of 10 and over a pool of 6,000 are not comparable.

    Returns:
        ``{"accuracy@1": ..., "accuracy@5": ..., "mrr": ..., "pool_size": ..., "n": ...}`` (the metrics, then
        the pool they were measured over; :class:`ParaphraseAccuracyEvaluator` names them ``acc@1`` ...).
    """
    evaluator = ParaphraseAccuracyEvaluator(anchors, paraphrases, pool_size=pool_size, top_k=top_k, seed=seed,
                                            batch_size=batch_size, show_progress_bar=show_progress_bar,
                                            write_csv=False)
    metrics = evaluator(model)
    # the keys this function has always returned (the CardioEmbed recipe reads them); the evaluator's are acc@k
    result = {f"accuracy@{k}": metrics[f"acc@{k}"] for k in evaluator.top_k}
    result.update(mrr=metrics["mrr"], pool_size=evaluator.pool_size, n=len(anchors))
    return result
