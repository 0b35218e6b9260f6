"""Fixtures for the training tests: a tiny asymmetric model (mechanics)."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower


@pytest.fixture
def tiny_model(tiny_encoder_path, tiny_decoder_path) -> SentenceTransformer:
    """32-d BERT query tower + 64-d Qwen2 EOS document tower, Matryoshka-bridged (truncate_dim=32)."""
    return build_asymmetric_model(
        encoder_tower(tiny_encoder_path, pooling="mean"), eos_tower(tiny_decoder_path), bridge="truncate"
    )


@pytest.fixture
def tiny_project_model(tiny_encoder_path, tiny_decoder_path) -> SentenceTransformer:
    """The same towers bridged by a linear query projection (64-d outputs)."""
    return build_asymmetric_model(
        encoder_tower(tiny_encoder_path, pooling="mean"), eos_tower(tiny_decoder_path), bridge="project"
    )


REAL_MAX_SEQ_LENGTH = 32


@pytest.fixture(scope="session")
def medquad_pairs(samples) -> list[tuple[str, str]]:
    """(question, answer) training pairs of the MedQuAD sample, spread over topics (every 5th row: 79 pairs)."""
    import csv

    with open(samples / "medquad" / "train_pairs.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(row["query"], row["document"]) for row in rows[::5]]


@pytest.fixture(scope="session")
def real_model_session(minilm_path, smollm2_path) -> SentenceTransformer:
    """all-MiniLM-L6-v2 (query, 384-d) + SmolLM2-135M (document, 576-d, EOS pooling), truncate bridge."""
    return build_asymmetric_model(
        encoder_tower(minilm_path, max_seq_length=REAL_MAX_SEQ_LENGTH),
        eos_tower(smollm2_path, max_seq_length=REAL_MAX_SEQ_LENGTH),
        bridge="truncate",
    )


@pytest.fixture
def real_model(real_model_session) -> SentenceTransformer:
    import copy

    return copy.deepcopy(real_model_session)
