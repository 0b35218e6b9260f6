"""diversify / diversity_mask: MAR's dynamic index filter, checked by hand and against the one-by-one definition."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset

from sbert_med.data import diversify, diversity_mask


def unit(*degrees: float) -> np.ndarray:
    radians = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


# cos(angle) > 0.85  <=>  angle < 31.8 degrees.  Hand-worked with k=5, n=1 (keep if at most 1 close kept row):
#   0: 0    first row                      keep
#   1: 10   close to 0                     keep (1 close)
#   2: 20   close to 0 and 10              drop (2)
#   3: 5    close to 0 and 10              drop (2)
#   4: 90   nothing close                  keep
#   5: 100  close to 90                    keep (1)
#   6: 180  nothing close                  keep
#   7: 45   10 is 35 away, 90 is 45 away   keep (0)
#   8: 60   close to 45 and 90 (30 away)   drop (2)
#   9: 200  close to 180                   keep (1)
#  10: 190  close to 180 and 200           drop (2)
ANGLES = (0, 10, 20, 5, 90, 100, 180, 45, 60, 200, 190)
EXPECTED = [0, 1, 4, 5, 6, 7, 9]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 11, 1024])
def test_hand_checked_set_for_every_batch_size(batch_size):
    keep = diversity_mask(unit(*ANGLES), threshold=0.85, k=5, n=1, batch_size=batch_size, show_progress_bar=False)
    assert np.flatnonzero(keep).tolist() == EXPECTED


def test_n_zero_k_one_and_seed_vectors():
    # n=0: any close kept row drops the candidate
    keep = diversity_mask(unit(*ANGLES), threshold=0.85, k=5, n=0, batch_size=4, show_progress_bar=False)
    assert np.flatnonzero(keep).tolist() == [0, 4, 6, 7]
    # the seed vectors count as kept rows but are not part of the output
    keep = diversity_mask(unit(0, 5, 90), threshold=0.85, n=1, seed_embeddings=unit(10), show_progress_bar=False)
    assert keep.tolist() == [True, False, True]
    # n >= k keeps everything; identical rows exceed any threshold < 1
    assert diversity_mask(unit(0, 0, 0), threshold=0.85, k=2, n=2, show_progress_bar=False).all()
    assert diversity_mask(unit(0, 0, 0), threshold=0.999, k=5, n=1, show_progress_bar=False).tolist() == [
        True, True, False]


def brute_force(embeddings: np.ndarray, *, threshold: float, k: int, n: int) -> np.ndarray:
    """The definition, one row at a time."""
    kept: list[np.ndarray] = []
    keep = np.zeros(len(embeddings), dtype=bool)
    for i, vector in enumerate(embeddings):
        close = int((np.asarray(kept) @ vector > threshold).sum()) if kept else 0
        if min(close, k) <= n:
            keep[i] = True
            kept.append(vector)
    return keep


@pytest.mark.parametrize(("threshold", "k", "n"), [(0.85, 5, 1), (0.78, 5, 1), (0.7, 3, 2), (0.9, 1, 0)])
def test_batched_equals_one_by_one_on_clustered_vectors(threshold, k, n):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(150, 24))
    vectors = np.repeat(centres, 8, axis=0) + 0.3 * rng.normal(size=(1200, 24))
    vectors = vectors[rng.permutation(len(vectors))]
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    expected = brute_force(vectors, threshold=threshold, k=k, n=n)
    assert 0 < expected.sum() < len(vectors)
    for batch_size in (1, 97, 4096):
        got = diversity_mask(vectors, threshold=threshold, k=k, n=n, batch_size=batch_size, show_progress_bar=False)
        assert np.array_equal(got, expected)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="L2-normalised"):
        diversity_mask(np.ones((3, 4), dtype=np.float32), threshold=0.8)
    with pytest.raises(ValueError, match="kind must be one of"):
        diversify(Dataset.from_dict({"q": ["a"]}), column="q", kind="passage", embeddings=unit(0))
    with pytest.raises(ValueError, match="column='text'"):
        diversify(Dataset.from_dict({"q": ["a"]}), column="text", embeddings=unit(0))


def test_diversify_medquad_questions_with_minilm(minilm_path, samples, tmp_path):
    import json

    from sentence_transformers import SentenceTransformer

    questions = [json.loads(line)["text"] for line in open(samples / "medquad" / "queries.jsonl")][:80]
    # MedQuAD asks the same 5-10 questions about each topic: many near-duplicates across topics
    model = SentenceTransformer(minilm_path, device="cpu")
    dataset = Dataset.from_dict({"query": questions, "position": list(range(len(questions)))})
    kept, report = diversify(dataset, column="query", model=model, kind="query", n=0, cache_dir=tmp_path,
                             show_progress_bar=False, return_report=True)
    assert report.rows_out == len(kept) and 0 < len(kept) < len(questions)
    embeddings = model.encode(kept["query"], normalize_embeddings=True)
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, 0)
    assert similarity.max() <= 0.85 + 1e-5, "with n=0 no two kept queries are closer than the threshold"
    assert kept["position"] == sorted(kept["position"]), "order is preserved"
    # the cached run gives the same rows
    again = diversify(dataset, column="query", model=model, n=0, cache_dir=tmp_path, show_progress_bar=False)
    assert again["position"] == kept["position"]
