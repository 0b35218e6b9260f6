"""An MTEB encoder around a SentenceTransformer that caches embeddings on disk (:mod:`sbert_med.encoding`) and can
truncate them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

from sbert_med.encoding import EncodingCache, route_fingerprint, route_prompt

logger = logging.getLogger(__name__)


class CachedSentenceTransformerEncoder(SentenceTransformerEncoderWrapper):
    """MTEB's ``SentenceTransformerEncoderWrapper`` (prompts resolved the MTEB way, queries through ``encode_query``,
    documents through ``encode_document``) with two additions:

    * ``cache_dir``: embeddings go through :class:`sbert_med.encoding.EncodingCache`, keyed by the fingerprint of
      the route that encodes them (:func:`sbert_med.encoding.route_fingerprint`: weights + configuration of the
      query or the document tower), the MTEB task, the prompt type and the prompt, in shards of ``chunk_size``
      texts: a crash loses at most one shard, a Matryoshka sweep encodes each text once, another model (even one
      saved under the same name) never reads these vectors, and asymmetric models that share a frozen document
      tower encode a corpus once.
    * ``truncate_dim``: embeddings are cut to their first ``truncate_dim`` values (like sentence-transformers'
      ``truncate_dim``; cosine similarity re-normalises).

    Args:
        model: The SentenceTransformer.
        cache_dir: The cache root (shared by any number of models); ``None`` disables the cache.
        truncate_dim: Keep only the first dimensions of every embedding.
        chunk_size: Texts encoded (and stored) per shard.
        fingerprint: A fingerprint of the model if already computed (:func:`~sbert_med.encoding.model_fingerprint`
            or any key of its identity); ``None`` keys each route by its own route fingerprint.
    """

    def __init__(
        self, model: Any, *, cache_dir: str | Path | None = None, truncate_dim: int | None = None,
        chunk_size: int = 128, fingerprint: str | None = None,
    ) -> None:
        super().__init__(model)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.truncate_dim = truncate_dim
        self.chunk_size = chunk_size
        self.fingerprint = fingerprint
        self._caches: dict[tuple[str, str], EncodingCache] = {}

    def cache_for(self, task_metadata: Any, prompt_type: Any) -> EncodingCache:
        """The cache of one MTEB task and prompt type (query or document) of this model."""
        route = getattr(prompt_type, "value", None) or "none"
        if (task_metadata.name, route) not in self._caches:
            name = self.get_prompt_name(task_metadata, prompt_type) if self.model_prompts else None
            side = "query" if route == "query" else "document"
            prompt = self.model_prompts.get(name) if name else route_prompt(self.model, side)
            model = self.fingerprint or route_fingerprint(self.model, side)
            key = {"model": model, "mteb_task": task_metadata.name, "prompt_type": route, "prompt": prompt}
            self._caches[(task_metadata.name, route)] = EncodingCache(self.cache_dir, key)
        return self._caches[(task_metadata.name, route)]

    def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs) -> np.ndarray:
        """Encode like MTEB's wrapper, reusing cached embeddings and storing new ones shard by shard."""
        call = dict(task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset, prompt_type=prompt_type)
        if self.cache_dir is None:
            embeddings = np.asarray(super().encode(inputs, **call, **kwargs), dtype=np.float32)
        else:
            from datasets import Dataset
            from torch.utils.data import DataLoader

            batch_size = kwargs.get("batch_size", 32)

            def encode_fn(texts: list[str]) -> np.ndarray:
                # the texts are already prepared by MTEB: a plain text loader, no second preparation
                loader = DataLoader(Dataset.from_dict({"text": texts}), batch_size=batch_size,
                                    collate_fn=lambda rows: {"text": [row["text"] for row in rows]})
                return np.asarray(super(CachedSentenceTransformerEncoder, self).encode(loader, **call, **kwargs),
                                  dtype=np.float32)

            texts = list(inputs.dataset["text"])  # already prepared by MTEB (title + text for documents)
            cache = self.cache_for(task_metadata, prompt_type)
            embeddings = cache.encode(texts, encode_fn, chunk_size=self.chunk_size, show_progress_bar=False)
        if self.truncate_dim is not None:
            embeddings = embeddings[:, : self.truncate_dim]
        return embeddings
