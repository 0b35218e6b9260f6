"""Encode documents longer than a model's window: chunk and pool, or truncate — and always say which happened.

A released model must load with plain ``SentenceTransformer(path)``, so chunk-and-pool is not a module inside the
model but a corpus-encoding function used by evaluation and indexing: each document is cut into windows of
``chunk_tokens`` tokens of the model's own tokenizer, overlapping by ``stride`` tokens; the windows are embedded with
``encode_document`` (the document prompt and, for a ``Router``, the document tower) and pooled into one vector.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from sentence_transformers import SentenceTransformer
from tqdm.auto import tqdm

from sbert_med.encoding.cache import EncodingCache
from sbert_med.encoding.fingerprint import model_fingerprint
from sbert_med.modules.routes import find_transformer

logger = logging.getLogger(__name__)

LongDocumentMode = Literal["chunk", "truncate"]
ChunkPooling = Literal["mean", "max"]
LONG_DOCUMENT_MODES = ("chunk", "truncate")
CHUNK_POOLINGS = ("mean", "max")
_DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # the order encode_document tries


@dataclass
class LongDocumentReport:
    """What happened to the documents: how many were long, chunked or truncated, and how many tokens were dropped.

    Attributes:
        mode: ``"chunk"`` or ``"truncate"``.
        window_tokens: Document tokens that fit in one model input (prompt and special tokens excluded).
        num_documents: Documents encoded.
        num_long_documents: Documents longer than one window.
        num_chunks: Model inputs encoded (one per document when truncating).
        num_truncated_documents: Documents that lost tokens (0 in chunk mode).
        num_truncated_tokens: Tokens dropped over all documents (0 in chunk mode).
        max_document_tokens: Length of the longest document, in tokens.
    """

    mode: str
    window_tokens: int
    num_documents: int = 0
    num_long_documents: int = 0
    num_chunks: int = 0
    num_truncated_documents: int = 0
    num_truncated_tokens: int = 0
    max_document_tokens: int = 0
    chunk_tokens: int | None = None
    stride: int | None = None
    pooling: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def add(self, other: LongDocumentReport) -> None:
        for name in ("num_documents", "num_long_documents", "num_chunks", "num_truncated_documents",
                     "num_truncated_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_document_tokens = max(self.max_document_tokens, other.max_document_tokens)


def encode_long_documents(
    model: SentenceTransformer,
    documents: Sequence[str],
    *,
    mode: LongDocumentMode = "chunk",
    chunk_tokens: int | None = None,
    stride: int | None = None,
    pooling: ChunkPooling = "mean",
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    block_size: int = 256,
    show_progress_bar: bool = False,
) -> tuple[np.ndarray, LongDocumentReport]:
    """Embed documents of any length with a fixed-window model, without silent truncation.

    Args:
        model: The embedding model (plain or with a ``Router``: its document route is used).
        documents: The documents.
        mode: ``"chunk"`` embeds every window of a long document and pools them; ``"truncate"`` embeds only the first
            window and *counts* the documents and tokens it drops (logged as a warning and returned in the report).
        chunk_tokens: Document tokens per window; default (and maximum) what fits in ``model.max_seq_length`` next to
            the document prompt and the special tokens.
        stride: Tokens shared by consecutive windows (``0 <= stride < chunk_tokens``); default
            ``min(32, chunk_tokens // 4)``.
        pooling: ``"mean"`` averages the (normalised) window embeddings, ``"max"`` takes the element-wise maximum;
            the result is normalised again.
        batch_size: Windows per forward pass.
        cache_dir: If set, the document vectors are stored there (:class:`~sbert_med.encoding.EncodingCache`,
            keyed by the model's fingerprint and these settings) block by block; a rerun reuses every finished
            block (resume after a crash without re-encoding).
        block_size: Documents per block (one cache shard).
        show_progress_bar: Show a progress bar over the documents.

    Returns:
        ``(embeddings, report)``: one unit-norm vector per document (float32, in document order) and a
        :class:`LongDocumentReport`.

    Example::

        from sentence_transformers import SentenceTransformer
        from sbert_med.encoding import encode_long_documents

        model = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2")
        embeddings, report = encode_long_documents(model, long_docs, chunk_tokens=200, stride=32)
        print(report.num_long_documents, report.num_chunks)
    """
    if mode not in LONG_DOCUMENT_MODES:
        raise ValueError(f"mode must be one of {list(LONG_DOCUMENT_MODES)}, got {mode!r}")
    if pooling not in CHUNK_POOLINGS:
        raise ValueError(f"pooling must be one of {list(CHUNK_POOLINGS)}, got {pooling!r}")
    if isinstance(documents, str):
        raise ValueError("documents must be a sequence of strings, got a single string")
    if block_size < 1 or batch_size < 1:
        raise ValueError(f"block_size and batch_size must be >= 1, got {block_size!r} and {batch_size!r}")
    prompt = _document_prompt(model)
    window = _window_tokens(model, prompt)
    if chunk_tokens is None:
        chunk_tokens = window
    elif not 1 <= chunk_tokens <= window:
        raise ValueError(f"chunk_tokens must be between 1 and {window} (what fits next to the prompt), got "
                         f"{chunk_tokens!r}")
    if stride is None:
        stride = min(32, chunk_tokens // 4)
    if mode == "chunk" and not 0 <= stride < chunk_tokens:
        raise ValueError(f"stride must be >= 0 and < chunk_tokens={chunk_tokens}, got {stride!r}")
    report = LongDocumentReport(mode=mode, window_tokens=window)
    if mode == "chunk":
        report.chunk_tokens, report.stride, report.pooling = chunk_tokens, stride, pooling
    cache = None
    if cache_dir is not None:
        key = {"model": model_fingerprint(model), "route": "document", "prompt": prompt,
               "long_documents": report.to_dict()}
        cache = EncodingCache(cache_dir, key, info={"producer": "encode_long_documents"})
    blocks = []
    progress = tqdm(total=len(documents), desc="Encoding documents", disable=not show_progress_bar)
    for start in range(0, len(documents), block_size):
        block_documents = list(documents[start : start + block_size])
        chunks, block_report = _plan_block(model, block_documents, mode=mode, chunk_tokens=chunk_tokens,
                                           stride=stride, window=window)
        chunks_of = dict(zip(block_documents, chunks))

        def embed(texts: list[str], chunks_of=chunks_of) -> np.ndarray:
            return _embed_documents(model, [chunks_of[text] for text in texts], pooling=pooling, prompt=prompt,
                                    batch_size=batch_size)

        if cache is None:
            blocks.append(embed(block_documents))
        else:
            blocks.append(cache.encode(block_documents, embed, chunk_size=block_size, show_progress_bar=False))
        report.add(block_report)
        progress.update(len(block_documents))
    progress.close()
    if report.num_truncated_documents:
        logger.warning(
            "Truncated %d of %d documents to %d tokens, dropping %d tokens; use mode='chunk' to keep them",
            report.num_truncated_documents, report.num_documents, window, report.num_truncated_tokens,
        )
    dimension = model.get_embedding_dimension() or 0
    return (np.concatenate(blocks) if blocks else np.zeros((0, dimension), dtype=np.float32)), report


def split_into_chunks(tokenizer, document: str, *, chunk_tokens: int, stride: int) -> list[str]:
    """Cut ``document`` into windows of ``chunk_tokens`` tokens overlapping by ``stride``, as substrings of the text.

    Windows are cut at token boundaries (from the tokenizer's character offsets) and shrunk when their text
    re-tokenises to more than ``chunk_tokens`` tokens, so every window fits; nothing of the document is left out.
    """
    offsets = [span for span in tokenizer(document, add_special_tokens=False, return_offsets_mapping=True,
                                          verbose=False)["offset_mapping"] if span[1] > span[0]]
    if len(offsets) <= chunk_tokens:
        return [document]
    chunks, first = [], 0
    while True:
        last = min(first + chunk_tokens, len(offsets)) - 1
        text = document[offsets[first][0] : offsets[last][1]]
        # a window cut inside a word can re-tokenise into more pieces: shrink it until it fits
        while last > first and _count_tokens(tokenizer, text) > chunk_tokens:
            last -= 1
            text = document[offsets[first][0] : offsets[last][1]]
        chunks.append(text)
        if last == len(offsets) - 1:
            return chunks
        first = max(last + 1 - stride, first + 1)


def _count_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _plan_block(model, documents, *, mode, chunk_tokens, stride, window) -> tuple[list[list[str]], LongDocumentReport]:
    """The model inputs of each document (its windows, or the document itself when truncating) and the report."""
    tokenizer = _document_tokenizer(model)
    lengths = [len(ids) for ids in tokenizer(documents, add_special_tokens=False, verbose=False)["input_ids"]]
    report = LongDocumentReport(mode=mode, window_tokens=window, num_documents=len(documents),
                                num_long_documents=sum(length > window for length in lengths),
                                max_document_tokens=max(lengths, default=0))
    if mode == "truncate":
        report.num_chunks = len(documents)
        report.num_truncated_documents = report.num_long_documents
        report.num_truncated_tokens = sum(max(length - window, 0) for length in lengths)
        return [[document] for document in documents], report
    chunks = [split_into_chunks(tokenizer, document, chunk_tokens=chunk_tokens, stride=stride)
              for document in documents]
    flat = [chunk for pieces in chunks for chunk in pieces]
    owner = [index for index, pieces in enumerate(chunks) for _ in pieces]
    report.num_chunks = len(flat)
    chunk_lengths = [len(ids) for ids in tokenizer(flat, add_special_tokens=False, verbose=False)["input_ids"]]
    overflow = [(length - window) for length in chunk_lengths if length > window]
    if overflow:  # re-tokenising a window's text can add a token at its edges; count it rather than hide it
        report.num_truncated_documents = len({owner[i] for i, n in enumerate(chunk_lengths) if n > window})
        report.num_truncated_tokens = sum(overflow)
    return chunks, report


def _embed_documents(model, chunks: list[list[str]], *, pooling, prompt, batch_size) -> np.ndarray:
    """One unit-norm vector per document: its single input embedded as it is, or its windows pooled."""
    flat = [chunk for pieces in chunks for chunk in pieces]
    embeddings = model.encode_document(flat, prompt=prompt, batch_size=batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True).astype(np.float32)
    if len(flat) == len(chunks):  # one input per document: nothing to pool
        return embeddings
    owner = np.repeat(np.arange(len(chunks)), [len(pieces) for pieces in chunks])
    pooled = np.stack([
        embeddings[owner == index].mean(axis=0) if pooling == "mean" else embeddings[owner == index].max(0)
        for index in range(len(chunks))
    ])
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return pooled.astype(np.float32)


def _document_prompt(model: SentenceTransformer) -> str:
    for name in _DOCUMENT_PROMPT_NAMES:
        if name in model.prompts:
            return model.prompts[name]
    return ""


def _document_tokenizer(model: SentenceTransformer):
    try:
        transformer = find_transformer(model, route="document" if _has_router(model) else None)
    except ValueError as exc:
        raise ValueError(f"encode_long_documents needs a Transformer-based model: {exc}") from exc
    tokenizer = transformer.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"encode_long_documents needs a fast tokenizer (offsets), got {type(tokenizer).__name__}")
    return tokenizer


def _has_router(model: SentenceTransformer) -> bool:
    from sentence_transformers.base.modules import Router

    return isinstance(model[0], Router)


def _window_tokens(model: SentenceTransformer, prompt: str) -> int:
    """Document tokens that fit in one model input next to the prompt and the special tokens."""
    transformer = find_transformer(model, route="document" if _has_router(model) else None)
    tokenizer = transformer.tokenizer
    max_length = transformer.max_seq_length or tokenizer.model_max_length
    overhead = len(tokenizer(prompt + "x", verbose=False)["input_ids"]) - len(
        tokenizer("x", add_special_tokens=False, verbose=False)["input_ids"])
    if max_length - overhead < 1:
        raise ValueError(f"max_seq_length={max_length} leaves no room for text next to the prompt {prompt!r}")
    return max_length - overhead
