"""Masked language modelling on the encoder of a SentenceTransformer (moving to :mod:`sbert_med.training`).

The other MedEIR tools live where their users are: :mod:`sbert_med.tokenizer` (analysis, extension),
:func:`sbert_med.modules.long_context_model`, :func:`sbert_med.encoding.encode_long_documents` and
:func:`sbert_med.data.corpus.read_texts`.
"""

from __future__ import annotations

from sbert_med.medeir.mlm import MLMReport, continue_pretraining

__all__ = ["MLMReport", "continue_pretraining"]
