"""Encoding speed of the query route and of the document route, measured separately in the same process."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

ROUTES = ("query", "document")


def _stats(prefix: str, seconds: list[float], n_texts: int) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {
        f"{prefix}_per_s": float(n_texts / max(sum(seconds), 1e-12)),
        f"{prefix}_p50_ms": float(np.percentile(ms, 50)),
        f"{prefix}_p95_ms": float(np.percentile(ms, 95)),
    }


def measure_route_speed(
    model: Any,
    texts: Sequence[str],
    *,
    route: Literal["query", "document"],
    batch_size: int = 32,
    n_single: int = 20,
    warmup: int = 2,
    show_progress_bar: bool = True,
) -> dict[str, float]:
    """Throughput and latency of one route of ``model`` (``encode_query`` or ``encode_document``, prompts applied).

    * batch 1: ``n_single`` texts encoded one by one; latency p50/p95 per text and texts/s.
    * batched: all ``texts`` encoded ``batch_size`` at a time; latency p50/p95 per batch and texts/s.

    Returns:
        ``{"b1_per_s", "b1_p50_ms", "b1_p95_ms", "batched_per_s", "batched_p50_ms", "batched_p95_ms", "batch_size"}``.
    """
    if route not in ROUTES:
        raise ValueError(f"route must be one of {list(ROUTES)}, got {route!r}")
    if not texts:
        raise ValueError("texts must not be empty")
    encode = model.encode_query if route == "query" else model.encode_document
    kwargs = dict(convert_to_numpy=True, show_progress_bar=False)
    encode(list(texts[:warmup]) or list(texts[:1]), batch_size=batch_size, **kwargs)

    singles = list(texts[:n_single])
    seconds = []
    for text in tqdm(singles, desc=f"{route} batch 1", disable=not show_progress_bar, leave=False):
        start = time.perf_counter()
        encode([text], batch_size=1, **kwargs)
        seconds.append(time.perf_counter() - start)
    result = _stats("b1", seconds, len(singles))

    batches = [list(texts[i: i + batch_size]) for i in range(0, len(texts), batch_size)]
    seconds = []
    for batch in tqdm(batches, desc=f"{route} batch {batch_size}", disable=not show_progress_bar, leave=False):
        start = time.perf_counter()
        encode(batch, batch_size=batch_size, **kwargs)
        seconds.append(time.perf_counter() - start)
    result.update(_stats("batched", seconds, len(texts)), batch_size=batch_size)
    return result


def measure_bm25_speed(
    queries: Sequence[str], documents: Sequence[str], *, batch_size: int = 32, n_single: int = 20, top_k: int = 10,
) -> dict[str, dict[str, float]]:
    """BM25's cost per route: documents = tokenise + index; queries = tokenise + retrieve top-k from them."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    options = dict(stopwords="en", stemmer=stemmer, show_progress=False)

    def index(texts):
        retriever = bm25s.BM25(method="lucene")
        retriever.index(bm25s.tokenize(list(texts), **options), show_progress=False)
        return retriever

    doc_batches = [documents[i: i + batch_size] for i in range(0, len(documents), batch_size)]
    single_seconds, batch_seconds = [], []
    for doc in documents[:n_single]:
        start = time.perf_counter()
        index([doc])
        single_seconds.append(time.perf_counter() - start)
    for batch in doc_batches:
        start = time.perf_counter()
        index(batch)
        batch_seconds.append(time.perf_counter() - start)
    doc_result = _stats("b1", single_seconds, len(documents[:n_single]))
    doc_result.update(_stats("batched", batch_seconds, len(documents)), batch_size=batch_size)

    retriever = index(documents)
    k = min(top_k, len(documents))

    def search(texts):
        retriever.retrieve(bm25s.tokenize(list(texts), **options), k=k, show_progress=False)

    search(queries[:batch_size])  # warm-up
    single_seconds, batch_seconds = [], []
    for query in queries[:n_single]:
        start = time.perf_counter()
        search([query])
        single_seconds.append(time.perf_counter() - start)
    for i in range(0, len(queries), batch_size):
        start = time.perf_counter()
        search(queries[i: i + batch_size])
        batch_seconds.append(time.perf_counter() - start)
    query_result = _stats("b1", single_seconds, len(queries[:n_single]))
    query_result.update(_stats("batched", batch_seconds, len(queries)), batch_size=batch_size)
    return {"query": query_result, "document": doc_result}


def measure_efficiency(
    model: Any,
    *,
    queries: Sequence[str],
    documents: Sequence[str],
    batch_size: int = 32,
    n_single: int = 20,
    show_progress_bar: bool = True,
) -> dict[str, dict[str, float]]:
    """Speed of the query route on ``queries`` and of the document route on ``documents`` (``model="bm25"``: BM25).

    Returns:
        ``{"query": {...}, "document": {...}}`` with the keys of :func:`measure_route_speed`.
    """
    if isinstance(model, str):
        if model != "bm25":
            raise ValueError(f"model must be a SentenceTransformer or 'bm25', got {model!r}")
        return measure_bm25_speed(queries, documents, batch_size=batch_size, n_single=n_single)
    return {
        "query": measure_route_speed(model, queries, route="query", batch_size=batch_size, n_single=n_single,
                                     show_progress_bar=show_progress_bar),
        "document": measure_route_speed(model, documents, route="document", batch_size=batch_size,
                                        n_single=n_single, show_progress_bar=show_progress_bar),
    }


def flatten_efficiency(speed: dict[str, dict[str, float]]) -> dict[str, float]:
    """``{"query": {"batched_per_s": x}}`` -> ``{"query_batched_per_s": x}`` (the results-JSON layout)."""
    return {f"{route}_{key}": value for route, values in speed.items() for key, value in values.items()}
