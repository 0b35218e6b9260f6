"""Encoding texts to disk: one resumable cache keyed by what produced the vectors, and fingerprints."""

from __future__ import annotations

from sbert_med.encoding.cache import EncodingCache, encode_cached, text_key
from sbert_med.encoding.fingerprint import files_fingerprint, model_fingerprint, settings_fingerprint

__all__ = [
    "EncodingCache",
    "encode_cached",
    "files_fingerprint",
    "model_fingerprint",
    "settings_fingerprint",
    "text_key",
]
