"""FAISS index construction for each (kind, precision) pair, with faiss-gpu when it is installed."""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import numpy as np

logger = logging.getLogger(__name__)

IndexKind = Literal["flat", "ivf", "hnsw"]
Precision = Literal["float32", "int8", "binary"]
KINDS = ("flat", "ivf", "hnsw")
PRECISIONS = ("float32", "int8", "binary")


def _faiss():
    import faiss

    return faiss


def default_nlist(num_vectors: int) -> int:
    """IVF lists: about ``4 * sqrt(N)``, but at least 39 training points per list (FAISS's minimum)."""
    return max(1, min(int(4 * math.sqrt(num_vectors)), num_vectors // 39))


def factory_string(kind: IndexKind, precision: Precision, params: dict[str, Any]) -> str:
    """The ``faiss.index_factory`` / ``index_binary_factory`` description of an index."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "binary":
        return {"flat": "BFlat", "ivf": f"BIVF{params['nlist']}", "hnsw": f"BHNSW{params['hnsw_m']}"}[kind]
    storage = "Flat" if precision == "float32" else "SQ8"
    if kind == "flat":
        return storage
    if kind == "ivf":
        return f"IVF{params['nlist']},{storage}"
    return f"HNSW{params['hnsw_m']}" + ("" if precision == "float32" else "_SQ8")


def binarize(embeddings: np.ndarray) -> np.ndarray:
    """Sign bits of the embeddings, packed 8 per byte (FAISS binary layout)."""
    return np.packbits(np.asarray(embeddings) > 0, axis=-1)


def gpu_available() -> bool:
    faiss = _faiss()
    return hasattr(faiss, "index_cpu_to_all_gpus") and faiss.get_num_gpus() > 0


def build_faiss_index(
    embeddings: np.ndarray,
    *,
    kind: IndexKind,
    precision: Precision,
    params: dict[str, Any],
    use_gpu: bool = False,
    add_batch_size: int = 65536,
):
    """Create, train and fill a FAISS index with ``embeddings`` (inner product; normalised vectors give cosine)."""
    faiss = _faiss()
    dim = embeddings.shape[1]
    description = factory_string(kind, precision, params)
    if precision == "binary":
        if dim % 8:
            raise ValueError(f"binary precision needs a dimension divisible by 8, got {dim}")
        index = faiss.index_binary_factory(dim, description)
        if kind == "hnsw":
            index.hnsw.efConstruction = params["ef_construction"]
        prepare = binarize
    else:
        index = faiss.index_factory(dim, description, faiss.METRIC_INNER_PRODUCT)
        if kind == "hnsw":
            index.hnsw.efConstruction = params["ef_construction"]

        def prepare(block):
            return np.ascontiguousarray(block, dtype=np.float32)

    on_gpu = use_gpu and kind != "hnsw" and precision != "binary" and gpu_available()
    if use_gpu and not on_gpu:
        logger.debug("Building %s on CPU (faiss-gpu missing, or no GPU version of this index)", description)
    if on_gpu:
        try:
            index = faiss.index_cpu_to_all_gpus(index)
        except RuntimeError as exc:  # e.g. an index type this faiss-gpu build cannot move
            logger.warning("Building %s on CPU: faiss-gpu could not take it (%s)", description, exc)
            on_gpu = False
    if not index.is_trained:
        sample = embeddings
        if len(embeddings) > params.get("max_train_points", 262144):
            rng = np.random.default_rng(0)
            sample = embeddings[np.sort(rng.choice(len(embeddings), params["max_train_points"], replace=False))]
        index.train(prepare(sample))
    for start in range(0, len(embeddings), add_batch_size):
        index.add(prepare(embeddings[start:start + add_batch_size]))
    if on_gpu:
        index = faiss.index_gpu_to_cpu(index)
    set_search_params(index, kind=kind, params=params)
    return index


def set_search_params(index, *, kind: IndexKind, params: dict[str, Any]) -> None:
    """Apply the search-time knobs (``nprobe`` for IVF, ``ef_search`` for HNSW)."""
    if kind == "ivf":
        index.nprobe = params["nprobe"]
    elif kind == "hnsw":
        index.hnsw.efSearch = params["ef_search"]


def write_index(index, path: str, *, precision: Precision) -> None:
    faiss = _faiss()
    (faiss.write_index_binary if precision == "binary" else faiss.write_index)(index, path)


def read_index(path: str, *, precision: Precision):
    faiss = _faiss()
    return (faiss.read_index_binary if precision == "binary" else faiss.read_index)(path)


def search_faiss_index(
    index, queries: np.ndarray, top_k: int, *, precision: Precision
) -> tuple[np.ndarray, np.ndarray]:
    """Raw FAISS search: ``(scores, positions)``; binary scores are ``1 - 2 * hamming / dim`` (sign agreement)."""
    if precision == "binary":
        distances, positions = index.search(binarize(queries), top_k)
        return 1.0 - 2.0 * distances.astype(np.float32) / index.d, positions
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), top_k)
