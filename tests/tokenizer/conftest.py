"""Fixtures of the tokenizer tests: real OpenStax text and MedQuAD answers from ../shared/data."""

from __future__ import annotations

import pytest

from sbert_med.data.corpus import read_texts


@pytest.fixture(scope="session")
def openstax_paragraphs(shared_data) -> list[str]:
    return read_texts(shared_data / "openstax_ap2e" / "paragraphs.jsonl", limit=1500)


@pytest.fixture(scope="session")
def openstax_sentences(shared_data) -> list[str]:
    return read_texts(shared_data / "openstax_ap2e" / "sentences_all.txt", limit=3000)


@pytest.fixture(scope="session")
def glossary_terms(shared_data) -> list[str]:
    from sbert_med.data.corpus import read_glossary_terms

    return read_glossary_terms(shared_data / "openstax_ap2e" / "glossary.tsv")
