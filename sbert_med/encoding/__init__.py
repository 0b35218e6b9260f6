"""Encoding texts to disk: one resumable cache keyed by what produced the vectors, fingerprints, and documents
longer than a model's window (chunk-and-pool or counted truncation)."""

from __future__ import annotations

from sbert_med.encoding.cache import EncodingCache, encode_cached, encoding_key, text_key
from sbert_med.encoding.fingerprint import (
    files_fingerprint,
    model_fingerprint,
    route_fingerprint,
    route_prompt,
    settings_fingerprint,
)
from sbert_med.encoding.long_documents import LongDocumentReport, encode_long_documents, split_into_chunks

__all__ = [
    "EncodingCache",
    "LongDocumentReport",
    "encode_cached",
    "encode_long_documents",
    "encoding_key",
    "files_fingerprint",
    "model_fingerprint",
    "route_fingerprint",
    "route_prompt",
    "settings_fingerprint",
    "split_into_chunks",
    "text_key",
]
