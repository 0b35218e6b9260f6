"""Fixtures for the training tests: MedQuAD sample pairs and a fresh copy of the real MiniLM + SmolLM2 pair."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer


@pytest.fixture(scope="session")
def medquad_pairs(samples) -> list[tuple[str, str]]:
    """(question, answer) training pairs of the MedQuAD sample, spread over topics (every 5th row: 79 pairs)."""
    import csv

    with open(samples / "medquad" / "train_pairs.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(row["query"], row["document"]) for row in rows[::5]]


@pytest.fixture
def real_model(real_model_session) -> SentenceTransformer:
    import copy

    return copy.deepcopy(real_model_session)
