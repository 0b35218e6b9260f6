"""Scrubbing of personal health information (the HIPAA Safe Harbor identifiers that text can carry).

* :mod:`~sbert_med.data.phi.kinds`: the identifier kinds and placeholders;
* :mod:`~sbert_med.data.phi.recognizers`: the Presidio recognizers, one registry;
* :mod:`~sbert_med.data.phi.patterns`: the date and address building blocks both finders use;
* :mod:`~sbert_med.data.phi.engine`: the Presidio analyzer on spaCy's small English pipeline, offline;
* :mod:`~sbert_med.data.phi.allow_list`: eponymous diseases, signs and drug names that are not people;
* :mod:`~sbert_med.data.phi.scrubber`: find, replace with consistent typed placeholders, report;
* :mod:`~sbert_med.data.phi.regex`: the regex-only finder (``method="regex"``), kept as a fast baseline.
"""

from __future__ import annotations

from sbert_med.data.phi.kinds import ALL_KINDS, FREE_TEXT_KINDS, STRUCTURED_KINDS, TAGS, PhiKind, PhiMatch
from sbert_med.data.phi.report import PhiReport
from sbert_med.data.phi.scrubber import (
    METHODS,
    find_phi,
    find_phi_batch,
    replace_phi,
    scrub_phi,
    scrub_text,
    scrub_texts,
)

__all__ = [
    "ALL_KINDS",
    "FREE_TEXT_KINDS",
    "METHODS",
    "STRUCTURED_KINDS",
    "TAGS",
    "PhiKind",
    "PhiMatch",
    "PhiReport",
    "find_phi",
    "find_phi_batch",
    "replace_phi",
    "scrub_phi",
    "scrub_text",
    "scrub_texts",
]
