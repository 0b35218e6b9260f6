"""Paraphrase retrieval Acc@K / MRR with an explicit candidate pool (the CardioEmbed evaluation, pool stated)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np


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
    """For each anchor, rank its own paraphrase among a pool of candidate paraphrases.

    Anchors are encoded with ``encode_query`` and candidates with ``encode_document``. The pool of anchor *i* is its
    paraphrase ``paraphrases[i]`` plus ``pool_size - 1`` other paraphrases drawn at random (``seed``); with
    ``pool_size=None`` the pool is all paraphrases. Always report the pool size with the numbers: Acc@1 over a
    pool of 10 and over a pool of 6,000 are not comparable.

    Returns:
        ``{"accuracy@1": ..., "accuracy@5": ..., "mrr": ..., "pool_size": ..., "n": ...}``.
    """
    n = len(anchors)
    if n != len(paraphrases):
        raise ValueError(f"anchors and paraphrases must have the same length, got {n} and {len(paraphrases)}")
    if n < 2:
        raise ValueError(f"paraphrase accuracy needs at least 2 pairs, got {n}")
    pool = n if pool_size is None else pool_size
    if not 2 <= pool <= n:
        raise ValueError(f"pool_size must be between 2 and the number of pairs ({n}), got {pool_size!r}")
    if any(k < 1 for k in top_k):
        raise ValueError(f"top_k values must be >= 1, got {list(top_k)}")

    kwargs = dict(batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                  show_progress_bar=show_progress_bar)
    queries = model.encode_query(list(anchors), **kwargs)
    candidates = model.encode_document(list(paraphrases), **kwargs)
    rng = random.Random(seed)
    ranks = np.empty(n, dtype=np.int64)
    for i in range(n):
        if pool == n:
            pool_ids = np.arange(n)
        else:
            others = rng.sample([j for j in range(n) if j != i], pool - 1)
            pool_ids = np.array([i, *others])
        scores = candidates[pool_ids] @ queries[i]
        own = scores[pool_ids == i][0]
        ranks[i] = 1 + int((scores > own).sum())  # ties count in the anchor's favour
    result = {f"accuracy@{k}": float((ranks <= k).mean()) for k in top_k}
    result.update(mrr=float((1.0 / ranks).mean()), pool_size=pool, n=n)
    return result
