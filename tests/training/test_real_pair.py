"""The real pair: all-MiniLM-L6-v2 (query) + SmolLM2-135M (document, EOS pooling), short sequences, few steps."""

from __future__ import annotations

import os

import numpy as np
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
from transformers import AutoTokenizer, TrainerCallback

from sbert_med.losses import AlignmentLoss, AsymInfoNCELoss
from sbert_med.modules import add_lora, appends_eos, check_model, freeze_route, unfreeze_route
from sbert_med.training import MedTrainer


def _args(output_dir, mapping, **kwargs):
    defaults = dict(
        max_steps=2, per_device_train_batch_size=8, learning_rate=2e-5, save_strategy="no", report_to="none",
        use_cpu=True, seed=3, router_mapping=mapping, learning_rate_mapping={r"sub_modules\.document\.": 1e-4},
    )
    return SentenceTransformerTrainingArguments(output_dir=str(output_dir), **{**defaults, **kwargs})


def _document_state(model):
    return {n: p.detach().clone() for n, p in model[0].sub_modules["document"].named_parameters()}


def _held_out_mse(model, texts):
    q = model.encode_query(texts, convert_to_tensor=True, normalize_embeddings=True)
    d = model.encode_document(texts, convert_to_tensor=True, normalize_embeddings=True)
    return (q - d).pow(2).sum(-1).mean().item()


def test_real_pair_trains_with_each_loss_and_reloads_plainly(real_model, medquad_pairs, tmp_path):
    """One step with each loss (kept short for CI), then save -> plain reload -> identical embeddings."""
    queries, answers = zip(*medquad_pairs[:4])
    retrieval = Dataset.from_dict({"anchor": list(queries), "positive": list(answers)})
    before = _document_state(real_model)
    MedTrainer(model=real_model, args=_args(tmp_path / "r", {"anchor": "query", "positive": "document"}, max_steps=1,
                                            per_device_train_batch_size=4),
               train_dataset=retrieval, loss=AsymInfoNCELoss(real_model, mini_batch_size=2)).train()
    assert any(not torch.equal(before[n], p) for n, p in _document_state(real_model).items())  # both towers train

    texts = list(queries[:2]) + list(answers[:2])
    align = Dataset.from_dict({"q_text": texts, "d_text": texts})
    freeze_route(real_model, "document")
    before = _document_state(real_model)
    args = _args(tmp_path / "a", {"q_text": "query", "d_text": "document"}, max_steps=1,
                 per_device_train_batch_size=4, learning_rate_mapping={})
    trainer = MedTrainer(model=real_model, args=args, train_dataset=align,
                         loss=AlignmentLoss(real_model, matryoshka_dims=[384, 128]))
    trainer.train()
    after = _document_state(real_model)
    assert all(torch.equal(before[n], after[n]) for n in before)
    unfreeze_route(real_model, "document")

    out = tmp_path / "model"
    trainer.save_model(str(out))
    reloaded = SentenceTransformer(str(out))  # plain: no trust_remote_code
    probe_q, probe_d = ["What causes anemia?"], ["Anemia is caused by blood loss or iron deficiency."]
    np.testing.assert_array_equal(reloaded.encode_query(probe_q), real_model.encode_query(probe_q))
    np.testing.assert_array_equal(reloaded.encode_document(probe_d), real_model.encode_document(probe_d))
    assert reloaded.encode_document(probe_d).shape == (1, 384)
    assert appends_eos(AutoTokenizer.from_pretrained(out / "document_0_Transformer"))
    assert check_model(reloaded).passed


def test_real_alignment_lowers_held_out_mse_and_keeps_the_document_tower(real_model, medquad_pairs, tmp_path):
    freeze_route(real_model, "document")
    texts = [text for pair in medquad_pairs[:48] for text in pair]
    held_out = [text for pair in medquad_pairs[60:72] for text in pair]
    before_state, before_mse = _document_state(real_model), _held_out_mse(real_model, held_out)
    dataset = Dataset.from_dict({"q_text": texts, "d_text": texts})
    MedTrainer(model=real_model, args=_args(tmp_path, {"q_text": "query", "d_text": "document"}, max_steps=12,
                                            per_device_train_batch_size=16, learning_rate=1e-4,
                                            learning_rate_mapping={}),
               train_dataset=dataset, loss=AlignmentLoss(real_model)).train()
    after_mse = _held_out_mse(real_model, held_out)
    assert after_mse < 0.9 * before_mse, (before_mse, after_mse)
    after_state = _document_state(real_model)
    assert all(torch.equal(before_state[n], after_state[n]) for n in before_state)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_real_lora_resume_matches_and_merged_export_reloads(real_model_session, medquad_pairs, tmp_path):
    import copy

    def fresh(seed):
        model = copy.deepcopy(real_model_session)
        torch.manual_seed(seed)
        return add_lora(model, config={"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]})

    queries, answers = zip(*medquad_pairs[:16])
    dataset = Dataset.from_dict({"anchor": list(queries), "positive": list(answers)})
    mapping = {"anchor": "query", "positive": "document"}

    def run(model, output_dir, **kwargs):
        args = _args(output_dir, mapping, max_steps=4, save_strategy="steps", save_steps=2,
                     lr_scheduler_type="constant", learning_rate=5e-5)
        trainer = MedTrainer(model=model, args=args, train_dataset=dataset, loss=AsymInfoNCELoss(model), **kwargs)
        return trainer

    straight = fresh(0)
    trainer = run(straight, tmp_path / "a")
    trainer.train()
    run(fresh(0), tmp_path / "b", callbacks=[StopAt(2)]).train()
    assert "adapter_model.safetensors" in os.listdir(tmp_path / "b" / "checkpoint-2" / "document_0_Transformer")
    resumed = fresh(99)
    run(resumed, tmp_path / "b").train(resume_from_checkpoint=str(tmp_path / "b" / "checkpoint-2"))
    expected, got = dict(straight.named_parameters()), dict(resumed.named_parameters())
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-6, rtol=1e-5, msg=name)

    trainer.save_model(str(tmp_path / "merged"))
    reloaded = SentenceTransformer(str(tmp_path / "merged"))
    probe = ["Anemia is caused by blood loss or iron deficiency."]
    np.testing.assert_allclose(reloaded.encode_document(probe), straight.encode_document(probe), atol=1e-5)
    assert appends_eos(reloaded[0].sub_modules["document"][0].tokenizer)
