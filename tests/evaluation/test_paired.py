"""Per-query nDCG@10 (the figure sentence-transformers' evaluator reports) and the paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sbert_med.data.beir import load_beir
from sbert_med.evaluation import ir_evaluator
from sbert_med.evaluation.paired import paired_bootstrap, paired_bootstrap_over_datasets, per_query_ndcg


def test_ndcg_by_hand():
    corpus = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    queries = np.array([[1.0, 0.1], [0.0, 1.0], [1.0, 1.0]])
    relevant = {"a": {"d2"}, "b": {"d3", "d1"}, "c": {"missing"}, "no_query": {"d1"}}
    scores = per_query_ndcg(queries, corpus, ["a", "b", "c"], ["d1", "d2", "d3"], relevant, k=2)
    # a: d1 then d2 -> relevant at rank 2; b: d3, d2 -> one of two relevant at rank 1; c: relevant id not in corpus
    assert scores["a"] == pytest.approx((1 / math.log2(3)) / 1.0)
    assert scores["b"] == pytest.approx(1.0 / (1.0 + 1 / math.log2(3)))
    assert scores["c"] == 0.0 and set(scores) == {"a", "b", "c"}
    graded = per_query_ndcg(queries, corpus, ["a", "b", "c"], ["d1", "d2", "d3"],
                            {"a": {"d2": 2, "d1": 0}}, k=2)
    assert graded == {"a": scores["a"]}  # a score of 0 is not relevant
    with pytest.raises(ValueError, match="2 query embeddings for 3 ids"):
        per_query_ndcg(queries[:2], corpus, ["a", "b", "c"], ["d1", "d2", "d3"], relevant)


def test_mean_is_the_evaluators_figure_on_a_real_model(minilm, samples):
    data = load_beir(samples / "medquad", "test").subset(max_queries=60, max_corpus=200, seed=2)
    query_ids, corpus_ids = list(data.queries), list(data.corpus)
    queries = minilm.encode_query([data.queries[q] for q in query_ids])
    corpus = minilm.encode_document([data.corpus[c] for c in corpus_ids])
    scores = per_query_ndcg(queries, corpus, query_ids, corpus_ids, data.relevant_docs)
    figure = ir_evaluator(data, name="s", ndcg_at_k=[10])(minilm)["s_cosine_ndcg@10"]
    assert len(scores) == len(data.queries)
    assert np.mean(list(scores.values())) == pytest.approx(figure, abs=1e-4)


def test_paired_bootstrap():
    rng = np.random.default_rng(1)
    base = {f"q{i}": float(value) for i, value in enumerate(rng.random(300))}
    same = paired_bootstrap(base, dict(base))
    assert same["mean_difference"] == 0 and same["ci95"] == [0, 0] and same["ties"] == 300
    better = paired_bootstrap(base, {query: value + 0.05 for query, value in base.items()})
    assert better["ci95"][0] > 0 and better["share_not_ahead"] == 0 and better["wins"] == 300
    noisy = paired_bootstrap(base, {query: value + rng.normal(0, 0.2) for query, value in base.items()})
    assert noisy["ci95"][0] < noisy["mean_difference"] < noisy["ci95"][1]
    assert paired_bootstrap(base, dict(base), seed=3) == {**same, "seed": 3}
    with pytest.raises(ValueError, match="share no query"):
        paired_bootstrap({"a": 1.0}, {"b": 1.0})


def test_paired_bootstrap_over_datasets_weighs_each_dataset_alike():
    rng = np.random.default_rng(2)
    small = {f"s{i}": float(value) for i, value in enumerate(rng.random(50))}
    large = {f"l{i}": float(value) for i, value in enumerate(rng.random(500))}
    baselines = {"small": small, "large": large}
    gain_on_small = {"small": {query: value + 0.1 for query, value in small.items()}, "large": dict(large)}
    result = paired_bootstrap_over_datasets(baselines, gain_on_small)
    # the mean of the two datasets' means moves by 0.1 / 2, not by 0.1 * 50 / 550 as a pooled bootstrap would say
    assert result["mean_difference"] == pytest.approx(0.05, abs=1e-6)
    assert result["ci95"] == pytest.approx([0.05, 0.05], abs=1e-6)
    assert result["queries"] == 550 and result["wins"] == 50 and result["ties"] == 500
    offsetting = {"small": {query: value + 0.1 for query, value in small.items()},
                  "large": {query: value - 0.1 for query, value in large.items()}}
    assert paired_bootstrap_over_datasets(baselines, offsetting)["mean_difference"] == pytest.approx(0, abs=1e-6)
    noisy = {name: {query: value + rng.normal(0, 0.2) for query, value in scores.items()}
             for name, scores in baselines.items()}
    spread = paired_bootstrap_over_datasets(baselines, noisy)
    assert spread["ci95"][0] < spread["mean_difference"] < spread["ci95"][1]
    # one dataset: the plain paired bootstrap, draw for draw
    single = paired_bootstrap_over_datasets({"x": small}, {"x": noisy["small"]})
    assert single == paired_bootstrap(small, noisy["small"])
    with pytest.raises(ValueError, match="other datasets"):
        paired_bootstrap_over_datasets(baselines, {"small": small})
    with pytest.raises(ValueError, match="share no query of 'large'"):
        paired_bootstrap_over_datasets(baselines, {"small": small, "large": {"z": 1.0}})
