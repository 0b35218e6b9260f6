"""Text normalisation shared by the exact- and near-duplicate checks."""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalize_for_match(text: str) -> str:
    """Lower-case, NFKC, punctuation and runs of spaces collapsed: ``"What is  Asthma?"`` -> ``"what is asthma"``."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def word_ngrams(text: str, n: int) -> set[str]:
    """The word ``n``-grams of the normalised text; a text shorter than ``n`` words is one gram (itself)."""
    words = normalize_for_match(text).split()
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[start : start + n]) for start in range(len(words) - n + 1)}


def word_overlap(first: str, second: str) -> float:
    """Jaccard overlap of the two texts' normalised word sets (1.0: the same words, order ignored)."""
    a, b = set(normalize_for_match(first).split()), set(normalize_for_match(second).split())
    return len(a & b) / len(a | b) if a | b else 1.0
