"""MAR's diversity filter: a growing vector index admits a candidate only if few of its neighbours are close."""

from __future__ import annotations

import logging
import os
from typing import Literal

import numpy as np
from datasets import Dataset
from tqdm.auto import tqdm

from sbert_med.data.report import StepReport

logger = logging.getLogger(__name__)

#: MAR's thresholds: queries are dropped above 0.85 cosine, documents above 0.78
DEFAULT_THRESHOLDS = {"query": 0.85, "document": 0.78}


def _new_index(dim: int, index_factory: str):
    import faiss

    if index_factory == "Flat":
        return faiss.IndexFlatIP(dim)
    try:
        index = faiss.index_factory(dim, index_factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError:
        raise ValueError(f"index_factory {index_factory!r} is not a FAISS factory string (e.g. Flat, HNSW32)"
                         ) from None
    if not index.is_trained:
        raise ValueError(f"index_factory {index_factory!r} needs training; use one that does not (Flat, HNSW32, ...)")
    return index


def diversity_mask(
    embeddings: np.ndarray,
    *,
    threshold: float,
    k: int = 5,
    n: int = 1,
    batch_size: int = 4096,
    seed_embeddings: np.ndarray | None = None,
    index_factory: str = "Flat",
    show_progress_bar: bool = True,
) -> np.ndarray:
    """Which rows MAR's dynamic index filter keeps, as a boolean mask (exactly the sequential definition).

    Definition: go through the rows in order; a row is inserted into the index (kept) only if at most ``n`` of its
    top-``k`` neighbours among the rows already in the index (the optional ``seed_embeddings`` first, then every kept
    row) have an inner product strictly greater than ``threshold``. Rows must be L2-normalised (cosine similarity).

    Batched so it scales to millions: each batch is searched against the index once (``k`` neighbours), and the
    dependencies inside the batch come from the batch's own similarity matrix. Since the count of close neighbours
    among the top ``k`` is ``min(k, close rows in index + close kept rows earlier in the batch)``, resolving the batch
    in order reproduces the one-by-one result; only rows that pass the index check *and* have a close earlier row in
    the batch need the ordered pass. ``index_factory="HNSW32"`` trades exactness for speed on huge sets.
    """
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be a 2-d array, got shape {embeddings.shape}")
    if k < 1 or n < 0:
        raise ValueError(f"k must be >= 1 and n >= 0, got k={k!r}, n={n!r}")
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine similarity in [-1, 1], got {threshold!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    norms = np.linalg.norm(embeddings[: min(len(embeddings), 1000)], axis=1)
    if len(norms) and not np.allclose(norms, 1.0, atol=1e-3):
        raise ValueError("embeddings must be L2-normalised (encode with normalize_embeddings=True)")
    keep = np.zeros(len(embeddings), dtype=bool)
    if n >= k:
        keep[:] = True  # at most k neighbours exist, so at most n of them can be close
        return keep
    index = _new_index(embeddings.shape[1], index_factory)
    if seed_embeddings is not None and len(seed_embeddings):
        index.add(np.ascontiguousarray(seed_embeddings, dtype=np.float32))
    starts = range(0, len(embeddings), batch_size)
    for start in tqdm(starts, desc="Diversity filter", disable=not show_progress_bar):
        batch = embeddings[start : start + batch_size]
        keep[start : start + len(batch)] = _resolve_batch(batch, index, threshold=threshold, k=k, n=n)
        kept = batch[keep[start : start + len(batch)]]
        if len(kept):
            index.add(kept)
    return keep


def _resolve_batch(batch: np.ndarray, index, *, threshold: float, k: int, n: int) -> np.ndarray:
    size = len(batch)
    if index.ntotal:
        scores, ids = index.search(batch, min(k, index.ntotal))
        close_in_index = ((scores > threshold) & (ids >= 0)).sum(axis=1)
    else:
        close_in_index = np.zeros(size, dtype=np.int64)
    passes_index = close_in_index <= n
    close_in_batch = np.tril(batch @ batch.T > threshold, k=-1)  # [i, j]: j < i and sim(i, j) > t
    has_close_earlier = close_in_batch.any(axis=1)
    keep = passes_index & ~has_close_earlier  # decided without looking at earlier rows of the batch
    for i in np.flatnonzero(passes_index & has_close_earlier):  # in order: earlier rows are final
        keep[i] = close_in_index[i] + np.count_nonzero(close_in_batch[i, :i] & keep[:i]) <= n
    return keep


def _texts(dataset: Dataset, column: str) -> list[str]:
    """The column's texts; a value that is not a non-empty string is an error naming the row and column."""
    texts = dataset[column]
    for row, text in enumerate(texts, start=1):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"row {row}, column {column!r}: expected a non-empty text, got {text!r:.60}")
    return texts


def diversify(
    dataset: Dataset,
    *,
    column: str,
    route: Literal["query", "document"] | None = None,
    model=None,
    embeddings: np.ndarray | None = None,
    threshold: float | None = None,
    k: int = 5,
    n: int = 1,
    batch_size: int = 4096,
    seed_embeddings: np.ndarray | None = None,
    index_factory: str = "Flat",
    cache_dir: str | os.PathLike | None = None,
    encode_batch_size: int = 32,
    show_progress_bar: bool = True,
    return_report: bool = False,
    kind: Literal["query", "document"] | None = None,
) -> Dataset | tuple[Dataset, StepReport]:
    """Keep only rows whose ``column`` text adds diversity (MAR's dynamic vector-index filter, see
    :func:`diversity_mask`), in the dataset's order.

    Args:
        dataset: rows to filter.
        column: the text column compared (queries or documents).
        route: ``"query"`` (the default; threshold 0.85, encoded with ``encode_query``) or ``"document"`` (0.78,
            ``encode_document``).
        model: a SentenceTransformer to embed ``column`` (unless ``embeddings`` are given).
        embeddings: precomputed L2-normalised embeddings, one per row.
        threshold, k, n: a row is kept if at most ``n`` of its top-``k`` neighbours exceed ``threshold``
            (defaults: MAR's k=5, n=1, threshold by ``route``).
        batch_size: rows resolved per index search.
        seed_embeddings: vectors placed in the index first (MAR seeds it with 5,000); never in the output.
        index_factory: ``"Flat"`` (exact) or a FAISS factory string such as ``"HNSW32"``.
        cache_dir: resumable encoding cache (:func:`sbert_med.encoding.encode_cached`, keyed by the model's
            fingerprint and the route).
        return_report: also return a :class:`StepReport`.
        kind: the former name of ``route`` (deprecated).
    """
    name = "route"
    if kind is not None:
        if route is not None and route != kind:
            raise ValueError(f"route={route!r} and kind={kind!r} disagree; kind is the former name of route")
        logger.warning("diversify(kind=...) is deprecated: use route=%r", kind)
        route, name = kind, "kind"
    route = "query" if route is None else route
    valid_routes = tuple(DEFAULT_THRESHOLDS)
    if route not in valid_routes:
        raise ValueError(f"{name} must be one of {valid_routes}, got {route!r}")
    if column not in dataset.column_names:
        raise ValueError(f"column={column!r} is not a column of the dataset; it has {dataset.column_names}")
    threshold = DEFAULT_THRESHOLDS[route] if threshold is None else threshold
    if encode_batch_size < 1:
        raise ValueError(f"encode_batch_size must be >= 1, got {encode_batch_size!r}")
    if embeddings is None:
        if model is None:
            raise ValueError("diversify needs a model to embed the texts, or precomputed embeddings")
        from sbert_med.encoding import encode_cached

        embeddings = encode_cached(model, _texts(dataset, column), cache_dir=cache_dir, route=route,
                                   batch_size=encode_batch_size, show_progress_bar=show_progress_bar)
    if len(embeddings) != len(dataset):
        raise ValueError(f"got {len(embeddings)} embeddings for {len(dataset)} rows")
    keep = diversity_mask(embeddings, threshold=threshold, k=k, n=n, batch_size=batch_size,
                          seed_embeddings=seed_embeddings, index_factory=index_factory,
                          show_progress_bar=show_progress_bar)
    output = dataset.select(np.flatnonzero(keep))
    report = StepReport("diversify", rows_in=len(dataset), rows_out=len(output))
    report.drop(f"more_than_{n}_of_top_{k}_above_{threshold}", len(dataset) - len(output))
    report.log(logger)
    return (output, report) if return_report else output
