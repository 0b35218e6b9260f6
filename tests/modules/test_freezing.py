from __future__ import annotations

import pytest
from peft import LoraConfig

from sbert_med.modules import add_lora, freeze_route, frozen_routes, unfreeze_route


def test_frozen_tower_stays_in_eval_mode(tiny_model):
    freeze_route(tiny_model, "document")
    document = tiny_model[0].sub_modules["document"]
    assert not any(p.requires_grad for p in document.parameters())
    assert frozen_routes(tiny_model) == ["document"]
    tiny_model.train()  # what the trainer does every step
    assert tiny_model.training and tiny_model[0].sub_modules["query"].training
    assert not document.training and not any(m.training for m in document.modules())
    unfreeze_route(tiny_model, "document")
    tiny_model.train()
    assert document.training and all(p.requires_grad for p in document.parameters())


def test_unfreeze_keeps_lora_base_weights_frozen(tiny_model):
    add_lora(tiny_model, config=LoraConfig(r=2, target_modules=["q_proj"]))
    document = tiny_model[0].sub_modules["document"]
    before = {n: p.requires_grad for n, p in document.named_parameters()}
    freeze_route(tiny_model, "document")
    freeze_route(tiny_model, "document")  # twice: the saved flags are not overwritten
    unfreeze_route(tiny_model, "document")
    assert {n: p.requires_grad for n, p in document.named_parameters()} == before


def test_freezing_bad_input(tiny_model, tiny_encoder_path):
    with pytest.raises(ValueError, match=r"route must be one of \['document', 'query'\], got 'documents'"):
        freeze_route(tiny_model, "documents")
    from sentence_transformers import SentenceTransformer

    with pytest.raises(ValueError, match="need a Router model"):
        freeze_route(SentenceTransformer(tiny_encoder_path), "document")
