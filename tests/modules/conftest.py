"""Fixtures for the foundation tests: tiny asymmetric models (mechanics) and the real MiniLM + SmolLM2 pair."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower

REAL_MAX_SEQ_LENGTH = 32


@pytest.fixture
def tiny_model(tiny_encoder_path, tiny_decoder_path) -> SentenceTransformer:
    """32-d BERT query tower + 64-d Qwen2 EOS document tower, Matryoshka-bridged (truncate_dim=32)."""
    return build_asymmetric_model(
        encoder_tower(tiny_encoder_path, pooling="mean"), eos_tower(tiny_decoder_path), bridge="truncate"
    )


@pytest.fixture(scope="session")
def real_model_session(minilm_path, smollm2_path) -> SentenceTransformer:
    """all-MiniLM-L6-v2 (query, 384-d) + SmolLM2-135M (document, 576-d, EOS pooling), truncate bridge."""
    return build_asymmetric_model(
        encoder_tower(minilm_path, max_seq_length=REAL_MAX_SEQ_LENGTH),
        eos_tower(smollm2_path, max_seq_length=REAL_MAX_SEQ_LENGTH),
        bridge="truncate",
    )
