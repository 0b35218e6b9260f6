"""Synthetic and curated training data for medical embedding models.

Every step is a pure ``Dataset -> Dataset`` function with keyword-only options (like sentence-transformers'
``mine_hard_negatives``); ``return_report=True`` also returns a :class:`StepReport`. Generated rows carry their
provenance (``source_id, generator, prompt_name, prompt_version, seed``), and LLM steps journal every output to JSONL
so a killed job resumes without losing or repeating work.
"""

from __future__ import annotations

from sbert_med.data.alignment import load_alignment_texts
from sbert_med.data.beir import BeirData, load_beir
from sbert_med.data.decontaminate import EvalSet, beir_eval_set, decontaminate
from sbert_med.data.diversify import DEFAULT_THRESHOLDS, diversify, diversity_mask
from sbert_med.data.generate import generate_paraphrases, generate_queries
from sbert_med.data.jsonl import ResumableJsonlWriter, read_jsonl, write_jsonl
from sbert_med.data.label import label_relevance
from sbert_med.data.medline import MedlineRecord, iter_medline, load_medline
from sbert_med.data.mining import MiningOptions, mine_negatives
from sbert_med.data.near_duplicates import NearDuplicateIndex
from sbert_med.data.pairs import load_training_pairs, truncate_to_tokens
from sbert_med.data.phi import PhiReport, find_phi, scrub_phi, scrub_text
from sbert_med.data.report import StepReport
from sbert_med.data.templates import PromptTemplate, available_prompts, load_prompt
from sbert_med.data.textbook import ingest_textbook, load_textbook

__all__ = [
    "BeirData",
    "MiningOptions",
    "DEFAULT_THRESHOLDS",
    "EvalSet",
    "MedlineRecord",
    "NearDuplicateIndex",
    "PhiReport",
    "PromptTemplate",
    "ResumableJsonlWriter",
    "StepReport",
    "available_prompts",
    "beir_eval_set",
    "decontaminate",
    "diversify",
    "diversity_mask",
    "find_phi",
    "generate_paraphrases",
    "generate_queries",
    "ingest_textbook",
    "iter_medline",
    "label_relevance",
    "load_alignment_texts",
    "load_beir",
    "load_medline",
    "load_prompt",
    "load_training_pairs",
    "load_textbook",
    "mine_negatives",
    "read_jsonl",
    "scrub_phi",
    "scrub_text",
    "truncate_to_tokens",
    "write_jsonl",
]
