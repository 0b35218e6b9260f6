from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss

from sbert_med.losses import AsymInfoNCELoss
from sbert_med.training import MedTrainer

QUERIES = [
    "what lowers blood pressure?", "metformin dose", "chest pain left arm", "asthma inhaler",
    "low hemoglobin", "stroke symptoms", "antibiotics for flu?", "aorta",
]
DOCUMENTS = [
    "Hypertension is treated with diuretics, ACE inhibitors and calcium channel blockers.",
    "Type 2 diabetes mellitus is managed with metformin, diet and exercise.",
    "Myocardial infarction presents with chest pain radiating to the left arm.",
    "Asthma exacerbations are treated with inhaled beta agonists and corticosteroids.",
    "Anemia is a reduced number of red blood cells or hemoglobin.",
    "Sudden numbness, confusion and trouble speaking.",
    "Antibiotics do not treat viral infections such as influenza.",
    "The left ventricle pumps oxygenated blood into the aorta.",
]
NEGATIVES = DOCUMENTS[1:] + DOCUMENTS[:1]


def _features(model, with_negatives=True):
    columns = [(QUERIES, "query"), (DOCUMENTS, "document")] + ([(NEGATIVES, "document")] if with_negatives else [])
    return [model.preprocess(texts, task=task) for texts, task in columns]


def _grads(model, loss):
    model.zero_grad()
    value = loss(_features(model), None)
    value.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return value.detach(), grads


@pytest.mark.parametrize("matryoshka", [False, True])
def test_gradient_cache_gives_the_same_gradients(tiny_model, matryoshka):
    tiny_model.eval()  # no dropout: both runs see the same network
    plain = AsymInfoNCELoss(tiny_model, temperature=0.05)
    cached = AsymInfoNCELoss(tiny_model, temperature=0.05, mini_batch_size=3)
    assert cached.uses_gradient_cache and not plain.uses_gradient_cache
    if matryoshka:
        plain = MatryoshkaLoss(tiny_model, plain, [32, 16])
        cached = MatryoshkaLoss(tiny_model, cached, [32, 16])
    loss_plain, grads_plain = _grads(tiny_model, plain)
    loss_cached, grads_cached = _grads(tiny_model, cached)
    torch.testing.assert_close(loss_cached, loss_plain, atol=1e-5, rtol=1e-5)
    assert grads_plain.keys() == grads_cached.keys()
    assert any("sub_modules.query" in n for n in grads_plain) and any("sub_modules.document" in n for n in grads_plain)
    for name in grads_plain:
        torch.testing.assert_close(grads_cached[name], grads_plain[name], atol=1e-5, rtol=1e-4, msg=name)


def test_loss_is_infonce_over_in_batch_and_hard_negatives(tiny_project_model):
    tiny_project_model.eval()
    loss = AsymInfoNCELoss(tiny_project_model, temperature=0.1)
    with torch.no_grad():
        q, d, n = (tiny_project_model(f)["sentence_embedding"] for f in _features(tiny_project_model))
        scores = q @ torch.cat([d, n]).T / 0.1
        expected = torch.nn.functional.cross_entropy(scores, torch.arange(len(q)))
        torch.testing.assert_close(loss(_features(tiny_project_model), None), expected)
        without = AsymInfoNCELoss(tiny_project_model, temperature=0.1, hard_negatives=False)
        in_batch = torch.nn.functional.cross_entropy(q @ d.T / 0.1, torch.arange(len(q)))
        torch.testing.assert_close(without(_features(tiny_project_model), None), in_batch)


def test_truncate_bridge_is_applied_in_the_loss(tiny_model):
    tiny_model.eval()
    with torch.no_grad():
        q, d = (tiny_model(f)["sentence_embedding"] for f in _features(tiny_model, with_negatives=False))
        assert (q.shape[-1], d.shape[-1]) == (32, 64)  # truncate_dim is not applied by forward
        d = torch.nn.functional.normalize(d[:, :32], dim=-1)
        expected = torch.nn.functional.cross_entropy(q @ d.T / 0.05, torch.arange(len(q)))
        value = AsymInfoNCELoss(tiny_model)(_features(tiny_model, with_negatives=False), None)
    torch.testing.assert_close(value, expected)


def test_width_mismatch_without_bridge_is_a_clear_error(tiny_model):
    tiny_model.truncate_dim = None
    with pytest.raises(ValueError, match=r"different widths \[32, 64\].*bridge="):
        AsymInfoNCELoss(tiny_model)(_features(tiny_model), None)


def test_bad_arguments(tiny_model):
    with pytest.raises(ValueError, match="temperature must be > 0"):
        AsymInfoNCELoss(tiny_model, temperature=0)
    with pytest.raises(ValueError, match="mini_batch_size"):
        AsymInfoNCELoss(tiny_model, mini_batch_size=0)
    with pytest.raises(ValueError, match="needs \\(anchor, positive"):
        AsymInfoNCELoss(tiny_model)(_features(tiny_model)[:1], None)
    config = AsymInfoNCELoss(tiny_model, mini_batch_size=4).get_config_dict()
    assert config == {"temperature": 0.05, "hard_negatives": True, "gather_across_devices": False,
                      "mini_batch_size": 4}
    assert "oord2018" in AsymInfoNCELoss(tiny_model).citation


def test_training_lowers_the_loss(tiny_project_model, tmp_path):
    dataset = Dataset.from_dict({"anchor": QUERIES * 4, "positive": DOCUMENTS * 4})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), max_steps=12, per_device_train_batch_size=8, learning_rate=5e-3,
        router_mapping={"anchor": "query", "positive": "document"}, save_strategy="no", report_to="none",
        use_cpu=True, logging_steps=1, seed=1,
    )
    loss = AsymInfoNCELoss(tiny_project_model, temperature=0.1, mini_batch_size=4)
    trainer = MedTrainer(model=tiny_project_model, args=args, train_dataset=dataset, loss=loss)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


def test_equals_mnrl_on_a_symmetric_model(tiny_encoder_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(tiny_encoder_path)
    model.eval()
    features = [model.preprocess(texts) for texts in (QUERIES, DOCUMENTS, NEGATIVES)]
    with torch.no_grad():
        ours = AsymInfoNCELoss(model, temperature=0.05)(features, None)
        reference = MultipleNegativesRankingLoss(model, scale=20.0)(features, None)
    torch.testing.assert_close(ours, reference)
