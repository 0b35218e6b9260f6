"""mine_negatives: false-negative control on MedQuAD train with all-MiniLM-L6-v2."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from datasets import Dataset
from sentence_transformers.util import mine_hard_negatives

from sbert_med.data import mine_negatives
from sbert_med.data.text_normalize import normalize_for_match


@pytest.fixture(scope="module")
def medquad_subset(medquad_train_pairs):
    """Rows of 30 MedQuAD questions asked on several pages (same question, other answers) plus 120 distractors."""
    groups = defaultdict(list)
    for row in medquad_train_pairs:
        groups[normalize_for_match(row["query"])].append(row)
    duplicated = [key for key, rows in groups.items() if len({row["query_id"] for row in rows}) > 1]
    rng = random.Random(0)
    chosen = rng.sample(sorted(duplicated), 30)
    rows = [row for key in chosen for row in groups[key]]
    others = rng.sample([row for key, rows_ in groups.items() if key not in set(chosen) for row in rows_], 120)
    answers = {key: {normalize_for_match(row["document"]) for row in groups[key]} for key in groups}
    return rows, [row["document"] for row in others], answers


def own_answers_as_negatives(mined: Dataset, answers, negative_columns) -> int:
    return sum(normalize_for_match(row[column]) in answers[normalize_for_match(row["query"])]
               for row in mined for column in negative_columns)


@pytest.fixture(scope="module")
def embedding_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mining_cache"))


@pytest.mark.slow
def test_duplicate_questions_never_get_their_own_answers_as_negatives(minilm, medquad_subset, embedding_cache):
    rows, distractors, answers = medquad_subset
    dataset = Dataset.from_dict({"query": [row["query"] for row in rows],
                                 "document": [row["document"] for row in rows],
                                 "query_id": [row["query_id"] for row in rows]})
    # plain sentence-transformers groups only identical query strings: "What is (are) Q Fever ?" and
    # "What is (are) Q fever ?" then get each other's answers as hard negatives
    plain = mine_hard_negatives(dataset.select_columns(["query", "document"]), minilm, corpus=distractors,
                                num_negatives=3, output_format="n-tuple", use_faiss=True, verbose=False,
                                cache_folder=embedding_cache)
    assert own_answers_as_negatives(plain, answers, ["negative_1", "negative_2", "negative_3"]) > 0
    mined, report = mine_negatives(dataset, model=minilm, corpus=distractors, num_negatives=3, relative_margin=None,
                                   cache_dir=embedding_cache, return_report=True)
    assert len(mined) >= 0.9 * len(dataset)
    assert own_answers_as_negatives(mined, answers, ["negative_1", "negative_2", "negative_3"]) == 0
    assert report.dropped["known_positive"] > 0
    assert mined.column_names == ["query", "document", "negative_1", "negative_2", "negative_3", "query_id"]
    # the relative margin drops more (candidates scoring within 5% of the weakest positive), and says so
    _, margin_report = mine_negatives(dataset, model=minilm, corpus=distractors, num_negatives=3,
                                      relative_margin=0.05, cache_dir=embedding_cache, return_report=True)
    assert margin_report.dropped["relative_margin"] > 0


@pytest.mark.slow
def test_known_positives_from_qrels_and_judge(minilm, medquad_subset, embedding_cache):
    rows, distractors, answers = medquad_subset
    # one answer per question in the dataset; the others only in the corpus, known from the qrels
    first = {}
    for row in rows:
        first.setdefault(row["query"], row)
    dataset = Dataset.from_dict({"query": list(first), "document": [row["document"] for row in first.values()]})
    corpus = [row["document"] for row in rows] + distractors
    known = defaultdict(set)
    for row in rows:
        known[row["query"]].add(row["document"])
    mined, report = mine_negatives(dataset, model=minilm, corpus=corpus, known_positives=known, num_negatives=2,
                                   relative_margin=None, output_format="triplet", cache_dir=embedding_cache,
                                   return_report=True)
    assert own_answers_as_negatives(mined, answers, ["negative"]) == 0 and report.dropped["known_positive"] > 0
    # a judge that finds every answer mentioning "symptoms" relevant: none of those survive
    judged, judge_report = mine_negatives(
        dataset, model=minilm, corpus=corpus, known_positives=known, num_negatives=2, relative_margin=None,
        judge=lambda pairs: ["symptoms" in document.lower() for _, document in pairs], cache_dir=embedding_cache,
        return_report=True)
    assert all("symptoms" not in row[column].lower() for row in judged for column in ("negative_1", "negative_2"))
    assert judge_report.dropped["judge_relevant"] > 0 and judge_report.counts["judged"] > 0


def test_case_variants_of_a_question_share_their_answers(minilm):
    """The fast version of the MedQuAD test: two pages ask the same question with different capitalisation."""
    rows = [
        ("What is (are) Q fever ?", "Q fever is a disease caused by the bacterium Coxiella burnetii from cattle."),
        ("What is (are) Q Fever ?", "Q fever is a zoonotic infection with Coxiella burnetii causing pneumonia."),
        ("What are the symptoms of Q fever ?", "Symptoms of Q fever include high fever, headache and muscle pain."),
        ("What is (are) Lyme disease ?", "Lyme disease is caused by Borrelia burgdorferi transmitted by ticks."),
        ("What is (are) Asthma ?", "Asthma is a chronic disease of the airways causing wheezing and breathlessness."),
    ]
    corpus = ["Brucellosis is an infection with Brucella bacteria from unpasteurized milk.",
              "Tularemia is caused by Francisella tularensis, spread by rabbits and ticks.",
              "Anthrax is caused by Bacillus anthracis spores found in soil and livestock."]
    dataset = Dataset.from_dict({"query": [q for q, _ in rows], "document": [d for _, d in rows]})
    plain = mine_hard_negatives(dataset, minilm, corpus=corpus, num_negatives=2, output_format="triplet",
                                verbose=False)
    leaked = [row for row in plain if row["query"].startswith("What is (are) Q") and "Coxiella" in row["negative"]]
    assert leaked, "plain mining pairs each Q fever question with the other page's answer"
    mined, report = mine_negatives(dataset, model=minilm, corpus=corpus, num_negatives=2, relative_margin=None,
                                   return_report=True)
    for row in mined:
        if row["query"].lower().startswith("what is (are) q fever"):
            assert "Coxiella" not in row["negative_1"] + row["negative_2"]
    assert report.dropped["known_positive"] >= 2


def test_options_are_checked(minilm):
    dataset = Dataset.from_dict({"query": ["a"], "document": ["b"]})
    with pytest.raises(ValueError, match="positive_column='positive'"):
        mine_negatives(dataset, model=minilm, positive_column="positive")
    with pytest.raises(ValueError, match="output_format must be one of"):
        mine_negatives(dataset, model=minilm, output_format="labeled-pair")
    with pytest.raises(ValueError, match="judge must be"):
        mine_negatives(Dataset.from_dict({"query": ["a", "c"], "document": ["b", "d"]}), model=minilm,
                       num_negatives=1, relative_margin=None, judge=42)


PAIRS = [
    ("How is hypertension treated?", "Hypertension is treated with diuretics, ACE inhibitors and calcium blockers."),
    ("How is type 2 diabetes managed?", "Type 2 diabetes mellitus is managed with metformin, diet and exercise."),
    ("What are the signs of a heart attack?", "Myocardial infarction presents with chest pain radiating to the arm."),
    ("How are asthma attacks treated?", "Asthma exacerbations are treated with inhaled beta agonists and steroids."),
    ("What does the left ventricle do?", "The left ventricle pumps oxygenated blood into the aorta."),
    ("What is anemia?", "Anemia is a reduced number of red blood cells or hemoglobin."),
]
EXTRA = ["Antibiotics do not treat viral infections such as influenza.",
         "Heart failure is treated with beta blockers, ACE inhibitors and diuretics.",
         "Gestational diabetes is managed with diet and sometimes insulin."]


def pairs_dataset() -> Dataset:
    return Dataset.from_dict({"query": [q for q, _ in PAIRS], "document": [d for _, d in PAIRS],
                              "n": list(range(len(PAIRS)))})


def test_same_negatives_as_sentence_transformers_without_filters(minilm):
    """With distinct questions and no margin, the candidates are those of mine_hard_negatives, in its order."""
    from sbert_med.data import MiningOptions

    plain = mine_hard_negatives(pairs_dataset().select_columns(["query", "document"]), minilm, corpus=EXTRA,
                                num_negatives=2, output_format="n-tuple", verbose=False)
    options = MiningOptions(num_negatives=2, relative_margin=None)
    for use_faiss in (True, False):
        mined = mine_negatives(pairs_dataset(), minilm, options=options, corpus=EXTRA, use_faiss=use_faiss,
                               show_progress_bar=False)
        assert mined.column_names == ["query", "document", "negative_1", "negative_2", "n"]
        assert mined["negative_1"] == plain["negative_1"] and mined["negative_2"] == plain["negative_2"]


def test_resumes_from_the_cache_without_encoding_again(minilm, tmp_path, monkeypatch):
    first, report = mine_negatives(pairs_dataset(), minilm, corpus=EXTRA, num_negatives=2, relative_margin=None,
                                   output_format="triplet", cache_dir=tmp_path, show_progress_bar=False,
                                   return_report=True)
    assert first.column_names == ["query", "document", "negative", "n"] and len(first) == 2 * len(PAIRS)
    assert list((tmp_path / "mined").iterdir()) and (tmp_path / "encodings").is_dir()

    def fail(*args, **kwargs):
        raise AssertionError("encoded again")

    monkeypatch.setattr(minilm, "encode_query", fail)
    monkeypatch.setattr(minilm, "encode_document", fail)
    again, again_report = mine_negatives(pairs_dataset(), minilm, corpus=EXTRA, num_negatives=2,
                                         relative_margin=None, output_format="triplet", cache_dir=tmp_path,
                                         show_progress_bar=False, return_report=True)
    assert again.to_list() == first.to_list() and again_report.to_dict() == report.to_dict()
    # other options mean another result; the encodings are still reused (a killed run resumes there)
    other = mine_negatives(pairs_dataset(), minilm, corpus=EXTRA, num_negatives=1, relative_margin=None,
                           cache_dir=tmp_path, show_progress_bar=False)
    assert other["negative_1"] == first.filter(lambda row, i: i % 2 == 0, with_indices=True)["negative"]
    assert len(list((tmp_path / "mined").iterdir())) == 2


def test_unknown_options_are_named(minilm):
    with pytest.raises(TypeError, match=r"unexpected keyword\(s\) \['num_negative'\]"):
        mine_negatives(pairs_dataset(), minilm, num_negative=2)
    with pytest.raises(ValueError, match="the dataset is empty"):
        mine_negatives(Dataset.from_dict({"query": [], "document": []}), minilm)
    with pytest.raises(ValueError, match="group_column='qid'"):
        mine_negatives(pairs_dataset(), minilm, group_column="qid")


def test_prompts_change_the_candidates_scores(minilm, tmp_path):
    from sbert_med.data.mining import MiningOptions, retrieve_candidates

    anchors, positives = [q for q, _ in PAIRS], [d for _, d in PAIRS]
    plain, plain_scores = retrieve_candidates(minilm, anchors, positives, corpus=EXTRA, cache_dir=tmp_path,
                                              show_progress_bar=False)
    prompted, prompted_scores = retrieve_candidates(
        minilm, anchors, positives, corpus=EXTRA, cache_dir=tmp_path, show_progress_bar=False,
        options=MiningOptions(query_prompt="Represent this medical question for retrieval: "))
    assert prompted_scores != plain_scores
    expected = minilm.encode_query(["Represent this medical question for retrieval: " + anchors[0]],
                                   normalize_embeddings=True) @ minilm.encode_document([positives[0]],
                                                                                     normalize_embeddings=True).T
    assert abs(prompted_scores[0] - float(expected[0, 0])) < 1e-5
