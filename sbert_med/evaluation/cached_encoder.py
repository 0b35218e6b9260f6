"""An MTEB encoder around a SentenceTransformer that caches embeddings on disk as it goes and can truncate them."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

logger = logging.getLogger(__name__)


class EmbeddingStore:
    """Embeddings of texts kept in numbered shards (``NNNNN.npy`` + ``NNNNN.json`` with the text keys) in a folder.

    A shard is written atomically once encoded, so an interrupted run resumes where it stopped without losing or
    repeating more than one shard of work.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._vectors: dict[str, np.ndarray] = {}
        self._n_shards = 0
        for keys_path in sorted(self.folder.glob("*.json")):
            vectors_path = keys_path.with_suffix(".npy")
            if not vectors_path.exists():
                continue
            keys = json.loads(keys_path.read_text())
            vectors = np.load(vectors_path)
            if len(keys) != len(vectors):
                raise ValueError(f"{keys_path}: {len(keys)} keys but {len(vectors)} vectors; delete the shard")
            self._vectors.update(zip(keys, vectors))
            self._n_shards = max(self._n_shards, int(keys_path.stem) + 1)

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def __contains__(self, key: str) -> bool:
        return key in self._vectors

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, key: str) -> np.ndarray:
        return self._vectors[key]

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        """Store one shard (vectors first, then the keys file that marks the shard complete)."""
        stem = f"{self._n_shards:05d}"
        tmp = self.folder / f"{stem}.tmp.npy"
        np.save(tmp, np.asarray(vectors, dtype=np.float32))
        os.replace(tmp, self.folder / f"{stem}.npy")
        tmp_keys = self.folder / f"{stem}.json.tmp"
        tmp_keys.write_text(json.dumps(keys))
        os.replace(tmp_keys, self.folder / f"{stem}.json")
        self._n_shards += 1
        self._vectors.update(zip(keys, np.asarray(vectors, dtype=np.float32)))


class CachedSentenceTransformerEncoder(SentenceTransformerEncoderWrapper):
    """MTEB's ``SentenceTransformerEncoderWrapper`` (prompts resolved the MTEB way, queries through ``encode_query``,
    documents through ``encode_document``) with two additions:

    * ``cache_dir``: embeddings are stored per task and prompt type in :class:`EmbeddingStore` shards of
      ``chunk_size`` texts, so a crash loses at most one shard and a Matryoshka sweep encodes each text once.
    * ``truncate_dim``: embeddings are cut to their first ``truncate_dim`` values (like sentence-transformers'
      ``truncate_dim``; cosine similarity re-normalises).

    Args:
        model: The SentenceTransformer.
        cache_dir: Folder of the embedding cache of *this model with these settings*; ``None`` disables the cache.
        truncate_dim: Keep only the first dimensions of every embedding.
        chunk_size: Texts encoded (and stored) per shard.
    """

    def __init__(
        self, model: Any, *, cache_dir: str | Path | None = None, truncate_dim: int | None = None,
        chunk_size: int = 128,
    ) -> None:
        super().__init__(model)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.truncate_dim = truncate_dim
        self.chunk_size = chunk_size
        self._stores: dict[tuple[str, str], EmbeddingStore] = {}

    def _store(self, task_name: str, prompt_type: Any) -> EmbeddingStore:
        key = (task_name, getattr(prompt_type, "value", None) or "none")
        if key not in self._stores:
            self._stores[key] = EmbeddingStore(self.cache_dir / key[0] / key[1])
        return self._stores[key]

    def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs) -> np.ndarray:
        """Encode like MTEB's wrapper, reusing cached embeddings and storing new ones shard by shard."""
        call = dict(task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset, prompt_type=prompt_type)
        if self.cache_dir is None:
            embeddings = np.asarray(super().encode(inputs, **call, **kwargs), dtype=np.float32)
        else:
            from datasets import Dataset
            from mteb._create_dataloaders import create_dataloader

            store = self._store(task_metadata.name, prompt_type)
            texts = list(inputs.dataset["text"])  # already prepared by MTEB (title + text for documents)
            keys = [EmbeddingStore.key(text) for text in texts]
            missing = sorted({k: i for i, k in enumerate(keys) if k not in store}.values(),
                             key=lambda i: -len(texts[i]))
            if missing:
                logger.info("%s/%s: encoding %d texts (%d cached)", task_metadata.name,
                            getattr(prompt_type, "value", None), len(missing), len(keys) - len(missing))
            batch_size = kwargs.get("batch_size", 32)
            for start in range(0, len(missing), self.chunk_size):
                chunk = missing[start: start + self.chunk_size]
                # plain id/text rows: preparing them again is the identity (no title to prepend twice)
                rows = Dataset.from_dict({"id": [str(i) for i in chunk], "text": [texts[i] for i in chunk]})
                loader = create_dataloader(rows, task_metadata=task_metadata, prompt_type=prompt_type,
                                           batch_size=batch_size)
                vectors = np.asarray(super().encode(loader, **call, **kwargs), dtype=np.float32)
                store.add([keys[i] for i in chunk], vectors)
            embeddings = np.stack([store.get(k) for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)
        if self.truncate_dim is not None:
            embeddings = embeddings[:, : self.truncate_dim]
        return embeddings
