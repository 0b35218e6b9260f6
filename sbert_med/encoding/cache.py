"""One resumable, on-disk cache of text embeddings, keyed by what produced them.

A cache folder holds one sub-folder per *producer*: the fingerprint of a key such as ``{"model": <model
fingerprint>, "route": "document", "prompt": "title: none | text: ", "truncate_dim": 384}`` (``truncate_dim``: the
width the vectors are cut to, whether the call or the model's own ``truncate_dim`` asks for it). Inside it, embeddings
are stored in shards (``NNNNN.npy`` and ``NNNNN.keys.json``, the SHA-256 of each text) written atomically as soon as
they are encoded: a killed job loses at most the shard in progress, a rerun encodes only the texts it has not seen,
and a text is never encoded twice by the same producer, whatever list or order it comes in. Another model, route,
prompt or width never reads these vectors, because it has another key.

Every encode-to-disk step of sbert_med goes through here: evaluation, index building, mining, diversity filtering,
long-document encoding, recipe target caches and benchmarks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from sbert_med.encoding.fingerprint import route_fingerprint, settings_fingerprint

logger = logging.getLogger(__name__)

__all__ = ["EncodingCache", "encode_cached", "encoding_key", "text_key"]

Route = Literal["query", "document"]
ROUTES = ("query", "document")
_INFO = "producer.json"


def text_key(text: str) -> str:
    """The key a text is stored under: SHA-256 of its UTF-8 bytes (32 hex characters)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _atomic_write_bytes(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class EncodingCache:
    """Embeddings of texts by one producer (a model, a route, a prompt, settings), on disk.

    Args:
        folder: The cache root; the producer's vectors live in ``folder/<fingerprint of key>/``.
        key: What produced the vectors, as JSON-able values (model fingerprint, route, prompt, width, ...).
        info: Descriptive values that are not part of the key (e.g. the model's name or path, which may differ for
            the same weights); written with the key beside the vectors (``producer.json``) so a person can tell the
            sub-folders apart.

    Example::

        cache = EncodingCache("runs/cache", {"model": model_fingerprint(model), "route": "document"})
        vectors = cache.encode(texts, lambda batch: model.encode_document(batch, convert_to_numpy=True))
    """

    def __init__(self, folder: str | os.PathLike, key: dict[str, Any], *, info: dict[str, Any] | None = None) -> None:
        self.key = dict(key)
        self.folder = Path(folder) / settings_fingerprint(self.key)
        self.folder.mkdir(parents=True, exist_ok=True)
        producer = self.folder / _INFO
        if not producer.exists():
            text = json.dumps({"key": self.key, "info": info or {}}, indent=2, default=str)
            _atomic_write_bytes(producer, lambda h: h.write(text.encode("utf-8")))
        self._where: dict[str, tuple[int, int]] = {}  # text key -> (shard, row)
        self._shards: dict[int, np.ndarray] = {}
        self._next_shard = 0
        self._load_index()

    # ------------------------------------------------------------------ reading
    def _load_index(self) -> None:
        for keys_path in sorted(self.folder.glob("*.keys.json")):
            shard = int(keys_path.name.split(".")[0])
            vectors_path = self.folder / f"{shard:05d}.npy"
            try:
                keys = json.loads(keys_path.read_text(encoding="utf-8"))
                rows = np.load(vectors_path, mmap_mode="r").shape[0]
            except (OSError, ValueError) as exc:
                logger.warning("%s: unreadable shard %d (%s): encoding its texts again", self.folder, shard, exc)
                continue
            if rows != len(keys):
                logger.warning("%s: shard %d holds %d vectors for %d keys: encoding its texts again",
                               self.folder, shard, rows, len(keys))
                continue
            for row, key in enumerate(keys):
                self._where.setdefault(key, (shard, row))
            self._next_shard = max(self._next_shard, shard + 1)

    def _shard(self, shard: int) -> np.ndarray:
        if shard not in self._shards:
            self._shards[shard] = np.load(self.folder / f"{shard:05d}.npy", mmap_mode="r")
        return self._shards[shard]

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, text: str) -> bool:
        return text_key(text) in self._where

    def get(self, texts: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``texts`` (all must be cached), in order."""
        rows = []
        for text in texts:
            where = self._where.get(text_key(text))
            if where is None:
                raise KeyError(f"text not in the cache {self.folder}: {text[:60]!r}")
            rows.append(self._shard(where[0])[where[1]])
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)

    # ------------------------------------------------------------------ writing
    def add(self, texts: Sequence[str], vectors: np.ndarray) -> Path:
        """Store one shard: the vectors first, then the keys file that marks the shard complete; returns the path
        of the shard's vectors."""
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"expected {len(texts)} vectors as a 2-d array, got shape {vectors.shape}")
        shard = self._next_shard
        keys = [text_key(text) for text in texts]
        _atomic_write_bytes(self.folder / f"{shard:05d}.npy", lambda h: np.save(h, vectors))
        _atomic_write_bytes(self.folder / f"{shard:05d}.keys.json", lambda h: h.write(json.dumps(keys).encode()))
        self._next_shard += 1
        for row, key in enumerate(keys):
            self._where.setdefault(key, (shard, row))
        return self.folder / f"{shard:05d}.npy"

    def encode(
        self,
        texts: Sequence[str],
        encode_fn: Callable[[list[str]], np.ndarray],
        *,
        chunk_size: int = 1024,
        show_progress_bar: bool = True,
        desc: str = "Encoding",
    ) -> np.ndarray:
        """Vectors of ``texts`` in order: cached ones are read, the others encoded with ``encode_fn`` in chunks of
        ``chunk_size`` distinct texts, each chunk stored as soon as it is done (longest texts first, so batches
        are of similar length)."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        texts = list(texts)
        todo = list(dict.fromkeys(text for text in texts if text_key(text) not in self._where))
        todo.sort(key=len, reverse=True)
        if todo:
            logger.info("%s: %d texts to encode, %d cached", self.folder, len(todo), len(set(texts)) - len(todo))
        with tqdm(total=len(todo), desc=desc, unit="text", disable=not show_progress_bar or not todo) as bar:
            for start in range(0, len(todo), chunk_size):
                chunk = todo[start : start + chunk_size]
                self.add(chunk, encode_fn(chunk))
                bar.update(len(chunk))
        return self.get(texts)


def encoding_key(
    model,
    route: Route,
    *,
    prompt: str | None = None,
    prompt_name: str | None = None,
    normalize_embeddings: bool = True,
    truncate_dim: int | None = None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """The key :func:`encode_cached` stores ``model``'s vectors under for these arguments (for code that fills an
    :class:`EncodingCache` with vectors computed elsewhere): the route's fingerprint taken without the model's
    ``truncate_dim``, and the width the vectors are cut to, the call's ``truncate_dim`` or else the model's."""
    return {
        "model": fingerprint or route_fingerprint(model, route, with_truncate_dim=False),
        "route": route,
        "prompt": prompt,
        "prompt_name": prompt_name,
        "normalize_embeddings": normalize_embeddings,
        "truncate_dim": truncate_dim if truncate_dim is not None else getattr(model, "truncate_dim", None),
    }


def encode_cached(
    model,
    texts: Sequence[str],
    *,
    cache_dir: str | os.PathLike | None,
    route: Route = "document",
    prompt: str | None = None,
    prompt_name: str | None = None,
    normalize_embeddings: bool = True,
    truncate_dim: int | None = None,
    batch_size: int = 32,
    chunk_size: int = 1024,
    show_progress_bar: bool = True,
    fingerprint: str | None = None,
) -> np.ndarray:
    """Embeddings of ``texts`` through ``model.encode_query`` or ``model.encode_document`` (so an asymmetric model
    uses the right tower and prompt), cached in ``cache_dir`` under the fingerprint of the route that encodes them
    (:func:`~sbert_med.encoding.route_fingerprint`: a frozen document tower keeps its cached vectors inside any
    asymmetric model), the route, the prompt and the settings; ``cache_dir=None`` just encodes.

    Args:
        model: A ``SentenceTransformer``.
        texts: The texts.
        cache_dir: The cache root (shared by any number of models and settings).
        route: ``"query"`` or ``"document"``.
        prompt / prompt_name: Passed to ``encode_*``; ``None`` uses the route's default prompt, which is part of
            the key as the model's prompts are part of its fingerprint.
        normalize_embeddings: Unit-normalise the vectors.
        truncate_dim: Keep the first dimensions (Matryoshka); ``None`` keeps the model's own ``truncate_dim``. The
            key records the width either way, so a model cut by its ``truncate_dim`` and the same model cut here
            share their vectors.
        batch_size: Encoding batch size.
        chunk_size: Texts stored per shard.
        show_progress_bar: Show a progress bar over the texts to encode.
        fingerprint: A fingerprint of the model if already computed (:func:`model_fingerprint`); ``None`` uses
            :func:`~sbert_med.encoding.route_fingerprint` of ``route``.
    """
    if route not in ROUTES:
        raise ValueError(f"route must be one of {list(ROUTES)}, got {route!r}")
    encode = model.encode_query if route == "query" else model.encode_document

    def encode_fn(batch: list[str]) -> np.ndarray:
        return np.asarray(
            encode(batch, prompt=prompt, prompt_name=prompt_name, batch_size=batch_size, convert_to_numpy=True,
                   normalize_embeddings=normalize_embeddings, truncate_dim=truncate_dim, show_progress_bar=False),
            dtype=np.float32,
        )

    if cache_dir is None:
        return encode_fn(list(texts)) if len(texts) else np.zeros((0, 0), dtype=np.float32)
    key = encoding_key(model, route, prompt=prompt, prompt_name=prompt_name,
                       normalize_embeddings=normalize_embeddings, truncate_dim=truncate_dim, fingerprint=fingerprint)
    info = {"model_name": getattr(getattr(model, "model_card_data", None), "base_model", None)}
    cache = EncodingCache(cache_dir, key, info=info)
    return cache.encode(texts, encode_fn, chunk_size=chunk_size, show_progress_bar=show_progress_bar,
                        desc=f"Encoding ({route})")
