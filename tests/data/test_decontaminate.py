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


def write_beir(folder):
    (folder / "qrels").mkdir(parents=True)
    (folder / "queries.jsonl").write_text(
        '{"_id": "q1", "text": "How is gout treated?"}\n{"_id": "q2", "text": "What causes anemia?"}\n')
    (folder / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "Gout", "text": "Gout flares are treated with colchicine and NSAIDs."}\n'
        '{"_id": "d2", "title": "", "text": "Iron deficiency is the commonest cause of anemia."}\n'
        '{"_id": "d3", "title": "", "text": "Hypertension is treated with diuretics."}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\n")


def test_against_a_beir_split_by_query_document_text_and_id(tmp_path):
    from sbert_med.data import beir_eval_set, load_beir

    write_beir(tmp_path / "beir")
    split = load_beir(tmp_path / "beir", "test")
    train = Dataset.from_dict({
        "query_id": ["t1", "q2", "t3", "t4", "t5"],
        "query": ["HOW is gout treated ?", "Some paraphrase", "What lowers blood pressure?", "What is lupus?",
                  "What treats gout flares?"],
        "document": ["Colchicine.", "Anything.", "Hypertension is treated with diuretics.",
                     "Lupus is an autoimmune disease.", "Gout flares are treated with colchicine and NSAIDs."],
    })
    clean, report = decontaminate(train, eval_texts=beir_eval_set(split), show_progress_bar=False,
                                  return_report=True)
    # t1: the eval query; q2: an eval query id; t5: an eval document (judged, title stripped); t3's document is
    # only a distractor of the split
    assert clean["query_id"] == ["t3", "t4"]
    assert report.dropped == {"exact": 2, "eval_id": 1}
    assert report.details["id_columns"] == ["query_id"] and report.counts["eval_ids"] == 4
    everything = decontaminate(train, eval_texts=beir_eval_set(split, corpus="all"), show_progress_bar=False)
    assert everything["query_id"] == ["t4"]
    with pytest.raises(ValueError, match="corpus must be one of"):
        beir_eval_set(split, corpus="some")
    with pytest.raises(ValueError, match=r"id_columns \['qid'\]"):
        decontaminate(train, eval_ids=["q1"], id_columns="qid")
