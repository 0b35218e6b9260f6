"""Fixtures for the loss tests: a tiny asymmetric model (mechanics)."""

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
