"""MedEIR: a medical tokenizer and long-context medical encoders.

* Tokenizer analysis (:func:`analyze_tokenizer`): tokens per word and fragmentation of medical terms.
* Tokenizer extension (:func:`learn_medical_tokens`, :func:`extend_tokenizer`): new whole-word medical tokens,
  embeddings initialised as the mean of their old pieces; text without new words tokenises and embeds as before.
* Long documents: :func:`long_context_model` (native long-context backbones, up to 8,192 tokens) and
  :func:`encode_long_documents` (chunk-and-pool for 512-token models; truncation is counted and reported).

The recipe that chains them with continued pretraining (:func:`sbert_med.training.continue_pretraining`) and
contrastive fine-tuning is :mod:`sbert_med.recipes.medeir`.
"""

from __future__ import annotations

from sbert_med.medeir.corpus import read_glossary_terms, read_texts
from sbert_med.medeir.long_context import long_context_model, max_positions
from sbert_med.medeir.long_documents import LongDocumentReport, encode_long_documents, split_into_chunks
from sbert_med.medeir.tokenizer_analysis import FragmentationReport, analyze_tokenizer
from sbert_med.medeir.tokenizer_extension import (
    ExtensionReport,
    NewToken,
    check_untouched_tokenization,
    extend_tokenizer,
    learn_medical_tokens,
)

__all__ = [
    "ExtensionReport",
    "FragmentationReport",
    "LongDocumentReport",
    "NewToken",
    "analyze_tokenizer",
    "check_untouched_tokenization",
    "encode_long_documents",
    "extend_tokenizer",
    "learn_medical_tokens",
    "long_context_model",
    "max_positions",
    "read_glossary_terms",
    "read_texts",
    "split_into_chunks",
]
