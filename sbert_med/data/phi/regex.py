"""The regex-only identifier finder (the project's first scrubber), kept as ``method="regex"``: fast, no model.

It finds no unmarked names and few addresses; :mod:`sbert_med.data.phi.scrubber` (Presidio + spaCy) is the default.
Structured kinds (dates, phone/fax numbers, e-mail addresses, URLs, IP addresses, social security numbers, record and
account numbers, street addresses and ZIP codes, ages over 89) are found with patterns; names are found where they are
marked (titles such as "Mr." or "Dr.", labels such as "Patient:" or "Signed by:"), and every later mention of a found
name is replaced too. This is a safety net before text leaves the machine, not a certified de-identification.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sbert_med.data.phi.kinds import PhiMatch, check_kinds
from sbert_med.data.phi.patterns import DAY, DD, MM, MONTH, STATE, STREET

#: the regex kinds, and the scrubber kind each is reported as
REGEX_KINDS: dict[str, str] = {"email": "email", "url": "url", "ip": "ip", "ssn": "ssn", "phone": "phone",
                               "record_number": "mrn", "date": "date", "address": "address", "zip": "zip",
                               "age": "age", "name": "name"}

_NAME_WORD = r"[A-Z][a-z]+(?:['-][A-Z]?[a-z]+)?"
_FULL_NAME = rf"{_NAME_WORD}(?:\s+[A-Z]\.)?(?:\s+{_NAME_WORD}){{0,2}}"
_NAME_LABELS = (r"(?:Patient(?:\s+name)?|Pt(?:\s+name)?|Name|Attending(?:\s+physician)?|Physician|Provider|Surgeon"
                r"|Resident|Nurse|RN|NP|PA-C|PCP|Referring(?:\s+physician)?|Primary\s+care(?:\s+physician)?"
                r"|(?:Electronically\s+)?[Ss]igned(?:\s+by)?|Dictated\s+by|Emergency\s+contact|Contact|Guardian"
                r"|Spouse|Wife|Husband|Son|Daughter|Mother|Father|Sister|Brother|Caregiver)")

# (kind, pattern, group to replace): order matters, earlier kinds claim their text first
_PATTERNS: list[tuple[str, re.Pattern, int]] = [
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), 0),
    ("url", re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE), 0),
    ("ip", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"), 0),
    ("ssn", re.compile(r"\b(?:SSN|social security(?: number| no\.?)?)\s*[:#]?\s*(\d{3}[- ]?\d{2}[- ]?\d{4})\b",
                       re.IGNORECASE), 1),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), 0),
    ("phone", re.compile(r"(?<![\w/])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}\b"
                         r"(?:\s*(?:x|ext\.?)\s*\d{1,5}\b)?", re.IGNORECASE), 0),
    ("address", re.compile(
        rf"\b\d{{1,6}}\s+(?:[NSEW]\.?\s+)?(?:[A-Z][A-Za-z]+\.?\s+){{1,4}}{STREET}\b\.?"
        rf"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Room|Rm|#)\.?\s*#?[\w-]+)?"
        rf"(?:,\s*(?:[A-Z][a-zA-Z]+\s?){{1,3}})?(?:,\s*{STATE})?(?:\s+\d{{5}}(?:-\d{{4}})?)?"), 0),
    ("address", re.compile(r"\b(?:P\.?\s?O\.?\s+Box|Post\s+Office\s+Box)\s+\d+", re.IGNORECASE), 0),
    ("address", re.compile(rf"\b(?:[A-Z][a-zA-Z]+\s){{0,2}}[A-Z][a-zA-Z]+,\s*{STATE}\s+\d{{5}}(?:-\d{{4}})?\b"), 0),
    ("zip", re.compile(r"\b(?:zip|zip\s+code|postal\s+code)\s*:?\s*(\d{5}(?:-\d{4})?)\b", re.IGNORECASE), 1),
    ("zip", re.compile(rf"\b{STATE}\s+(\d{{5}}(?:-\d{{4}})?)\b"), 1),
    ("record_number", re.compile(
        r"\b(?:MRN|MR\s?#|MR\s?No\.?|Med(?:ical)?\s+rec(?:ord)?(?:\s+(?:number|no\.?|#))?|Record\s+(?:number|no\.?|#)"
        r"|Acc(?:oun)?t\.?(?:\s+(?:number|no\.?|#))?|Account|Patient\s+ID|Pt\.?\s+ID|Member\s+ID|Subscriber\s+ID"
        r"|Policy\s+(?:number|no\.?|#)|Health\s+plan\s+(?:ID|number|no\.?)|Encounter(?:\s+(?:number|no\.?|#|ID))?"
        r"|Visit\s+(?:number|no\.?|#|ID)|FIN|CSN|License(?:\s+(?:number|no\.?|#))?|DEA(?:\s+#)?|NPI"
        r"|Specimen\s+(?:number|no\.?|#|ID)|Accession(?:\s+(?:number|no\.?|#))?|ID(?=\s*[:#])|ID\s+(?:number|no\.?))"
        r"\s*(?:is\s+)?[:#]?\s*((?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,})\b", re.IGNORECASE), 1),
    ("record_number", re.compile(r"(?<![\w.,/])\d{7,}(?![\w.,/]\d)"), 0),
    ("date", re.compile(rf"\b(?:{MONTH}\s+{DAY}(?:,\s*|\s+)\d{{4}}|{DAY}\s+(?:of\s+)?{MONTH},?\s+\d{{4}}"
                        rf"|{MONTH}\s+{DAY}\b|{DAY}\s+{MONTH}(?=[\s,.;)]|$)|{MONTH},?\s+\d{{4}})",
                        re.IGNORECASE), 0),
    ("date", re.compile(rf"(?<![\w/.-])(?:\d{{4}}-{MM}-{DD}|{MM}/{DD}/(?:\d{{4}}|\d{{2}})|{MM}-{DD}-\d{{4}}"
                        rf"|{DD}\.{MM}\.\d{{4}})(?![\w/-])"), 0),
    ("date", re.compile(rf"\b(?:on|since|from|until|through|to|dated|by|DOB|DOS|d\.o\.b\.|born|admitted|discharged"
                        rf"|seen)\s*:?\s*({MM}/{DD})(?![\w/])", re.IGNORECASE), 1),
    ("age", re.compile(r"\b(9\d|1[0-3]\d)(?=\s*(?:-|\s)?\s*(?:years?|yrs?|y)(?:-|\s)?\s*(?:old|o\b|/o\b|\.o\.))",
                       re.IGNORECASE), 1),
    ("age", re.compile(r"\b(?:age|aged|age\s+of)\s*:?\s*(9\d|1[0-3]\d)\b", re.IGNORECASE), 1),
    ("age", re.compile(r"\b(9\d|1[0-3]\d)\s*(?:yo|y/o|y\.o\.|yr\.?\s?old)\b", re.IGNORECASE), 1),
    ("name", re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+({_FULL_NAME})"), 1),
    ("name", re.compile(rf"\b{_NAME_LABELS}\s*:\s*({_NAME_WORD},\s+{_NAME_WORD}|{_FULL_NAME})"), 1),
    ("name", re.compile(rf"\b({_FULL_NAME}),?\s+(?:MD|M\.D\.|DO|RN|NP|PA-C|PhD|DDS)\b"), 1),
]

# words that look like names after a title or label but are not identifiers
_NOT_NAMES = frozenset("""The A An He She They His Her Patient Pt Name None Unknown Not Seen No Yes Doctor Nurse Other
Same Home Self Primary Care Team Service On Call Today Tomorrow Yesterday Reports Notes Denies Is Was Has""".split())


def find_phi_regex(text: str, *, kinds: Iterable[str] | None = None) -> list[PhiMatch]:
    """Non-overlapping identifier spans in ``text`` found by patterns only, sorted by position (scrubber kinds)."""
    kinds = check_kinds(kinds) if kinds is not None else frozenset(REGEX_KINDS.values())
    taken: list[PhiMatch] = []

    def free(start: int, end: int) -> bool:
        return all(end <= match.start or start >= match.end for match in taken)

    for kind, pattern, group in _PATTERNS:
        if REGEX_KINDS[kind] not in kinds:
            continue
        for found in pattern.finditer(text):
            start, end = found.span(group)
            if kind == "name":
                start, end = _trim_name(text, start, end)
            if start < end and free(start, end):
                taken.append(PhiMatch(REGEX_KINDS[kind], start, end))
    if "name" in kinds:
        taken.extend(_later_mentions(text, taken))
    return sorted(taken, key=lambda match: match.start)


def _trim_name(text: str, start: int, end: int) -> tuple[int, int]:
    words = text[start:end].replace(",", " ").split()
    if not words or words[0] in _NOT_NAMES:
        return start, start
    while words and words[-1] in _NOT_NAMES:
        end = start + text[start:end].rfind(words.pop())
    return start, end


def _later_mentions(text: str, taken: list[PhiMatch]) -> list[PhiMatch]:
    """Other mentions of the words of names already found ("Mr. John Smith ... Smith reports ...")."""
    words = {word for match in taken if match.kind == "name"
             for word in re.findall(r"[A-Z][a-z]+(?:['-][A-Z]?[a-z]+)?", text[match.start : match.end])
             if len(word) > 2 and word not in _NOT_NAMES}
    if not words:
        return []
    pattern = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b")
    extra = []
    for found in pattern.finditer(text):
        start, end = found.span()
        if all(end <= match.start or start >= match.end for match in taken + extra):
            extra.append(PhiMatch("name", start, end))
    return extra
