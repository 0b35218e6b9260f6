"""Near-duplicate detection: MinHash signatures of word n-gram shingles with LSH banding, verified by exact Jaccard."""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

from sbert_med.data.text_normalize import word_ngrams

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective, well-mixed 64-bit hash (uint64 arithmetic wraps modulo 2**64)."""
    values = (values ^ (values >> np.uint64(30))) * _M1
    values = (values ^ (values >> np.uint64(27))) * _M2
    return values ^ (values >> np.uint64(31))


class NearDuplicateIndex:
    """Texts whose word ``ngram`` shingle sets have Jaccard similarity >= ``threshold``.

    Candidates come from MinHash LSH (``num_perm`` hashes in ``bands`` bands; with the defaults a pair at Jaccard 0.7
    is a candidate with probability > 0.99), then the exact Jaccard decides, so there are no false positives.

    Example::

        index = NearDuplicateIndex(threshold=0.8)
        index.add("a", "The heart has four chambers: two atria and two ventricles.")
        index.query("the heart has four chambers, two atria and two ventricles")  # [("a", 1.0)]
    """

    def __init__(self, *, threshold: float = 0.8, ngram: int = 3, num_perm: int = 64, bands: int = 16,
                 seed: int = 1) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        if num_perm % bands:
            raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
        self.threshold = threshold
        self.ngram = ngram
        self.bands = bands
        self.rows = num_perm // bands
        rng = np.random.default_rng(seed)
        self._seeds = rng.integers(0, np.iinfo(np.int64).max, size=num_perm, dtype=np.int64).astype(np.uint64)
        self._buckets: list[dict[bytes, list[int]]] = [defaultdict(list) for _ in range(bands)]
        self._keys: list = []
        self._shingles: list[frozenset[str]] = []

    def __len__(self) -> int:
        return len(self._keys)

    def shingles(self, text: str) -> frozenset[str]:
        return frozenset(word_ngrams(text, self.ngram))

    def _signature(self, shingles: frozenset[str]) -> np.ndarray:
        hashes = np.fromiter(
            (int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little") for s in shingles),
            dtype=np.uint64, count=len(shingles),
        )
        return _mix(hashes[:, None] ^ self._seeds[None, :]).min(axis=0)

    def _band_keys(self, signature: np.ndarray) -> list[bytes]:
        return [signature[band * self.rows : (band + 1) * self.rows].tobytes() for band in range(self.bands)]

    def add(self, key, text: str) -> None:
        shingles = self.shingles(text)
        if not shingles:
            return
        position = len(self._keys)
        self._keys.append(key)
        self._shingles.append(shingles)
        for band, band_key in enumerate(self._band_keys(self._signature(shingles))):
            self._buckets[band][band_key].append(position)

    def query(self, text: str) -> list[tuple[object, float]]:
        """Indexed ``(key, jaccard)`` pairs at or above the threshold, most similar first."""
        shingles = self.shingles(text)
        if not shingles or not self._keys:
            return []
        candidates: set[int] = set()
        for band, band_key in enumerate(self._band_keys(self._signature(shingles))):
            candidates.update(self._buckets[band].get(band_key, ()))
        found = []
        for position in candidates:
            other = self._shingles[position]
            jaccard = len(shingles & other) / len(shingles | other)
            if jaccard >= self.threshold:
                found.append((self._keys[position], jaccard))
        return sorted(found, key=lambda pair: -pair[1])
