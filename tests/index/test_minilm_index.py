"""all-MiniLM-L6-v2 on real MedQuAD answers: flat search equals brute-force cosine and finds the right answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sbert_med.index import MedIndex, build_index

pytestmark = pytest.mark.slow  # real model: ~1 min on a busy 2-core machine


@pytest.fixture(scope="module")
def minilm_index(minilm, medquad_subset, tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm_index")
    build_index(minilm, medquad_subset, out, model_name="all-MiniLM-L6-v2", shard_size=16, show_progress_bar=False)
    return MedIndex.load(out)


def test_flat_index_equals_brute_force_cosine(minilm, minilm_index):
    texts = minilm_index.texts
    documents = minilm.encode_document(texts, convert_to_numpy=True)
    documents /= np.linalg.norm(documents, axis=1, keepdims=True)
    queries = ["What causes high blood pressure?", "How is leukemia treated?", "symptoms of kidney disease"]
    q = minilm.encode_query(queries)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    cosine = q @ documents.T
    for query, hits, row in zip(queries, minilm_index.search(minilm, queries, top_k=10), cosine):
        expected = np.argsort(-row)[:10]
        assert [h.id for h in hits] == [minilm_index.ids[i] for i in expected], query
        np.testing.assert_allclose([h.score for h in hits], row[expected], atol=1e-5)


def test_medquad_questions_find_their_answers(minilm, minilm_index, medquad_subset):
    pairs = json.loads((medquad_subset.parent / "pairs.json").read_text())
    hits = minilm_index.search(minilm, [q for q, _ in pairs], top_k=10)
    hit_at_10 = np.mean([answer in {h.id for h in found} for (_, answer), found in zip(pairs, hits)])
    assert hit_at_10 >= 0.8, hit_at_10  # MiniLM finds most answers among 48 (random: ~0.2)


def test_minilm_index_refuses_the_tiny_model(minilm_index, tiny_model):
    with pytest.raises(ValueError, match="gives 32-d query embeddings, but this index holds 384-d embeddings built "
                                         "with 'all-MiniLM-L6-v2'"):
        minilm_index.search(tiny_model, "stroke")
