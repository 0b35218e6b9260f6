"""Find and replace personal health identifiers: Presidio's analyzer (spaCy named entities plus the medical
recognizers), then a medical layer on top -- the allow-list of eponymous diseases, signs and drug names, name
clean-up, and every other mention of a found name -- and typed placeholders that stay consistent within a text
(the same person is ``[NAME_1]`` wherever they are mentioned).

This is a safety net before text leaves the machine, not a certified de-identification.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Literal

import regex
from datasets import Dataset

from sbert_med.data.phi.allow_list import SECTION_WORDS, STATES, is_medical_phrase, medical_vocabulary
from sbert_med.data.phi.kinds import ALL_KINDS, TAGS, PhiKind, PhiMatch, check_kinds
from sbert_med.data.phi.report import PhiReport

logger = logging.getLogger(__name__)

Method = Literal["presidio", "regex"]
METHODS: tuple[str, ...] = ("presidio", "regex")

# which kind wins when spans overlap: labelled and checkable kinds first, free text last (ours)
_PRIORITY = {kind: rank for rank, kind in enumerate(
    ("email", "url", "ip", "ssn", "health_plan", "account", "license", "vehicle", "device", "mrn", "date", "phone",
     "age", "address", "zip", "name", "location"))}
_CUE_RECOGNIZERS = frozenset({"NameCueRecognizer", "LowercaseNameRecognizer", "CityRecognizer"})
_TITLE = regex.compile(r"^(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sr|Sra)\.?\s+)+", regex.IGNORECASE)
_NAME_TOKEN = regex.compile(r"[\p{L}][\p{L}'’-]*")
_NOT_NAME_WORDS = frozenset("""
mr mrs ms miss mx dr prof sr sra van von de der den del della da di du la le bin binti ibn al el dos das ter ten the
and of pt patient md do rn np pa
""".split())


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")


def find_phi(text: str, *, kinds: Iterable[PhiKind] = ALL_KINDS, method: Method = "presidio") -> list[PhiMatch]:
    """Non-overlapping identifier spans in ``text``, sorted by position."""
    return find_phi_batch([text], kinds=kinds, method=method)[0]


def find_phi_batch(
    texts: Sequence[str], *, kinds: Iterable[PhiKind] = ALL_KINDS, method: Method = "presidio", batch_size: int = 32
) -> list[list[PhiMatch]]:
    """:func:`find_phi` for many texts, running spaCy over them in batches."""
    kinds = check_kinds(kinds)
    _check_method(method)
    if method == "regex":
        from sbert_med.data.phi.regex import find_phi_regex

        return [find_phi_regex(text, kinds=kinds) for text in texts]
    from sbert_med.data.phi.engine import get_analyzer

    analyzer = get_analyzer()
    output: list[list[PhiMatch]] = [[] for _ in texts]
    todo = [index for index, text in enumerate(texts) if text and text.strip()]
    batches = analyzer.nlp_engine.process_batch([texts[index] for index in todo], "en", batch_size=batch_size)
    for index, (text, artifacts) in zip(todo, batches):
        results = analyzer.analyze(text, language="en", nlp_artifacts=artifacts)
        output[index] = _postprocess(text, results, kinds)
    return output


def _postprocess(text: str, results, kinds: frozenset[str]) -> list[PhiMatch]:
    from sbert_med.data.phi.recognizers import ENTITY_KINDS

    candidates = []
    for result in results:
        kind = ENTITY_KINDS.get(result.entity_type)
        if kind is None:
            continue
        recognizer = (result.recognition_metadata or {}).get("recognizer_name", "")
        start, end = result.start, result.end
        if kind in ("name", "location"):
            start, end = _clean_span(text, start, end)
            if start >= end:
                continue
            cued = recognizer in _CUE_RECOGNIZERS
            if not cued and _not_a_person_or_place(text, start, end, kind):
                continue
        if kind == "url" and _url_cut_mid_word(text, start, end):
            continue
        cued = recognizer in _CUE_RECOGNIZERS
        candidates.append((kind, start, end, result.score + (0.1 if cued else 0.0), cued))
    candidates.sort(key=lambda c: (_PRIORITY[c[0]] if c[0] not in ("name", "location") else len(_PRIORITY),
                                   -c[3], -(c[2] - c[1])))
    taken: list[PhiMatch] = []
    for kind, start, end, _, cued in candidates:
        if kind in ("name", "location"):  # keep what another kind leaves ("Dictated by Ann Lee [April 2, 2020]")
            start, end = _remainder(text, start, end, taken)
            if start < end and (_not_a_word_of_name(text[start:end])
                                or not cued and _not_a_person_or_place(text, start, end, kind)):
                continue
        if start < end and all(end <= match.start or start >= match.end for match in taken):
            taken.append(PhiMatch(kind, start, end))
    taken = _other_mentions(text, taken)
    return sorted((match for match in taken if match.kind in kinds), key=lambda match: match.start)


def _url_cut_mid_word(text: str, start: int, end: int) -> bool:
    """A bare-domain URL match that is a missing space after a full stop: Presidio's URL pattern reads
    "abduction.Results" as ``abduction.Re`` and "E.coli" as ``E.co`` (the match ends inside a word), and
    "trials.We found" as ``trials.We`` (a capitalised top-level domain: a new sentence). An address with its scheme
    ("https://...") or "www." is kept, as is a bare "ClinicalTrials.gov"."""
    if regex.match(r"(?i)(?:[a-z][a-z0-9+.-]*://|www\.)", text[start:end]):
        return False
    top_level = text[start:end].rstrip("/").rsplit(".", 1)[-1]
    return (end < len(text) and text[end].isalnum()) or top_level[:1].isupper()


def _remainder(text: str, start: int, end: int, taken: list[PhiMatch]) -> tuple[int, int]:
    """The longest part of ``[start, end)`` outside ``taken``, cleaned; empty when it holds no word."""
    free = [True] * (end - start)
    for match in taken:
        for index in range(max(start, match.start), min(end, match.end)):
            free[index - start] = False
    best, run_start = (start, start), None
    for index in range(start, end + 1):
        if index < end and free[index - start]:
            run_start = index if run_start is None else run_start
        elif run_start is not None:
            if index - run_start > best[1] - best[0]:
                best = (run_start, index)
            run_start = None
    if best == (start, end):
        return best
    cleaned = _clean_span(text, *best)
    return cleaned if sum(char.isalpha() for char in text[cleaned[0] : cleaned[1]]) >= 2 else (start, start)


def _clean_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim a person or place span: a title in front, a line break, a possessive or a number at the end."""
    piece = text[start:end]
    if "\n" in piece:
        head, _, tail = piece.partition("\n")
        if head.strip():
            end = start + len(head)
        else:
            start = end - len(tail)
    title = _TITLE.match(text[start:end])
    if title:
        start += title.end()
    leading = regex.match(r"(?:\p{Ll}+\s+)+(?=\p{Lu})", text[start:end])  # "niece Zoë Johnson", "the Smiths"
    if leading:
        start += leading.end()
    while end > start and not text[end - 1].isalpha():
        end -= 1
    piece = text[start:end]
    if piece.endswith(("'s", "’s")):
        end -= 2
    while end > start and not text[end - 1].isalpha():
        end -= 1
    while start < end and not text[start].isalpha():
        start += 1
    return start, end


def _not_a_word_of_name(piece: str) -> bool:
    """Section words and short abbreviations ("Addendum", "VIN", "MR", "D.O.B"), whatever proposed them."""
    letters = "".join(char for char in piece if char.isalpha())
    return piece.lower() in SECTION_WORDS or (letters.isupper() and len(letters) <= 4 and " " not in piece)


def _not_a_person_or_place(text: str, start: int, end: int, kind: str) -> bool:
    """For spaCy's uncued people and places: medical phrases, states, clinical words and lower-case words (spaCy's
    small pipeline misfires on lower-case terms such as "serosa"; lower-case names are found through cues)."""
    piece = text[start:end]
    if not any(char.isupper() for char in piece):
        return True
    if is_medical_phrase(text, start, end):
        return True
    if kind == "location" and piece.lower() in STATES:
        return True
    one_word = " " not in piece and "-" not in piece
    if one_word and (piece.lower() in medical_vocabulary() or piece.lower() in SECTION_WORDS):
        return True  # a clinical word at the start of a sentence ("Driver's license", "Hemoglobin")
    if piece.isupper() and len(piece) <= 5:  # HPI, COPD, ROS: abbreviations, not people
        return True
    return not any(char.islower() for char in piece) and " " not in piece and len(piece) <= 3


def _name_words(piece: str) -> set[str]:
    return {word.lower() for word in _NAME_TOKEN.findall(piece)
            if len(word) > 1 and word.lower() not in _NOT_NAME_WORDS}


def _other_mentions(text: str, taken: list[PhiMatch]) -> list[PhiMatch]:
    """``taken`` plus every other mention of a found name's words, in any case ("Mr. John Smith ... SMITH ... smith
    reports")."""
    words = set()
    for match in taken:
        if match.kind == "name":
            piece = text[match.start : match.end]
            words |= {word for word in _name_words(piece) if len(word) > 2}
            parts = piece.lower().replace(",", " ").split()
            words.update(" ".join(parts[index:]) for index in range(len(parts) - 1))  # "van der berg"
    if not words:
        return taken
    alternatives = sorted((regex.escape(word).replace(r"\ ", r"\s+") for word in words), key=len, reverse=True)
    pattern = regex.compile(r"(?<![\p{L}\d])(?:" + "|".join(alternatives)
                            + r")(?![\p{L}\d])", regex.IGNORECASE)
    for found in pattern.finditer(text):
        start, end = found.span()
        overlapping = [match for match in taken if start < match.end and end > match.start]
        # a longer mention replaces the parts of it already found ("Van der Berg" over "Berg")
        if any(match.kind != "name" or match.start < start or match.end > end for match in overlapping):
            continue
        if is_medical_phrase(text, start, end):
            continue
        taken = [match for match in taken if match not in overlapping] + [PhiMatch("name", start, end)]
    return taken


def _placeholders(text: str, matches: list[PhiMatch], numbered: bool) -> list[str]:
    """One placeholder per match: ``[KIND_n]`` where n numbers the distinct values of the kind in this text; the
    mentions of one person ("John Smith", "Smith", "SMITH, JOHN") share their number."""
    if not numbered:
        return [f"[{TAGS[match.kind]}]" for match in matches]
    people: list[set[str]] = []
    values: dict[tuple[str, str], int] = {}
    counters: dict[str, int] = {}
    tags = []
    for match in matches:
        piece = text[match.start : match.end]
        if match.kind == "name":
            words = _name_words(piece) or {piece.lower()}
            number = next((index + 1 for index, person in enumerate(people)
                           if words <= person or person <= words), 0)
            if number:
                people[number - 1] |= words
            else:
                people.append(set(words))
                number = len(people)
        else:
            key = (match.kind, regex.sub(r"[\W_]+", "", piece.lower()))
            if key not in values:
                counters[match.kind] = counters.get(match.kind, 0) + 1
                values[key] = counters[match.kind]
            number = values[key]
        tags.append(f"[{TAGS[match.kind]}_{number}]")
    return tags


def replace_phi(text: str, matches: list[PhiMatch], *, numbered: bool = True) -> str:
    """``text`` with each of ``matches`` replaced by its placeholder."""
    pieces, last = [], 0
    for match, tag in zip(matches, _placeholders(text, matches, numbered)):
        pieces.append(text[last : match.start])
        pieces.append(tag)
        last = match.end
    pieces.append(text[last:])
    return "".join(pieces)


def scrub_text(
    text: str, *, kinds: Iterable[PhiKind] = ALL_KINDS, method: Method = "presidio", numbered: bool = True
) -> tuple[str, list[PhiMatch]]:
    """``text`` with every identifier replaced by a typed placeholder (``[NAME_1]``, ``[DATE_2]``, ``[MRN_1]``...;
    ``numbered=False`` gives ``[NAME]``, ``[DATE]``), and the matches."""
    matches = find_phi(text, kinds=kinds, method=method)
    return replace_phi(text, matches, numbered=numbered), matches


def scrub_texts(
    texts: Sequence[str], *, kinds: Iterable[PhiKind] = ALL_KINDS, method: Method = "presidio", numbered: bool = True
) -> tuple[list[str], PhiReport]:
    """:func:`scrub_text` over many texts (spaCy in batches), with a report of counts per kind."""
    report = PhiReport(method=method)
    scrubbed = []
    for text, matches in zip(texts, find_phi_batch(texts, kinds=kinds, method=method)):
        scrubbed.append(replace_phi(text, matches, numbered=numbered))
        report.add([match.kind for match in matches])
    return scrubbed, report


def scrub_phi(
    dataset: Dataset,
    *,
    columns: str | list[str] = "text",
    kinds: Iterable[PhiKind] = ALL_KINDS,
    method: Method = "presidio",
    numbered: bool = True,
    return_report: bool = False,
    num_proc: int | None = None,
) -> Dataset | tuple[Dataset, PhiReport]:
    """Replace personal health identifiers in ``columns`` with typed placeholders such as ``[NAME_1]``, ``[DATE_1]``.

    Args:
        dataset: rows to scrub.
        columns: text column(s) to scrub.
        kinds: which identifier kinds to replace (default all: ``ALL_KINDS``).
        method: ``"presidio"`` (default: spaCy names and places, medical recognizers, allow-list) or ``"regex"``
            (patterns only, fast, misses unmarked names).
        numbered: number the placeholders per distinct value within a text (``[NAME_1]``); else ``[NAME]``.
        return_report: also return a :class:`PhiReport` (counts per kind; never the identifiers themselves).
        num_proc: processes for ``Dataset.map`` (each loads its own spaCy pipeline).

    Returns:
        The scrubbed dataset (same columns and rows), and the report if asked for.
    """
    columns = [columns] if isinstance(columns, str) else list(columns)
    missing = [name for name in columns if name not in dataset.column_names]
    if missing:
        raise ValueError(f"columns {missing} not in the dataset; it has {dataset.column_names}")
    kinds = check_kinds(kinds)
    _check_method(method)
    if num_proc is not None and num_proc < 1:
        raise ValueError(f"num_proc must be at least 1 (or None), got {num_proc!r}")

    def scrub_batch(batch: dict) -> dict:
        counts: list[list[str]] = [[] for _ in next(iter(batch.values()))]
        for name in columns:
            values = batch[name]
            positions = [index for index, value in enumerate(values) if isinstance(value, str)]
            texts = [values[index] for index in positions]
            found = find_phi_batch(texts, kinds=kinds, method=method)
            values = list(values)
            for index, text, matches in zip(positions, texts, found):
                values[index] = replace_phi(text, matches, numbered=numbered)
                counts[index].extend(match.kind for match in matches)
            batch[name] = values
        batch["_phi_kinds"] = counts
        return batch

    scrubbed = dataset.map(scrub_batch, batched=True, batch_size=64, num_proc=num_proc, desc="Scrubbing PHI")
    report = PhiReport(method=method)
    for row_kinds in scrubbed["_phi_kinds"]:
        report.add(list(row_kinds))
    scrubbed = scrubbed.remove_columns("_phi_kinds")
    logger.info("scrub_phi (%s): %d of %d rows changed; replacements %s", method, report.rows_changed, report.rows,
                dict(report.replacements))
    return (scrubbed, report) if return_report else scrubbed
