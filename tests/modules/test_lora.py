from __future__ import annotations

import numpy as np
import pytest
import torch
from peft import LoraConfig, PeftModel
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize

from sbert_med.modules import add_lora, eos_tower, has_lora, merge_lora

LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
DOCUMENTS = ["Thiazide diuretics lower blood pressure.", "Metformin is first-line for type 2 diabetes mellitus."]


def _perturb_lora(model: SentenceTransformer) -> None:
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)  # B starts at zero: make the adapter change the output


def test_lora_on_the_document_tower_only(tiny_model):
    query_before = {n: p.requires_grad for n, p in tiny_model[0].sub_modules["query"].named_parameters()}
    add_lora(tiny_model, route="document", config=LoraConfig(**LORA))
    document = tiny_model[0].sub_modules["document"]
    assert isinstance(document[0].model, PeftModel) and has_lora(tiny_model)
    trainable = [n for n, p in document.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n: p.requires_grad for n, p in tiny_model[0].sub_modules["query"].named_parameters()} == query_before


def test_merged_lora_matches_adapter_and_reloads_plainly(tiny_model, tmp_path):
    add_lora(tiny_model, config=LORA)
    _perturb_lora(tiny_model)
    with_adapter = tiny_model.encode_document(DOCUMENTS)
    merge_lora(tiny_model)
    assert not has_lora(tiny_model)
    np.testing.assert_allclose(tiny_model.encode_document(DOCUMENTS), with_adapter, atol=1e-5)
    tiny_model.save(str(tmp_path / "merged"))
    files = {p.name for p in (tmp_path / "merged" / "document_0_Transformer").iterdir()}
    assert "adapter_config.json" not in files and "model.safetensors" in files
    reloaded = SentenceTransformer(str(tmp_path / "merged"))
    np.testing.assert_allclose(reloaded.encode_document(DOCUMENTS), with_adapter, atol=1e-5)


def test_lora_on_a_symmetric_decoder_model(tiny_decoder_path, tmp_path):
    model = SentenceTransformer(modules=[*eos_tower(tiny_decoder_path), Normalize()])
    add_lora(model, config=LORA)  # CardioEmbed layout: one decoder tower + LoRA
    _perturb_lora(model)
    expected = model.encode(DOCUMENTS)
    merge_lora(model).save(str(tmp_path / "m"))
    np.testing.assert_allclose(SentenceTransformer(str(tmp_path / "m")).encode(DOCUMENTS), expected, atol=1e-5)


def test_lora_bad_input(tiny_model):
    with pytest.raises(ValueError, match=r"route must be one of \['document', 'query'\], got 'doc'"):
        add_lora(tiny_model, route="doc")
    add_lora(tiny_model, config=LORA)
    with pytest.raises(ValueError, match="already carries an adapter"):
        add_lora(tiny_model, config=LORA)
    with pytest.raises(ValueError, match="config must be"):
        add_lora(tiny_model, route="query", config=42)


def test_default_lora_config_targets_all_linear_layers(tiny_decoder_path):
    model = SentenceTransformer(modules=[*eos_tower(tiny_decoder_path), Normalize()])
    add_lora(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("mlp" in n for n in names) and any("self_attn" in n for n in names)
