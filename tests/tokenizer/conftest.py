"""Fixtures of the tokenizer tests: real OpenStax text and MedQuAD answers from the samples in tests/data/samples."""

from __future__ import annotations

import pytest

from sbert_med.data.corpus import read_texts


@pytest.fixture(scope="session")
def openstax_paragraphs(samples) -> list[str]:
    return read_texts(samples / "openstax_ap2e" / "paragraphs.jsonl", limit=1500)


@pytest.fixture(scope="session")
def openstax_sentences(samples) -> list[str]:
    return read_texts(samples / "openstax_ap2e" / "sentences_all.txt", limit=3000)


@pytest.fixture(scope="session")
def glossary_terms(samples) -> list[str]:
    from sbert_med.data.corpus import read_glossary_terms

    return read_glossary_terms(samples / "openstax_ap2e" / "glossary.tsv")
