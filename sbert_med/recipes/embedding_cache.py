"""Encode a list of texts into ``.npy`` chunks on disk, resuming after a crash without repeating finished chunks."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

__all__ = ["encode_cached"]


def _fingerprint(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def encode_cached(
    model,
    texts: list[str],
    *,
    cache_dir: str | Path,
    task: Literal["query", "document"] = "document",
    batch_size: int = 32,
    chunk_size: int = 512,
    show_progress_bar: bool = True,
) -> np.ndarray:
    """Embeddings of ``texts`` (``encode_query`` / ``encode_document``), cached chunk by chunk in ``cache_dir``.

    Each finished chunk is written as ``chunk_<i>.npy`` at once, so an interrupted run resumes at the first missing
    chunk. The cache is tied to the texts (a fingerprint in ``manifest.json``); a different list raises
    ``ValueError`` instead of returning stale vectors. Use one ``cache_dir`` per model (the model is not hashed).
    """
    valid = ("query", "document")
    if task not in valid:
        raise ValueError(f"task must be one of {valid}, got {task!r}")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = cache_dir / "manifest.json"
    manifest = {"n_texts": len(texts), "fingerprint": _fingerprint(texts), "task": task, "chunk_size": chunk_size}
    if manifest_path.exists():
        found = json.loads(manifest_path.read_text())
        if found != manifest:
            raise ValueError(f"{manifest_path}: the cache holds other texts or settings ({found}); use another folder")
    else:
        manifest_path.write_text(json.dumps(manifest))
    encode = model.encode_query if task == "query" else model.encode_document
    n_chunks = (len(texts) + chunk_size - 1) // chunk_size
    parts = []
    for i in tqdm(range(n_chunks), desc=f"Encoding ({task})", disable=not show_progress_bar or n_chunks <= 1):
        path = cache_dir / f"chunk_{i:05d}.npy"
        if path.exists():
            parts.append(np.load(path))
            continue
        emb = encode(
            texts[i * chunk_size : (i + 1) * chunk_size],
            batch_size=batch_size,
            convert_to_numpy=True,
            show_progress_bar=show_progress_bar and n_chunks <= 1,
        )
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb)
        tmp.rename(path)
        parts.append(emb)
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts)
