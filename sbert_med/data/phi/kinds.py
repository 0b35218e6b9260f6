"""The identifier kinds the scrubber knows (the HIPAA Safe Harbor identifiers that text can carry) and their tags."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

PhiKind = Literal["name", "address", "location", "zip", "date", "age", "phone", "email", "url", "ip", "ssn", "mrn",
                  "health_plan", "account", "license", "vehicle", "device"]

#: free-text kinds: people and places, found with spaCy's named entities plus context cues
FREE_TEXT_KINDS: tuple[str, ...] = ("name", "address", "location")
#: kinds with a recognisable shape (patterns, checksums, labels)
STRUCTURED_KINDS: tuple[str, ...] = ("zip", "date", "age", "phone", "email", "url", "ip", "ssn", "mrn", "health_plan",
                                     "account", "license", "vehicle", "device")
ALL_KINDS: tuple[str, ...] = (*FREE_TEXT_KINDS, *STRUCTURED_KINDS)

#: placeholder stem per kind: the scrubber writes ``[NAME_1]``, ``[DATE_2]``... (or ``[NAME]`` without numbering)
TAGS: dict[str, str] = {kind: kind.upper() for kind in ALL_KINDS}


@dataclass(frozen=True)
class PhiMatch:
    """One identifier found in a text: its kind and character span (the text itself is never logged)."""

    kind: str
    start: int
    end: int


def check_kinds(kinds: Iterable[str]) -> frozenset[str]:
    """``kinds`` as a set, or a ``ValueError`` naming the unknown ones and the valid choices."""
    kinds = frozenset([kinds] if isinstance(kinds, str) else kinds)
    unknown = sorted(kinds - set(ALL_KINDS))
    if unknown:
        raise ValueError(f"PHI kinds must be among {list(ALL_KINDS)}, got {unknown}")
    return kinds
