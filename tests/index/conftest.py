"""Fixtures of the index tests: small models built from the shared tiny checkpoints and a small real corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize

from sbert_med.modules import encoder_tower

MEDQUAD_SUBSET_SIZE = 48


def tiny_sentence_model(path: str) -> SentenceTransformer:
    return SentenceTransformer(modules=[*encoder_tower(path, pooling="mean", max_seq_length=64), Normalize()],
                               device="cpu")


@pytest.fixture(scope="session")
def tiny_model(tiny_encoder_path) -> SentenceTransformer:
    return tiny_sentence_model(tiny_encoder_path)


@pytest.fixture(scope="session")
def medquad_subset(samples, tmp_path_factory) -> Path:
    """A BEIR-style JSONL of the answers to the first MedQuAD test queries (answers cut to 400 characters)."""
    folder = samples / "medquad"
    relevant: dict[str, str] = {}
    with (folder / "qrels" / "test.tsv").open() as handle:
        next(handle)
        for line in handle:
            query_id, doc_id, score = line.rstrip("\n").split("\t")
            if int(score) > 0 and doc_id not in relevant.values():
                relevant.setdefault(query_id, doc_id)
            if len(relevant) == MEDQUAD_SUBSET_SIZE:
                break
    wanted = set(relevant.values())
    out = tmp_path_factory.mktemp("medquad_subset") / "corpus.jsonl"
    with (folder / "corpus.jsonl").open() as source, out.open("w") as target:
        for line in source:
            row = json.loads(line)
            if row["_id"] in wanted:
                row["text"] = row["text"][:400]
                target.write(json.dumps(row) + "\n")
    queries = {}
    with (folder / "queries.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            if row["_id"] in relevant:
                queries[row["_id"]] = row["text"]
    (out.parent / "pairs.json").write_text(json.dumps([[queries[q], d] for q, d in relevant.items()]))
    return out
