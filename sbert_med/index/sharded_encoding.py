"""Streamed, sharded, resumable encoding of a corpus with the document route.

Shard ``i`` always holds the embeddings of documents ``[i * shard_size, (i + 1) * shard_size)`` and is written
atomically (temporary file + rename) as soon as it is computed. A rerun after a crash or a kill skips the shards
already on disk, so no document is encoded twice and none is lost; because shard boundaries (and so the batches) are
the same, the result equals an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from sbert_med.index.manifest import FINGERPRINT_MIN_COSINE, fingerprint_cosines

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

STATE_NAME = "encoding_state.json"
#: Settings that must be equal for shards of an earlier run to be reused.
STATE_KEYS = ("corpus_checksum", "num_documents", "shard_size", "normalize_embeddings", "truncate_dim")


def shard_path(shard_dir: Path, shard_index: int) -> Path:
    return shard_dir / f"shard_{shard_index:05d}.npy"


def _check_state(shard_dir: Path, state: dict[str, Any]) -> None:
    """Write the state file of a new shard folder, or refuse to mix shards of another build into this one."""
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
    cosines = fingerprint_cosines(old["fingerprint"], state["fingerprint"])
    if min(cosines.values()) < FINGERPRINT_MIN_COSINE:
        raise ValueError(
            f"{shard_dir} holds shards encoded with another model ({old.get('model_name')!r}); "
            "delete that folder or choose another shard folder"
        )


def _load_shard(path: Path, expected_rows: int) -> np.ndarray | None:
    """The shard at ``path`` if it is complete and readable, else ``None`` (it will be re-encoded)."""
    if not path.exists():
        return None
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as exc:
        logger.warning("Re-encoding unreadable shard %s (%s)", path, exc)
        return None
    if array.ndim != 2 or array.shape[0] != expected_rows or array.dtype != np.float32:
        logger.warning("Re-encoding shard %s: shape %s dtype %s, expected %d rows of float32",
                       path, array.shape, array.dtype, expected_rows)
        return None
    return array


def _save_shard(path: Path, embeddings: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(embeddings, dtype=np.float32))
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


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
) -> list[Path]:
    """Encode ``texts`` with the document route into ``.npy`` shards under ``shard_dir``, resuming earlier work.

    Args:
        model: the model; documents go through ``model.encode_document`` (the document route of a Router).
        texts: the documents, in index order.
        shard_dir: folder of the shards; reuse it to resume.
        state: identity of this build (``corpus_checksum``, ``fingerprint``, ``model_name``, ...); shards written
            under another state are refused instead of being mixed in.
        shard_size: documents per shard.
        batch_size: encoding batch size.
        normalize_embeddings: L2-normalise the embeddings (cosine similarity through inner product).
        truncate_dim: Matryoshka truncation of the embeddings.
        devices: encode with a multi-process pool on these devices (e.g. ``["cuda:0", "cuda:1"]`` or
            ``["cpu", "cpu"]``); ``None`` encodes in this process.
        show_progress_bar: show a progress bar over documents.
        on_shard_written: called with ``(shard_index, path)`` after each newly written shard.

    Returns:
        The shard paths, in order.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size!r}")
    shard_dir = Path(shard_dir)
    shard_dir.mkdir(parents=True, exist_ok=True)
    state = {**state, "num_documents": len(texts), "shard_size": shard_size,
             "normalize_embeddings": normalize_embeddings, "truncate_dim": truncate_dim}
    _check_state(shard_dir, state)

    num_shards = (len(texts) + shard_size - 1) // shard_size
    bounds = [(i * shard_size, min(len(texts), (i + 1) * shard_size)) for i in range(num_shards)]
    paths = [shard_path(shard_dir, i) for i in range(num_shards)]
    todo = [i for i, (start, end) in enumerate(bounds) if _load_shard(paths[i], end - start) is None]
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
                _save_shard(paths[i], embeddings)
                if on_shard_written is not None:
                    on_shard_written(i, paths[i])
    finally:
        if pool is not None:
            model.stop_multi_process_pool(pool)
    for leftover in shard_dir.glob("*.npy.tmp"):
        leftover.unlink()
    return paths


def assemble_shards(paths: Sequence[Path], output_path: str | Path) -> np.ndarray:
    """Concatenate shards into one ``.npy`` file, streamed through a memory map; returns it memory-mapped."""
    first = np.load(paths[0], mmap_mode="r")
    rows = sum(np.load(path, mmap_mode="r").shape[0] for path in paths)
    output_path = Path(output_path)
    tmp = output_path.with_name(output_path.name + ".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(rows, first.shape[1]))
    offset = 0
    for path in paths:
        shard = np.load(path, mmap_mode="r")
        out[offset:offset + shard.shape[0]] = shard
        offset += shard.shape[0]
    out.flush()
    del out
    tmp.replace(output_path)
    return np.load(output_path, mmap_mode="r")
