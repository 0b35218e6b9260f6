"""Fixtures of the evaluation tests: a small valid BEIR folder written in tmp, real MiniLM, real data subsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DOCS = {
    "d1": ("Hypertension", "High blood pressure is treated with diuretics and ACE inhibitors."),
    "d2": ("Diabetes", "Type 2 diabetes is managed with metformin, diet and exercise."),
    "d3": ("", "Asthma attacks are relieved with inhaled beta agonists."),
    "d4": ("Anemia", "Anemia is a low number of red blood cells or low hemoglobin."),
    "d5": ("", "Antibiotics do not work against viral infections such as the flu."),
    "d6": ("Stroke", "Sudden numbness, confusion and trouble speaking are signs of a stroke."),
}
QUERIES = {
    "q1": "How is high blood pressure treated?",
    "q2": "Which drug is used for type 2 diabetes?",
    "q3": "What relieves an asthma attack?",
    "q4": "Do antibiotics cure the flu?",
    "q5": "What are the signs of a stroke?",
}
QRELS = [("q1", "d1", 2), ("q1", "d4", 0), ("q2", "d2", 1), ("q3", "d3", 1), ("q4", "d5", 1), ("q5", "d6", 2),
         ("q5", "d1", 1)]


def write_beir(folder: Path, *, docs=DOCS, queries=QUERIES, qrels=QRELS, split: str = "test") -> Path:
    """Write a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv with header)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as handle:
        for doc_id, (title, text) in docs.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as handle:
        for query_id, text in queries.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    with open(folder / "qrels" / f"{split}.tsv", "w") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for query_id, doc_id, score in qrels:
            handle.write(f"{query_id}\t{doc_id}\t{score}\n")
    return folder


@pytest.fixture
def beir_folder(tmp_path) -> Path:
    return write_beir(tmp_path / "toy")


@pytest.fixture(scope="session")
def medquad_small(samples):
    """A real MedQuAD subset: 12 test queries over their answers plus distractors (30 documents)."""
    from sbert_med.data.beir import load_beir

    data = load_beir(samples / "medquad", "test")
    return data.subset(max_queries=12, max_corpus=30, seed=1)
