"""Per-query nDCG@k and a paired bootstrap: is model B's gain over model A on the same queries more than noise?
(:func:`paired_bootstrap_over_datasets` asks it of a figure that averages several datasets.)

The nDCG is the one sentence-transformers' ``InformationRetrievalEvaluator`` reports (binary relevance: a document
is relevant when its qrels score is > 0; cosine similarity; exact ties, rare with float embeddings, go to the
earlier corpus position), so the mean of :func:`per_query_ndcg` is the evaluator's figure and the bootstrap speaks
about that figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def per_query_ndcg(
    query_embeddings: np.ndarray,
    corpus_embeddings: np.ndarray,
    query_ids: Sequence[str],
    corpus_ids: Sequence[str],
    relevant: Mapping[str, set[str] | Mapping[str, float]],
    *,
    k: int = 10,
    chunk_size: int = 256,
) -> dict[str, float]:
    """nDCG@``k`` of every query with at least one relevant document, ``{query_id: ndcg}``.

    Embeddings are normalised here (cosine). ``relevant``: query id -> relevant corpus ids (a set, or a qrels
    mapping whose scores > 0 count). Relevant ids missing from the corpus still count in the ideal DCG, as in
    sentence-transformers.
    """
    if len(query_embeddings) != len(query_ids) or len(corpus_embeddings) != len(corpus_ids):
        raise ValueError(f"{len(query_embeddings)} query embeddings for {len(query_ids)} ids, "
                         f"{len(corpus_embeddings)} corpus embeddings for {len(corpus_ids)} ids")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    queries = _normalised(query_embeddings)
    corpus = _normalised(corpus_embeddings)
    corpus_ids = list(corpus_ids)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    scores: dict[str, float] = {}
    for begin in range(0, len(query_ids), chunk_size):
        similarity = queries[begin : begin + chunk_size] @ corpus.T
        top = min(k, similarity.shape[1])
        # the k best by descending score, ties by corpus position (a stable sort over the negated scores)
        candidates = np.argpartition(-similarity, top - 1, axis=1)[:, :top] if top < similarity.shape[1] \
            else np.tile(np.arange(similarity.shape[1]), (len(similarity), 1))
        for row, query_id in enumerate(query_ids[begin : begin + chunk_size]):
            wanted = _relevant_ids(relevant.get(query_id, ()))
            if not wanted:
                continue
            order = sorted(candidates[row], key=lambda index: (-similarity[row, index], index))[:top]
            gains = np.array([corpus_ids[index] in wanted for index in order], dtype=float)
            ideal = discounts[: min(len(wanted), k)].sum()
            scores[query_id] = float((gains * discounts[: len(gains)]).sum() / ideal)
    return scores


def paired_bootstrap(
    baseline: Mapping[str, float], candidate: Mapping[str, float], *, samples: int = 10_000, seed: int = 0
) -> dict[str, float]:
    """Paired bootstrap over the queries both score: the mean difference ``candidate - baseline``, its 95% interval,
    the share of resamples in which the candidate is not ahead, and the queries it wins, loses and ties."""
    return paired_bootstrap_over_datasets({"": baseline}, {"": candidate}, samples=samples, seed=seed)


def paired_bootstrap_over_datasets(
    baselines: Mapping[str, Mapping[str, float]], candidates: Mapping[str, Mapping[str, float]], *,
    samples: int = 10_000, seed: int = 0,
) -> dict[str, float]:
    """:func:`paired_bootstrap` of a figure that averages datasets (e.g. the mean nDCG@10 of MedQuAD and
    NFCorpus): the queries are resampled within each dataset (a stratified bootstrap), and the difference is the
    mean over datasets of each dataset's mean difference, so every dataset weighs the same whatever its size.
    ``baselines`` / ``candidates``: dataset name -> per-query scores (both with the same datasets). ``queries``,
    ``wins``, ``losses`` and ``ties`` count over all datasets."""
    if set(baselines) != set(candidates):
        raise ValueError(f"the two score sets cover other datasets: {sorted(baselines)} and {sorted(candidates)}")
    rng = np.random.default_rng(seed)
    differences, resampled = [], []
    for name in baselines:
        shared = sorted(set(baselines[name]) & set(candidates[name]))
        if not shared:
            raise ValueError("the two score sets share no query" + (f" of {name!r}" if name else ""))
        difference = np.array([candidates[name][query] - baselines[name][query] for query in shared])
        differences.append(difference)
        resampled.append(difference[rng.integers(0, len(difference), size=(samples, len(difference)))].mean(axis=1))
    means = np.mean(resampled, axis=0)
    low, high = np.percentile(means, [2.5, 97.5])
    every = np.concatenate(differences)
    return {"queries": len(every), "mean_difference": round(float(np.mean([d.mean() for d in differences])), 5),
            "ci95": [round(float(low), 5), round(float(high), 5)],
            "share_not_ahead": round(float((means <= 0).mean()), 4),
            "wins": int((every > 0).sum()), "losses": int((every < 0).sum()),
            "ties": int((every == 0).sum()), "samples": samples, "seed": seed}


def _normalised(embeddings: np.ndarray) -> np.ndarray:
    embeddings = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


def _relevant_ids(entry: set[str] | Mapping[str, float]) -> set[str]:
    if isinstance(entry, Mapping):
        return {doc_id for doc_id, score in entry.items() if score > 0}
    return set(entry)
