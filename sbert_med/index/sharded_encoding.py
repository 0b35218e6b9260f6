"""Streamed, sharded, resumable encoding of a corpus with the document route, on :mod:`sbert_med.encoding`.

Documents are encoded in index-order shards of ``shard_size`` (shard ``i`` holds documents
``[i * shard_size, (i + 1) * shard_size)``), and each shard is stored in an :class:`~sbert_med.encoding.EncodingCache`
as soon as it is computed. The cache is keyed by what produced the vectors (the model's fingerprint, the document
route, normalisation, width), with the same key as :func:`~sbert_med.encoding.encode_cached`, so another model
never reads these vectors. A rerun after a crash or a kill skips the shards whose documents are all cached, so no
document is encoded twice and none is lost; because shard boundaries (and so the batches) are the same, the result
equals an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from sbert_med.encoding import EncodingCache, model_fingerprint

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

STATE_NAME = "encoding_state.json"
#: Settings that must be equal for shards of an earlier run to be reused.
STATE_KEYS = ("corpus_checksum", "num_documents", "shard_size", "normalize_embeddings", "truncate_dim")


def _check_state(shard_dir: Path, state: dict[str, Any]) -> None:
    """Record the build a shard folder belongs to, or refuse to resume another build's shards in it."""
    path = shard_dir / STATE_NAME
    if not path.exists():
        path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    for key in STATE_KEYS:
        if old.get(key) != state[key]:
            raise ValueError(
                f"{shard_dir} holds shards of another build ({key} was {old.get(key)!r}, now {state[key]!r}); "
                "delete that folder or choose another shard folder"
            )


def document_cache(
    model: SentenceTransformer, shard_dir: str | Path, *, normalize_embeddings: bool, truncate_dim: int | None,
    fingerprint: str | None = None, info: dict[str, Any] | None = None,
) -> EncodingCache:
    """The cache of ``model``'s document-route vectors: the fields of :func:`~sbert_med.encoding.encode_cached`'s key,
    under the whole model's fingerprint (an index belongs to one model) unless ``fingerprint`` is given."""
    key = {"model": fingerprint or model_fingerprint(model), "route": "document", "prompt": None,
           "prompt_name": None, "normalize_embeddings": normalize_embeddings, "truncate_dim": truncate_dim}
    return EncodingCache(shard_dir, key, info=info)


def encode_corpus_sharded(
    model: SentenceTransformer,
    texts: Sequence[str],
    shard_dir: str | Path,
    *,
    state: dict[str, Any],
    shard_size: int = 1024,
    batch_size: int = 32,
    normalize_embeddings: bool = True,
    truncate_dim: int | None = None,
    devices: list[str] | None = None,
    show_progress_bar: bool = True,
    on_shard_written: Callable[[int, Path], None] | None = None,
) -> EncodingCache:
    """Encode ``texts`` with the document route into an :class:`EncodingCache` under ``shard_dir``, resuming.

    Args:
        model: the model; documents go through ``model.encode_document`` (the document route of a Router).
        texts: the documents, in index order.
        shard_dir: root of the cache; reuse it to resume.
        state: identity of this build (``corpus_checksum``, ``model_name``, ...); a shard folder of another corpus
            or shard size is refused instead of being mixed in.
        shard_size: documents per shard.
        batch_size: encoding batch size.
        normalize_embeddings: L2-normalise the embeddings (cosine similarity through inner product).
        truncate_dim: Matryoshka truncation of the embeddings.
        devices: encode with a multi-process pool on these devices (e.g. ``["cuda:0", "cuda:1"]`` or
            ``["cpu", "cpu"]``); ``None`` encodes in this process.
        show_progress_bar: show a progress bar over documents.
        on_shard_written: called with ``(shard_index, path)`` after each newly written shard.

    Returns:
        The cache holding every document's vector (read them with :func:`assemble_embeddings`).
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size!r}")
    shard_dir = Path(shard_dir)
    shard_dir.mkdir(parents=True, exist_ok=True)
    state = {**state, "num_documents": len(texts), "shard_size": shard_size,
             "normalize_embeddings": normalize_embeddings, "truncate_dim": truncate_dim}
    _check_state(shard_dir, state)
    cache = document_cache(model, shard_dir, normalize_embeddings=normalize_embeddings, truncate_dim=truncate_dim,
                           fingerprint=state.get("model_fingerprint"), info={"model_name": state.get("model_name")})

    num_shards = (len(texts) + shard_size - 1) // shard_size
    bounds = [(i * shard_size, min(len(texts), (i + 1) * shard_size)) for i in range(num_shards)]
    todo = [i for i, (start, end) in enumerate(bounds) if not all(text in cache for text in texts[start:end])]
    done_docs = len(texts) - sum(bounds[i][1] - bounds[i][0] for i in todo)
    if done_docs:
        logger.info("Resuming: %d of %d shards (%d documents) already encoded in %s",
                    num_shards - len(todo), num_shards, done_docs, shard_dir)
    encode_kwargs = {"batch_size": batch_size, "show_progress_bar": False,
                     "normalize_embeddings": normalize_embeddings, "truncate_dim": truncate_dim}
    pool = model.start_multi_process_pool(devices) if devices and todo else None
    try:
        with tqdm(total=len(texts), initial=done_docs, desc="Encoding documents", unit="doc",
                  disable=not show_progress_bar) as bar:
            for i in todo:
                start, end = bounds[i]
                if pool is not None:
                    embeddings = model.encode_document(list(texts[start:end]), pool=pool, **encode_kwargs)
                    bar.update(end - start)
                else:
                    # Encode in chunks so the bar moves often; chunks are fixed by the shard, so reruns match.
                    chunk = max(batch_size * 8, 1)
                    parts = []
                    for chunk_start in range(start, end, chunk):
                        chunk_texts = list(texts[chunk_start:min(end, chunk_start + chunk)])
                        parts.append(np.asarray(model.encode_document(chunk_texts, **encode_kwargs), np.float32))
                        bar.update(len(chunk_texts))
                    embeddings = np.concatenate(parts)
                path = cache.add(list(texts[start:end]), embeddings)
                if on_shard_written is not None:
                    on_shard_written(i, path)
    finally:
        if pool is not None:
            model.stop_multi_process_pool(pool)
    return cache


def assemble_embeddings(cache: EncodingCache, texts: Sequence[str], output_path: str | Path,
                        *, block: int = 8192) -> np.ndarray:
    """Write the cached vectors of ``texts`` (in order) into one ``.npy`` file, streamed through a memory map
    (temporary name, then moved into place); returns it memory-mapped."""
    output_path = Path(output_path)
    tmp = output_path.with_name(output_path.name + ".tmp")
    dim = cache.get(list(texts[:1])).shape[1]
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(texts), dim))
    for start in range(0, len(texts), block):
        out[start:start + block] = cache.get(list(texts[start:start + block]))
    out.flush()
    del out
    tmp.replace(output_path)
    return np.load(output_path, mmap_mode="r")
