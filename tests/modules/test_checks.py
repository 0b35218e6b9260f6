from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Module, Normalize, Router

from sbert_med.modules import check_model, encoder_tower, eos_tower


class NaiveLastToken(Module):
    """``last_hidden_state[:, -1]`` pooling, as in CardioEmbed's snippet: a pad token under right padding."""

    config_keys: list[str] = []

    def forward(self, features, **kwargs):
        features["sentence_embedding"] = features["token_embeddings"][:, -1]
        return features

    def get_embedding_dimension(self) -> int:
        return 64

    def save(self, output_path, *args, **kwargs) -> None:
        self.save_config(output_path)


def test_check_passes_on_built_models(tiny_model):
    report = check_model(tiny_model, strict=True)
    names = {(r.route, r.name) for r in report.results}
    assert {("document", "eos_last"), ("query", "batch_consistency"), ("model", "widths")} <= names
    assert report.passed and "passed" in str(report)


def test_check_fails_when_the_tokenizer_drops_eos(tiny_model):
    tiny_model[0].sub_modules["document"][0].tokenizer.add_eos_token = False  # e.g. a tokenizer upgrade
    report = check_model(tiny_model)
    assert [(r.route, r.name) for r in report.failures] == [("document", "eos_last")]
    with pytest.raises(ValueError, match=r"FAIL\] document: eos_last"):
        check_model(tiny_model, strict=True)


def test_check_fails_on_right_padded_last_position_pooling(tiny_decoder_path):
    transformer = eos_tower(tiny_decoder_path, padding_side="right")[0]
    model = SentenceTransformer(modules=[transformer, NaiveLastToken(), Normalize()])
    report = check_model(model)
    failed = {r.name for r in report.failures}
    assert "batch_consistency" in failed and "builtin_modules" in failed
    assert "min cosine" in str(report)


def test_check_fails_on_width_mismatch(tiny_encoder_path, tiny_decoder_path):
    router = Router.for_query_document(encoder_tower(tiny_encoder_path), eos_tower(tiny_decoder_path))
    model = SentenceTransformer(modules=[router, Normalize()])
    report = check_model(model)
    assert [(r.route, r.name) for r in report.failures] == [("model", "widths")]


def test_check_fails_on_missing_normalize(tiny_encoder_path):
    model = SentenceTransformer(modules=encoder_tower(tiny_encoder_path))
    assert [r.name for r in check_model(model).failures] == ["unit_norm"]


def test_check_restores_training_mode(tiny_model):
    tiny_model.train()
    check_model(tiny_model)
    assert tiny_model.training
    assert torch.is_grad_enabled()
