from __future__ import annotations

from types import SimpleNamespace

import pytest
from transformers import AutoTokenizer

from sbert_med.tokenizer import analyze_tokenizer


@pytest.fixture(scope="module")
def minilm_tokenizer(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path)


def test_counts_pieces_per_word(minilm_tokenizer):
    assert minilm_tokenizer.tokenize("hypertension is bad") == ["hyper", "##tension", "is", "bad"]
    report = analyze_tokenizer(minilm_tokenizer, ["Hypertension is bad, 120 mmHg!"], top_k=5)
    # words: hypertension, is, bad, mmHg -> digits and punctuation belong to no word
    assert report.num_words == 4
    pieces = {word: n for word, n, _ in report.most_fragmented}
    assert pieces["hypertension"] == 2
    expected_tokens = 2 + 1 + 1 + len(minilm_tokenizer.tokenize("mmhg"))
    assert report.num_word_tokens == expected_tokens
    assert report.tokens_per_word == pytest.approx(expected_tokens / 4)
    assert report.fragmented_share == pytest.approx(sum(n > 1 for n in [2, 1, 1, expected_tokens - 4]) / 4)
    assert "hypertension: 2×1" in report.to_markdown()


def test_byte_level_bpe_offsets(tiny_decoder_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_decoder_path)
    text = "Hypertension is treated with diuretics"
    report = analyze_tokenizer(tokenizer, [text])
    assert report.num_words == 5
    tokens = tokenizer.tokenize(text)
    assert report.num_word_tokens == len(tokens)  # every byte-level token belongs to exactly one word here


def test_medical_terms_are_fragmented_by_a_general_tokenizer(minilm_tokenizer, glossary_terms, smollm2_path):
    report = analyze_tokenizer(minilm_tokenizer, glossary_terms)
    assert report.num_texts == len(glossary_terms)
    assert report.tokens_per_word > 1.5 and report.fragmented_share > 0.3
    general = analyze_tokenizer(minilm_tokenizer, ["The man walked to the store and bought some bread today."])
    assert general.tokens_per_word == 1.0 and general.fragmented_share == 0.0
    smollm2 = analyze_tokenizer(AutoTokenizer.from_pretrained(smollm2_path), glossary_terms)
    assert smollm2.num_words == report.num_words  # same words, whatever the tokenizer


def test_rejects_bad_input(minilm_tokenizer):
    with pytest.raises(ValueError, match="fast tokenizer"):
        analyze_tokenizer(SimpleNamespace(is_fast=False), ["text"])  # a Python (slow) tokenizer has no offsets
    with pytest.raises(ValueError, match="single string"):
        analyze_tokenizer(minilm_tokenizer, "text")
    with pytest.raises(ValueError, match="no words"):
        analyze_tokenizer(minilm_tokenizer, ["123 456"])
