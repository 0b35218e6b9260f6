from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense

from sbert_med.modules import attach_query_head, fit_linear_head


def test_fit_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(400, 16))
    weight, bias = rng.normal(size=(16, 8)), rng.normal(size=8)
    head = fit_linear_head(inputs, inputs @ weight + bias, ridge=0.0)
    assert isinstance(head, Dense) and (head.in_features, head.out_features) == (16, 8)
    assert type(head.activation_function).__name__ == "Identity"
    np.testing.assert_allclose(head.linear.weight.detach().numpy().T, weight, atol=1e-4)
    np.testing.assert_allclose(head.linear.bias.detach().numpy(), bias, atol=1e-4)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="more texts"):
        fit_linear_head(np.zeros((10, 16)), np.zeros((10, 8)))
    with pytest.raises(ValueError, match="same rows"):
        fit_linear_head(np.zeros((40, 16)), np.zeros((30, 8)))
    with pytest.raises(ValueError, match="ridge"):
        fit_linear_head(np.ones((40, 16)), np.ones((40, 8)), ridge=-1)
    bad = np.ones((40, 16))
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_linear_head(bad, np.ones((40, 8)))


def _texts(n: int) -> list[str]:
    organs = ["kidney", "liver", "heart", "lung", "brain", "skin", "bone", "blood"]
    verbs = ["filters", "stores", "pumps", "exchanges", "controls", "protects", "supports", "carries"]
    return [f"The {organ} {verb} substance number {i}." for i in range(n // 64 + 1)
            for organ in organs for verb in verbs][:n]


def test_head_aligns_the_query_route_and_reloads(tiny_model, tmp_path):
    """Appended to a truncate-bridged model: the query route's vectors move towards the targets (the document
    route's own vectors of the same texts), and the model reloads plainly with identical embeddings."""
    texts = _texts(200)
    targets = tiny_model.encode_document(texts, convert_to_numpy=True, normalize_embeddings=True)  # 32-d, unit norm
    routes = len(tiny_model[0].sub_modules["query"])
    info = attach_query_head(tiny_model, texts, targets)
    assert info["head"] == "appended" and len(tiny_model[0].sub_modules["query"]) == routes + 1
    assert info["mean_cosine_after"] > info["mean_cosine_before"] + 0.1
    aligned = tiny_model.encode_query(texts, convert_to_numpy=True)
    assert float((aligned * targets).sum(axis=1).mean()) == pytest.approx(info["mean_cosine_after"], abs=0.05)
    tiny_model.save(str(tmp_path / "m"))
    reloaded = SentenceTransformer(str(tmp_path / "m"))
    np.testing.assert_array_equal(reloaded.encode_query(texts[:4]), tiny_model.encode_query(texts[:4]))
    assert isinstance(reloaded[0].sub_modules["query"][-1], Dense)


def test_head_refits_the_project_bridge_in_place(tiny_project_model):
    texts = _texts(200)
    targets = tiny_project_model.encode_document(texts, convert_to_numpy=True)  # 64-d
    modules = list(tiny_project_model[0].sub_modules["query"])
    before = modules[-1].linear.weight.detach().clone()
    info = attach_query_head(tiny_project_model, texts, targets)
    assert info["head"] == "replaced" and list(tiny_project_model[0].sub_modules["query"]) == modules
    assert not np.allclose(before.numpy(), modules[-1].linear.weight.detach().numpy())
    assert info["mean_cosine_after"] > info["mean_cosine_before"]


def test_head_needs_an_asymmetric_model(tiny_model):
    with pytest.raises(ValueError, match="route must be one of"):
        attach_query_head(tiny_model, _texts(100), np.zeros((100, 32)), route="passage")


def test_head_on_real_towers_generalises_to_unseen_texts(real_model_session, samples):
    """all-MiniLM-L6-v2 + SmolLM2-135M (EOS, cut to 384): fitted on 400 OpenStax sentences against the document
    tower's vectors, the head maps 100 other sentences near their own document vectors. (400 texts for 384 inputs
    overfit, 0.998 on the fitted texts; the assertions are about the unseen ones.)"""
    from copy import deepcopy

    model = deepcopy(real_model_session)
    lines = (samples / "openstax_ap2e" / "sentences_all.txt").read_text(encoding="utf-8").splitlines()
    texts = list(dict.fromkeys(line.strip() for line in lines if len(line.split()) >= 6))[:500]
    targets = model.encode_document(texts, convert_to_numpy=True, normalize_embeddings=True, batch_size=32)
    train, held_out = texts[:400], texts[400:]
    before = model.encode_query(held_out, convert_to_numpy=True, normalize_embeddings=True)
    info = attach_query_head(model, train, targets[:400])
    after = model.encode_query(held_out, convert_to_numpy=True, normalize_embeddings=True)
    truth = targets[400:]
    cos_before, cos_after = (before * truth).sum(1).mean(), (after * truth).sum(1).mean()
    scores = after @ truth.T
    own = np.diag(scores)
    others = (scores.sum(1) - own) / (len(held_out) - 1)
    assert info["mean_cosine_after"] > 0.5 and cos_after > cos_before + 0.3  # measured: 0.04 -> 0.77 unseen
    assert (own > others).mean() > 0.6  # nearer its own target than the others on average (chance 0.5; 0.71)
