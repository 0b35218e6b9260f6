from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from sbert_med.encoding import encode_long_documents
from sbert_med.modules import long_context_model
from sbert_med.training import continue_pretraining


@pytest.fixture(scope="module")
def tiny_modernbert_path(tmp_path_factory, minilm_path):
    """A random 2-layer ModernBERT (native in transformers) with 8,192 positions and MiniLM's tokenizer."""
    from transformers import AutoTokenizer, ModernBertConfig, ModernBertForMaskedLM

    out = tmp_path_factory.mktemp("tiny_modernbert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    tokenizer.model_max_length = 8192
    config = ModernBertConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=8192, global_attn_every_n_layers=2, local_attention=64,
        pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
    )
    torch.manual_seed(0)
    ModernBertForMaskedLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def _long_document(words: int) -> str:
    return " ".join(f"organ{i % 50} tissue" for i in range(words // 2))


def test_long_context_encoder_reads_8192_tokens(tiny_modernbert_path, tmp_path):
    model = long_context_model(tiny_modernbert_path, max_seq_length=8192)
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Normalize"]
    assert model.max_seq_length == 8192
    document = _long_document(3000)
    features = model.tokenize([document])
    assert features["input_ids"].shape[1] > 3000  # nothing cut at 512
    tail_changed = document + " the answer is hypertension"
    first, second = model.encode([document, tail_changed])
    assert not np.allclose(first, second, atol=1e-6)  # the end of a 3,000-token document is read
    _, report = encode_long_documents(model, [document], mode="truncate")
    assert report.num_truncated_documents == 0 and report.window_tokens == 8190
    model.save(str(tmp_path / "long"))
    reloaded = SentenceTransformer(str(tmp_path / "long"), device="cpu")  # no trust_remote_code
    assert reloaded.max_seq_length == 8192
    np.testing.assert_allclose(reloaded.encode([document]), model.encode([document]), atol=1e-5)


def test_long_context_mlm_keeps_the_checkpoint_head(tiny_modernbert_path, tmp_path, tiny_corpus):
    model = long_context_model(tiny_modernbert_path, max_seq_length=8192)
    report = continue_pretraining(model, tiny_corpus * 2, output_dir=tmp_path, max_steps=2, batch_size=8,
                                  max_length=64, use_cpu=True, show_progress_bar=False)
    assert report.head_from_checkpoint and report.global_step == 2


def test_refuses_more_tokens_than_positions(minilm_path, tiny_modernbert_path):
    with pytest.raises(ValueError, match="max_seq_length=8192 exceeds the 512 positions"):
        long_context_model(minilm_path, max_seq_length=8192)
    with pytest.raises(ValueError, match="max_seq_length=16384 exceeds the 8192 positions"):
        long_context_model(tiny_modernbert_path, max_seq_length=16384)
    with pytest.raises(ValueError, match="kind must be one of"):
        long_context_model(tiny_modernbert_path, kind="seq2seq")


@pytest.mark.slow
def test_smollm2_eos_tower_reads_past_token_512(smollm2_path, tmp_path):
    """SmolLM2-135M (8,192 positions, native Llama architecture) as an EOS-pooled long-context tower."""
    model = long_context_model(smollm2_path, max_seq_length=8192)
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Normalize"]
    assert model[1].pooling_mode == "lasttoken" and model.max_seq_length == 8192
    document = ("The heart pumps blood through the arteries and veins of the body. " * 120).strip()
    ids = model.tokenize([document])["input_ids"][0]
    assert len(ids) > 1500 and ids[-1].item() == model.tokenizer.eos_token_id  # EOS appended, nothing truncated
    variants = [document + " Hypertension is treated with diuretics.", document + " Asthma is treated with inhalers."]
    embeddings = model.encode(variants)
    assert not np.allclose(embeddings[0], embeddings[1], atol=1e-4)  # words after token 1,500 change the vector
    model.save(str(tmp_path / "smollm2"))
    reloaded = SentenceTransformer(str(tmp_path / "smollm2"), device="cpu")
    np.testing.assert_allclose(reloaded.encode(variants), embeddings, atol=1e-4)
