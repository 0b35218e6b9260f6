from __future__ import annotations

import argparse
import re

import pytest
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer

from sbert_med.cli import build_parser


def test_tiny_models_load(tiny_encoder_path, tiny_decoder_path):
    model = SentenceTransformer(tiny_encoder_path)
    assert model.encode(["chest pain"]).shape == (1, 32)
    tok = AutoTokenizer.from_pretrained(tiny_decoder_path)
    assert tok.pad_token == tok.eos_token == "<|endoftext|>"
    assert tok("chest pain")["input_ids"][-1] != tok.eos_token_id  # like Qwen: EOS is not appended by default


COMMANDS = ("demo", "train", "data", "eval", "index", "push", "tokenizer", "models")


def test_cli_lists_every_command(capsys, monkeypatch):
    """Every sub-command is registered, listed with a help line of its own, and answers ``--help`` with its usage.

    (Not a substring search of the whole help: the parser's description itself contains "train" and "evaluate".)"""
    monkeypatch.setenv("COLUMNS", "120")  # the help's layout follows the terminal width
    parser = build_parser()
    subcommands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    assert set(subcommands.choices) == set(COMMANDS)
    listed = {match.group(1) for match in re.finditer(r"^    (\w+)\s{2,}\S", parser.format_help(), re.MULTILINE)}
    assert listed == set(COMMANDS)
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([name, "--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: sbert-med {name}")
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["nope"])
    assert exit_info.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err
