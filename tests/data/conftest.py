"""Fixtures of the data-pipeline tests: a loopback chat-completions server and MedQuAD loaders."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chat_server import ChatServer  # noqa: E402


@pytest.fixture
def chat_server():
    """Factory: ``with chat_server(script=...) as server: server.base_url``."""
    return ChatServer


@pytest.fixture(scope="session")
def medquad_train_pairs(samples) -> list[dict]:
    with open(samples / "medquad" / "train_pairs.tsv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="session")
def medquad_corpus(samples) -> dict[str, str]:
    corpus = {}
    with open(samples / "medquad" / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            corpus[row["_id"]] = row["text"]
    return corpus
