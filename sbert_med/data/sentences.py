"""Sentence splitting and fragment detection for textbook prose."""

from __future__ import annotations

import re

# abbreviations after which a period does not end a sentence
_ABBREVIATIONS = frozenset("""e.g i.e etc vs al fig figs eq approx ca cf dr mr mrs ms prof st no nos vol pp p ch sec
jan feb mar apr jun jul aug sep sept oct nov dec inc ltd co jr sr dept univ""".split())
_BOUNDARY = re.compile(r"(?<=[.!?])([\"'”’)\]]*)\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_TERMINAL = re.compile(r"[.!?][\"'”’)\]]*$")


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences at ``.``, ``!`` or ``?`` followed by a capital or digit, except after common
    abbreviations (``e.g.``, ``Fig.``, ``Dr.``, ``et al.``) and single initials (``J. Smith``)."""
    text = " ".join(text.split())
    sentences, start = [], 0
    for boundary in _BOUNDARY.finditer(text):
        end = boundary.start() + len(boundary.group(1))
        before = text[start:end]
        last_word = before.rstrip("\"'”’)]").rstrip(".!?").split(" ")[-1].lower().lstrip("(")
        is_abbreviation = last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word)
        if before.rstrip("\"'”’)]").endswith(".") and is_abbreviation:
            continue
        sentences.append(before.strip())
        start = boundary.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def fragment_reason(sentence: str, *, min_words: int, max_words: int) -> str | None:
    """Why ``sentence`` is not a clean sentence (``None`` if it is): too short or long, no terminal punctuation,
    not starting with a capital or digit, mostly non-letters, or unbalanced brackets."""
    words = sentence.split()
    if len(words) < min_words:
        return "too_short"
    if len(words) > max_words:
        return "too_long"
    if not _TERMINAL.search(sentence):
        return "no_terminal_punctuation"
    first = sentence.lstrip("\"'“‘([")[:1]
    if not (first.isupper() or first.isdigit()):
        return "bad_start"
    letters = sum(char.isalpha() for char in sentence)
    if letters < 0.6 * len(sentence.replace(" ", "")):
        return "mostly_non_letters"
    if sentence.count("(") != sentence.count(")"):
        return "unbalanced_brackets"
    return None
