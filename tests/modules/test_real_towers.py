"""Towers and checks on the real pair: all-MiniLM-L6-v2 (query) + SmolLM2-135M (document)."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling

from sbert_med.modules import appends_eos, check_model


def test_check_passes_on_the_real_pair(real_model_session):
    report = check_model(real_model_session, strict=True)
    assert report.passed
    document = real_model_session[0].sub_modules["document"][0]
    assert appends_eos(document.tokenizer) and document.tokenizer.pad_token is not None
    assert real_model_session.encode_document(["Fever."]).shape == (1, 384)


@pytest.mark.slow
def test_real_instruct_decoder_would_pool_on_its_chat_template(smollm2_path):
    """SmolLM2-135M-Instruct ships a chat template: a plain Transformer renders every text through it and the
    last token is the template's trailing newline, not EOS. check_model catches it."""
    plain = Transformer(smollm2_path, max_seq_length=32)
    plain.tokenizer.add_eos_token = True  # even with EOS appended, the template suffix comes last
    naive = SentenceTransformer(modules=[plain, Pooling(576, "lasttoken"), Normalize()])
    assert "message" in plain.modality_config
    report = check_model(naive)
    assert [r.name for r in report.failures] == ["eos_last"]
