"""The offline demo behind ``sbert-med demo``: real medical data from PyPI -> MedEmbed recipe -> before/after."""

from __future__ import annotations

from sbert_med.demo.icd10 import build_icd10cm_retrieval
from sbert_med.demo.run import DemoResult, run_demo

__all__ = ["DemoResult", "build_icd10cm_retrieval", "run_demo"]
