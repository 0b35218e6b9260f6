from __future__ import annotations

from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer

from sbert_med.cli import build_parser


def test_tiny_models_load(tiny_encoder_path, tiny_decoder_path):
    model = SentenceTransformer(tiny_encoder_path)
    assert model.encode(["chest pain"]).shape == (1, 32)
    tok = AutoTokenizer.from_pretrained(tiny_decoder_path)
    assert tok.pad_token == tok.eos_token == "<|endoftext|>"
    assert tok("chest pain")["input_ids"][-1] != tok.eos_token_id  # like Qwen: EOS is not appended by default


def test_cli_lists_every_command():
    parser = build_parser()
    text = parser.format_help()
    for name in ("demo", "train", "data", "eval", "index", "push", "tokenizer"):
        assert name in text
