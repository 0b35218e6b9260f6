"""Encode a large list of texts in chunks saved to disk, so a crashed or killed run resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


def _fingerprint(model, texts: list[str], role: str, prompt: str | None) -> str:
    digest = hashlib.sha256()
    name = getattr(getattr(model, "model_card_data", None), "base_model", None) or type(model).__name__
    digest.update(repr((name, role, prompt, len(texts))).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def encode_with_cache(
    model,
    texts: list[str],
    *,
    cache_dir: str | os.PathLike,
    role: Literal["query", "document"] = "document",
    prompt: str | None = None,
    chunk_size: int = 4096,
    batch_size: int = 32,
    show_progress_bar: bool = True,
) -> np.ndarray:
    """Normalised embeddings of ``texts``, encoded ``chunk_size`` texts at a time, each chunk saved as it finishes.

    A rerun with the same model, texts, role and prompt loads the finished chunks and encodes only the rest, so a
    killed job loses at most one chunk of work. ``role`` picks ``encode_query`` or ``encode_document`` (so asymmetric
    Router models use the right tower).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    valid_roles = ("query", "document")
    if role not in valid_roles:
        raise ValueError(f"role must be one of {valid_roles}, got {role!r}")
    folder = Path(cache_dir) / _fingerprint(model, texts, role, prompt)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "info.json").write_text(json.dumps({"n_texts": len(texts), "role": role, "prompt": prompt}))
    encode = model.encode_query if role == "query" else model.encode_document
    starts = range(0, len(texts), chunk_size)
    chunks = []
    for start in tqdm(starts, desc=f"Encoding ({role}s, cached)", disable=not show_progress_bar):
        path = folder / f"chunk_{start:012d}.npy"
        if path.exists():
            chunks.append(np.load(path))
            continue
        embeddings = encode(
            texts[start : start + chunk_size], batch_size=batch_size, prompt=prompt, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        ).astype(np.float32)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, embeddings)
        os.replace(tmp, path)  # atomic: a chunk file is either complete or absent
        chunks.append(embeddings)
    if not chunks:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
    return np.concatenate(chunks, axis=0)
