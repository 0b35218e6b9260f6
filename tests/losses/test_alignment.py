from __future__ import annotations

import copy

import pytest
import torch
from datasets import Dataset
from peft import LoraConfig
from sentence_transformers import SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MSELoss

from sbert_med.losses import AlignmentLoss
from sbert_med.modules import add_lora, freeze_route
from sbert_med.training import MedTrainer

TEXTS = [
    "what lowers blood pressure?", "Metformin is first-line for type 2 diabetes.", "chest pain left arm",
    "Asthma is treated with inhaled corticosteroids.", "low hemoglobin", "Sudden numbness and confusion.",
    "antibiotics for flu?", "The left ventricle pumps blood into the aorta.",
]


def _pair_features(model, texts=TEXTS):
    return [model.preprocess(texts, task="query"), model.preprocess(texts, task="document")]


def _document_state(model):
    return {n: p.detach().clone() for n, p in model[0].sub_modules["document"].named_parameters()}


def test_terms_are_on_the_same_scale_and_matryoshka_renormalises(tiny_model):
    tiny_model.eval()
    loss = AlignmentLoss(tiny_model, matryoshka_dims=[32, 16, 8])
    parts = loss(_pair_features(tiny_model), None)
    assert set(parts) == {"alignment_contrastive", "alignment_mse"}
    # Summed over dims, the MSE of unit vectors is 2 - 2cos: O(1) like the InfoNCE term, not O(1/dim).
    assert 0.1 < parts["alignment_mse"].item() < 4
    with torch.no_grad():
        own = tiny_model(_pair_features(tiny_model)[0])["sentence_embedding"]
    # A perfect student (targets = its own embeddings) has zero MSE at every dim, since targets are renormalised;
    # MatryoshkaLoss(MSELoss) only slices labels and leaves a residual at lower dims.
    perfect = AlignmentLoss(tiny_model, lambda_contrastive=0, matryoshka_dims=[32, 16, 8])
    features = [tiny_model.preprocess(TEXTS, task="query")]
    assert perfect(features, own)["alignment_mse"].item() < 1e-10
    builtin = MatryoshkaLoss(tiny_model, MSELoss(tiny_model), [32, 16, 8])
    assert builtin(features, own).item() > 1e-4


def test_stage_one_training_leaves_the_frozen_document_tower_bit_identical(tiny_project_model, tmp_path):
    freeze_route(tiny_project_model, "document")
    before = _document_state(tiny_project_model)
    held_out = ["fever and cough", "Beta blockers slow the heart rate."]
    mse_before = _held_out_mse(tiny_project_model, held_out)
    _train(tiny_project_model, AlignmentLoss(tiny_project_model), tmp_path)
    after = _document_state(tiny_project_model)
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert _held_out_mse(tiny_project_model, held_out) < mse_before


def test_lora_targets_come_from_the_base_weights(tiny_model):
    add_lora(tiny_model, config=LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    tiny_model.eval()
    with torch.no_grad():
        base = tiny_model(_pair_features(tiny_model)[1])["sentence_embedding"]
        for name, param in tiny_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
        tuned = tiny_model(_pair_features(tiny_model)[1])["sentence_embedding"]
    assert not torch.allclose(base, tuned)
    loss = AlignmentLoss(tiny_model, lambda_contrastive=0)
    with torch.no_grad():
        targets = loss._targets(_pair_features(tiny_model), None)
    torch.testing.assert_close(targets, base)
    assert tiny_model[0].sub_modules["document"][0].model.active_adapters == ["default"]  # re-enabled


def test_teacher_and_label_targets(tiny_model):
    tiny_model.eval()
    teacher = copy.deepcopy(tiny_model)
    loss = AlignmentLoss(tiny_model, teacher=teacher)
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training
    own = AlignmentLoss(tiny_model)(_pair_features(tiny_model), None)
    via_teacher = loss(_pair_features(tiny_model), None)
    torch.testing.assert_close(via_teacher["alignment_mse"], own["alignment_mse"])
    with torch.no_grad():
        labels = tiny_model(_pair_features(tiny_model)[1])["sentence_embedding"]
    via_labels = AlignmentLoss(tiny_model)([tiny_model.preprocess(TEXTS, task="query")], labels)
    torch.testing.assert_close(via_labels["alignment_mse"], own["alignment_mse"])


def test_works_under_matryoshka_loss(tiny_model):
    wrapped = MatryoshkaLoss(tiny_model, AlignmentLoss(tiny_model), [32, 16])
    value = wrapped(_pair_features(tiny_model), None)
    assert value.ndim == 0 and value.requires_grad


def test_bad_arguments(tiny_model):
    with pytest.raises(ValueError, match="temperature"):
        AlignmentLoss(tiny_model, temperature=-1)
    with pytest.raises(ValueError, match="not all 0"):
        AlignmentLoss(tiny_model, lambda_contrastive=0, lambda_mse=0)
    with pytest.raises(ValueError, match="not all 0 \\(lambda_scores counts with a score_bank only\\)"):
        AlignmentLoss(tiny_model, lambda_contrastive=0, lambda_mse=0, lambda_scores=1.0)
    with pytest.raises(ValueError, match="score 0"):
        AlignmentLoss(tiny_model, score_temperature=0)
    with pytest.raises(ValueError, match="matryoshka_dims must be <= the model's output width 32"):
        AlignmentLoss(tiny_model, matryoshka_dims=[64])
    with pytest.raises(ValueError, match="needs \\(query_text, document_text\\)"):
        AlignmentLoss(tiny_model)(_pair_features(tiny_model)[:1], None)
    assert AlignmentLoss(tiny_model, matryoshka_dims=[8, 32]).get_config_dict()["matryoshka_dims"] == [32, 8]


def _held_out_mse(model, texts):
    q = torch.nn.functional.normalize(model.encode_query(texts, convert_to_tensor=True), dim=-1)
    d = torch.nn.functional.normalize(model.encode_document(texts, convert_to_tensor=True), dim=-1)
    return (q - d).pow(2).sum(-1).mean().item()


def _train(model, loss, tmp_path, steps=10):
    dataset = Dataset.from_dict({"q_text": TEXTS * 4, "d_text": TEXTS * 4})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), max_steps=steps, per_device_train_batch_size=8, learning_rate=5e-3,
        router_mapping={"q_text": "query", "d_text": "document"}, save_strategy="no", report_to="none",
        use_cpu=True, seed=1,
    )
    MedTrainer(model=model, args=args, train_dataset=dataset, loss=loss).train()


# ------------------------------------------------------------------ (B, K, D) labels: Stage II on cached vectors
def _query_features_and_candidates(tiny_model, k=3, seed=0):
    tiny_model.eval()
    features = [tiny_model.preprocess(TEXTS, task="query")]
    generator = torch.Generator().manual_seed(seed)
    candidates = torch.nn.functional.normalize(torch.randn(len(TEXTS), k, 32, generator=generator), dim=-1)
    return features, candidates


def test_candidate_labels_rank_each_positive_among_all_candidates(tiny_model):
    """(B, K, D) labels: InfoNCE of each query's positive (k = 0) against all B * K candidates of the batch."""
    features, candidates = _query_features_and_candidates(tiny_model)
    loss = AlignmentLoss(tiny_model, temperature=0.05, lambda_mse=0.0)
    parts = loss(features, candidates)
    with torch.no_grad():
        q = torch.nn.functional.normalize(tiny_model(features[0])["sentence_embedding"], dim=-1)
    flat = candidates.reshape(-1, 32)
    expected = torch.nn.functional.cross_entropy(q @ flat.T / 0.05, torch.arange(len(TEXTS)) * 3)
    torch.testing.assert_close(parts["alignment_contrastive"], expected)
    assert parts["alignment_mse"].item() == 0.0
    # K = 1 is the (B, D) form
    single = AlignmentLoss(tiny_model)(features, candidates[:, :1])
    torch.testing.assert_close(single["alignment_contrastive"], AlignmentLoss(tiny_model)(features, candidates[:, 0])[
        "alignment_contrastive"])
    # the MSE term pulls each query onto its positive only
    mse = AlignmentLoss(tiny_model, lambda_contrastive=0)(features, candidates)["alignment_mse"]
    torch.testing.assert_close(mse, (q - candidates[:, 0]).pow(2).sum(-1).mean())


def test_a_shared_positive_is_not_a_negative(tiny_model):
    """Two rows with the same positive document: neither row's positive counts as the other's negative."""
    features, candidates = _query_features_and_candidates(tiny_model, k=2)
    candidates[1, 0] = candidates[0, 0]
    loss = AlignmentLoss(tiny_model, temperature=0.05, lambda_mse=0.0)
    value = loss(features, candidates)["alignment_contrastive"]
    with torch.no_grad():
        q = torch.nn.functional.normalize(tiny_model(features[0])["sentence_embedding"], dim=-1)
    scores = q @ candidates.reshape(-1, 32).T / 0.05
    scores[0, 2] = scores[1, 0] = float("-inf")
    torch.testing.assert_close(value, torch.nn.functional.cross_entropy(scores, torch.arange(len(TEXTS)) * 2))


def test_candidate_labels_errors(tiny_model):
    features, candidates = _query_features_and_candidates(tiny_model)
    with pytest.raises(ValueError, match=r"shape \(B, D\) or \(B, K, D\)"):
        AlignmentLoss(tiny_model)(features, candidates[None])
    with pytest.raises(ValueError, match="8 queries but 4 rows"):
        AlignmentLoss(tiny_model)(features, candidates[:4])


# ------------------------------------------------------------------ negative bank: extra cached negatives
def test_negative_bank_adds_its_rows_as_negatives_and_masks_copies_of_the_positive(tiny_model):
    """Bank rows are ranked after the batch's candidates; a bank copy of a query's own positive is not a negative."""
    features, candidates = _query_features_and_candidates(tiny_model, k=1)
    targets = candidates[:, 0]
    bank = torch.nn.functional.normalize(torch.randn(5, 32, generator=torch.Generator().manual_seed(1)), dim=-1)
    bank = torch.cat([bank, targets[2:3]])  # row 5 is query 2's positive
    value = AlignmentLoss(tiny_model, temperature=0.05, lambda_mse=0.0, negative_bank=bank)(features, targets)
    with torch.no_grad():
        q = torch.nn.functional.normalize(tiny_model(features[0])["sentence_embedding"], dim=-1)
    scores = torch.cat([q @ targets.T, q @ bank.T], dim=1) / 0.05
    scores[2, len(TEXTS) + 5] = float("-inf")
    expected = torch.nn.functional.cross_entropy(scores, torch.arange(len(TEXTS)))
    torch.testing.assert_close(value["alignment_contrastive"], expected)
    without = AlignmentLoss(tiny_model, temperature=0.05, lambda_mse=0.0)(features, targets)
    assert value["alignment_contrastive"].item() > without["alignment_contrastive"].item()
    # a bank of nothing but the positives' copies changes nothing
    copies = AlignmentLoss(tiny_model, temperature=0.05, lambda_mse=0.0, negative_bank=targets[:1])
    single = [tiny_model.preprocess(TEXTS[:1], task="query")]
    assert copies(single, targets[:1])["alignment_contrastive"].item() == 0.0
    assert AlignmentLoss(tiny_model, negative_bank=bank).get_config_dict()["negative_bank"] == 6
    with pytest.raises(ValueError, match=r"negative_bank must have shape \(N, D\)"):
        AlignmentLoss(tiny_model, negative_bank=bank[0])
    with pytest.raises(ValueError, match="negative_bank width 16 < query width 32"):
        AlignmentLoss(tiny_model, negative_bank=bank[:, :16])(features, targets)


# ------------------------------------------------------------------ score bank: distil the ranking of documents
def test_score_bank_distils_the_targets_ranking_of_its_documents(tiny_model):
    """The third term is KL(softmax(target . bank / T) || softmax(query . bank / T)), at every Matryoshka width."""
    features, candidates = _query_features_and_candidates(tiny_model, k=1)
    targets = candidates[:, 0]
    bank = torch.randn(6, 32, generator=torch.Generator().manual_seed(2))  # not normalised: the loss does it
    loss = AlignmentLoss(tiny_model, score_bank=bank, lambda_scores=0.5, score_temperature=0.1,
                         matryoshka_dims=[32, 16])
    parts = loss(features, targets)
    assert set(parts) == {"alignment_contrastive", "alignment_mse", "alignment_scores"}
    with torch.no_grad():
        q = tiny_model(features[0])["sentence_embedding"]
    expected = 0.0
    for dim in (32, 16):
        documents = torch.nn.functional.normalize(bank[:, :dim], dim=-1)
        p_teacher = torch.softmax(torch.nn.functional.normalize(targets[:, :dim], dim=-1) @ documents.T / 0.1, -1)
        p_student = torch.softmax(torch.nn.functional.normalize(q[:, :dim], dim=-1) @ documents.T / 0.1, -1)
        expected += (p_teacher * (p_teacher.log() - p_student.log())).sum(-1).mean()
    torch.testing.assert_close(parts["alignment_scores"], 0.5 * expected / 2)
    # the other terms are those of the loss without a bank
    plain = AlignmentLoss(tiny_model, matryoshka_dims=[32, 16])(features, targets)
    for name in plain:
        torch.testing.assert_close(parts[name], plain[name])
    # a query equal to its target ranks the bank as the target does: nothing to distil
    assert loss([tiny_model.preprocess(TEXTS, task="query")], q)["alignment_scores"].item() < 1e-6
    config = loss.get_config_dict()
    assert (config["score_bank"], config["lambda_scores"], config["score_temperature"]) == (6, 0.5, 0.1)
    assert "score_bank" not in AlignmentLoss(tiny_model).get_config_dict()
    # the score term alone is a valid loss
    alone = AlignmentLoss(tiny_model, lambda_contrastive=0, lambda_mse=0, score_bank=bank)(features, targets)
    assert alone["alignment_scores"].item() > 0
    with pytest.raises(ValueError, match=r"score_bank must have shape \(N, D\)"):
        AlignmentLoss(tiny_model, score_bank=bank[0])
    with pytest.raises(ValueError, match="score_bank width 16 < query width 32"):
        AlignmentLoss(tiny_model, score_bank=bank[:, :16])(features, targets)


def test_score_bank_trains_the_query_to_rank_like_its_target(tiny_model, tmp_path):
    """A few steps on the score term alone lower it on the training texts (it carries a gradient)."""
    features, candidates = _query_features_and_candidates(tiny_model, k=1)
    targets = candidates[:, 0]
    bank = torch.randn(16, 32, generator=torch.Generator().manual_seed(3))
    loss = AlignmentLoss(tiny_model, lambda_contrastive=0, lambda_mse=0, score_bank=bank)
    before = loss(features, targets)["alignment_scores"].item()
    tiny_model.train()
    optimizer = torch.optim.AdamW(tiny_model.parameters(), lr=1e-3)
    for _ in range(20):
        optimizer.zero_grad()
        loss(features, targets)["alignment_scores"].backward()
        optimizer.step()
    tiny_model.eval()
    assert loss(features, targets)["alignment_scores"].item() < 0.8 * before
