"""Medical tokenizers: how a tokenizer fragments medical words, and whole-word medical tokens added to a model.

* Analysis (:func:`analyze_tokenizer`): tokens per word and the share of fragmented words on a corpus.
* Extension (:func:`learn_medical_tokens`, :func:`extend_tokenizer`): new whole-word medical tokens whose embeddings
  start as the mean of their old pieces; a text without a new word tokenises and embeds as before.

The command line is ``sbert-med tokenizer analyze|extend``; the MedEIR recipe (:mod:`sbert_med.recipes.medeir`)
chains the extension with masked-language-model pretraining.
"""

from __future__ import annotations

from sbert_med.tokenizer.analysis import FragmentationReport, analyze_tokenizer
from sbert_med.tokenizer.extension import (
    ExtensionReport,
    NewToken,
    check_untouched_tokenization,
    extend_tokenizer,
    learn_medical_tokens,
)

__all__ = [
    "ExtensionReport",
    "FragmentationReport",
    "NewToken",
    "analyze_tokenizer",
    "check_untouched_tokenization",
    "extend_tokenizer",
    "learn_medical_tokens",
]
