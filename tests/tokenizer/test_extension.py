from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from tokenizers import AddedToken

from sbert_med.tokenizer import (
    analyze_tokenizer,
    check_untouched_tokenization,
    extend_tokenizer,
    learn_medical_tokens,
)


def _tiny_model(path: str) -> SentenceTransformer:
    return SentenceTransformer(path, device="cpu")


def test_extension_mechanics_and_mean_init(tiny_encoder_path):
    model = _tiny_model(tiny_encoder_path)
    tokenizer = model.tokenizer
    words = ["hypertension", "diuretics"]
    before_ids = {word: tokenizer(word, add_special_tokens=False)["input_ids"] for word in words}
    old_rows = model[0].auto_model.get_input_embeddings().weight.detach().clone()
    report = extend_tokenizer(model, ["Hypertension", "diuretics", "heart", "two words", "123"])
    assert report.added == ["hypertension", "diuretics"]
    assert report.skipped == {"heart": "already in the vocabulary", "two words": "not a single word",
                              "123": "not a single word"}
    assert report.new_vocab_size == report.old_vocab_size + 2 == len(model.tokenizer)
    weight = model[0].auto_model.get_input_embeddings().weight
    assert weight.shape[0] == len(model.tokenizer) == model[0].auto_model.config.vocab_size
    assert torch.equal(weight[: old_rows.shape[0]], old_rows)  # old rows untouched
    for word, ids in before_ids.items():
        new_id = model.tokenizer.convert_tokens_to_ids(word)
        torch.testing.assert_close(weight[new_id], old_rows[ids].mean(dim=0))
    assert model.tokenizer.tokenize("HYPERTENSION, treated.") == ["hypertension", ",", "treated", "."]
    # only whole words: a longer word containing a new token keeps its old pieces
    assert "hypertension" not in model.tokenizer.tokenize("antihypertension hypertensions")


def test_save_plain_reload_identical(tiny_encoder_path, tmp_path, tiny_corpus):
    model = _tiny_model(tiny_encoder_path)
    extend_tokenizer(model, ["hypertension", "diuretics", "corticosteroids"])
    model.save(str(tmp_path / "extended"))
    reloaded = SentenceTransformer(str(tmp_path / "extended"), device="cpu")  # no trust_remote_code
    assert [type(module).__name__ for module in reloaded] == [type(module).__name__ for module in model]
    texts = tiny_corpus + ["Hypertension and diuretics."]
    assert reloaded.tokenizer(texts)["input_ids"] == model.tokenizer(texts)["input_ids"]
    np.testing.assert_array_equal(reloaded.encode(texts), model.encode(texts))


def test_untouched_check_can_fail(tiny_encoder_path, tiny_corpus):
    model = _tiny_model(tiny_encoder_path)
    import copy

    base = copy.deepcopy(model.tokenizer)
    model.tokenizer.add_tokens([AddedToken("tension", single_word=False, normalized=True)])  # matches inside words
    with pytest.raises(RuntimeError, match="has no new word but tokenises differently"):
        check_untouched_tokenization(base, model.tokenizer, ["Hypertension is common."], new_words=["tension"])
    clean = [text for text in tiny_corpus if "tension" not in text.lower()]
    assert check_untouched_tokenization(base, model.tokenizer, clean, new_words=["tension"]) == (len(clean),) * 2


def test_refuses_non_wordpiece(tiny_decoder_path):
    model = _tiny_model(tiny_decoder_path)
    with pytest.raises(ValueError, match="supports WordPiece tokenizers .* got a BPE tokenizer"):
        extend_tokenizer(model, ["hypertension"])
    with pytest.raises(ValueError, match="route"):
        extend_tokenizer(model, ["hypertension"], route="document")


def test_learn_medical_tokens_from_textbook(minilm_path, openstax_paragraphs):
    tokenizer = SentenceTransformer(minilm_path, device="cpu").tokenizer
    learned = learn_medical_tokens(openstax_paragraphs, tokenizer, max_new_tokens=200, min_frequency=5)
    assert 50 <= len(learned) <= 200
    saved = [new.tokens_saved for new in learned]
    assert saved == sorted(saved, reverse=True)
    vocabulary = tokenizer.get_vocab()
    for new in learned:
        assert new.token.isalpha() and new.token not in vocabulary and len(new.base_pieces) >= 2
        assert new.frequency >= 5 and tokenizer.tokenize(new.token) == new.base_pieces
    assert {"epithelium", "cartilage", "vertebral", "epithelial"} & {new.token for new in learned}
    with pytest.raises(ValueError, match="min_pieces must be >= 2"):
        learn_medical_tokens(openstax_paragraphs, tokenizer, min_pieces=1)


def test_extended_minilm_untouched_text_embeds_identically(
    minilm_path, openstax_paragraphs, openstax_sentences, glossary_terms
):
    """Must be shown 2 (first half): the extension alone leaves the embeddings of untouched text unchanged."""
    base = SentenceTransformer(minilm_path, device="cpu")
    extended = SentenceTransformer(minilm_path, device="cpu")
    learned = learn_medical_tokens(openstax_paragraphs, extended.tokenizer, max_new_tokens=300, min_frequency=5)
    report = extend_tokenizer(extended, learned, check_texts=openstax_sentences)
    assert len(report.added) == len(learned) > 100
    assert report.checked_texts == len(openstax_sentences) and report.unchanged_texts > 500
    # fragmentation of the glossary terms drops
    assert analyze_tokenizer(extended.tokenizer, glossary_terms).tokens_per_word < analyze_tokenizer(
        base.tokenizer, glossary_terms).tokens_per_word - 0.1
    new_words = set(report.added)
    normalize = extended.tokenizer.backend_tokenizer.normalizer.normalize_str
    # words split on any punctuation: "Like anatomists, physiologists ..." holds the new word "anatomists"
    untouched = [s for s in openstax_sentences if not new_words & set(re.findall(r"\w+", normalize(s)))][:48]
    touched = [s for s in openstax_sentences if new_words & set(normalize(s).split())][:16]
    assert len(untouched) == 48 and len(touched) == 16
    np.testing.assert_allclose(extended.encode(untouched), base.encode(untouched), atol=1e-6, rtol=0)
    differences = np.abs(extended.encode(touched) - base.encode(touched)).max(axis=1)
    assert (differences > 1e-3).all()  # text with new words does get new tokens
