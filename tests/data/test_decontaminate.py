"""decontaminate: training rows overlapping evaluation texts are dropped, with reasons."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from sbert_med.data import decontaminate

EVAL = [
    "What are the symptoms of Q fever?",
    "Q fever is caused by Coxiella burnetii, a bacterium that infects cattle, sheep and goats; people catch it by "
    "breathing in dust contaminated by infected animals, and most have fever, headache and muscle pain.",
]


def test_exact_near_ngram_and_clean_rows():
    train = Dataset.from_dict({
        "query": ["what are the SYMPTOMS of Q-fever", "How is asthma treated?", "How is gout treated?",
                  "How is lupus treated?"],
        "positive": [
            "Unrelated answer about fevers in general.",
            # near duplicate of the eval document (one word changed)
            "Q fever is caused by Coxiella burnetii, a bacterium that infects cattle, sheep and goats; people catch "
            "it by breathing in dust contaminated by infected animals, and most have fever, headache and joint pain.",
            # contains 13+ words of the eval document inside a longer passage
            "Gout is treated with colchicine. Unrelated: people catch it by breathing in dust contaminated by "
            "infected animals, and most have fever, as one textbook says about another disease entirely.",
            "Lupus is treated with hydroxychloroquine and corticosteroids.",
        ],
        "n": [0, 1, 2, 3],
    })
    clean, report = decontaminate(train, eval_texts=EVAL, show_progress_bar=False, return_report=True)
    assert clean["n"] == [3]
    assert report.dropped == {"exact": 1, "near_duplicate": 1, "ngram_overlap": 1}
    only_queries = decontaminate(train, eval_texts=EVAL, columns="query", show_progress_bar=False)
    assert only_queries["n"] == [1, 2, 3]


def test_list_columns_are_checked():
    train = Dataset.from_dict({"query": ["a question here", "another question"],
                               "negatives": [["What are the symptoms of Q fever ?"], ["something else"]]})
    assert decontaminate(train, eval_texts=EVAL, columns=["query", "negatives"], show_progress_bar=False)[
        "query"] == ["another question"]


def test_paraphrased_queries_need_the_embedding_check(minilm_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(minilm_path, device="cpu")
    train = Dataset.from_dict({"query": ["Which symptoms does Q fever cause?", "How is lupus treated?"]})
    assert len(decontaminate(train, eval_texts=EVAL, show_progress_bar=False)) == 2
    clean, report = decontaminate(train, eval_texts=EVAL, model=model, embedding_threshold=0.85,
                                  show_progress_bar=False, return_report=True)
    assert clean["query"] == ["How is lupus treated?"] and report.dropped == {"embedding": 1}


def test_medquad_train_against_its_test_queries(samples):
    queries = [json.loads(line) for line in open(samples / "medquad" / "queries.jsonl", encoding="utf-8")]
    test = [row["text"] for row in queries if row["metadata"]["split"] == "test"]
    train_texts = [row["text"] for row in queries if row["metadata"]["split"] == "train"]
    # MedQuAD is split by topic page, so no test question recurs verbatim in train (none in the full data either);
    # two planted ones (one verbatim, one in other case and spacing) must be the only rows removed
    planted = [test[0], "  " + test[1].upper()]
    train = Dataset.from_dict({"query": train_texts[:100] + planted + train_texts[100:]})
    clean, report = decontaminate(train, eval_texts=test, columns="query", ngram_overlap=None,
                                  show_progress_bar=False, return_report=True)
    assert report.rows_in == len(train) and report.rows_out == len(clean) == len(train_texts)
    assert clean["query"] == train_texts
    assert {row for row in clean["query"]}.isdisjoint({text for text in test})


def test_bad_arguments():
    train = Dataset.from_dict({"query": ["a"], "n": [1]})
    with pytest.raises(ValueError, match="eval_texts is empty"):
        decontaminate(train, eval_texts=[])
    with pytest.raises(ValueError, match="not text columns"):
        decontaminate(train, eval_texts=EVAL, columns="text")
