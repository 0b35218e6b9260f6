"""LoRA inside a Router through training: resume, best model, merged final save (tiny models)."""

from __future__ import annotations

import os

import numpy as np
import torch
from datasets import Dataset
from peft import LoraConfig
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
from sentence_transformers.base.evaluation import SentenceEvaluator
from transformers import TrainerCallback

from sbert_med.losses import AsymInfoNCELoss
from sbert_med.modules import add_lora
from sbert_med.training import MedTrainer

QUERIES = ["blood pressure drug", "metformin dose", "chest pain", "asthma inhaler", "low hemoglobin", "stroke signs"]
DOCUMENTS = [
    "Hypertension is treated with diuretics.", "Metformin is first-line for type 2 diabetes.",
    "Myocardial infarction presents with chest pain.", "Asthma is treated with inhaled beta agonists.",
    "Anemia is a reduced number of red blood cells.", "Stroke: sudden numbness, confusion, trouble speaking.",
]
DATASET = Dataset.from_dict({"anchor": QUERIES * 4, "positive": DOCUMENTS * 4})
LORA = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])


def _with_lora(model, seed):
    torch.manual_seed(seed)
    return add_lora(model, config=LORA)


def _args(output_dir, **kwargs):
    defaults = dict(
        max_steps=4, per_device_train_batch_size=4, learning_rate=1e-2, save_strategy="steps", save_steps=2,
        router_mapping={"anchor": "query", "positive": "document"}, report_to="none", use_cpu=True, seed=7,
        logging_steps=1, lr_scheduler_type="constant",
    )
    return SentenceTransformerTrainingArguments(output_dir=str(output_dir), **{**defaults, **kwargs})


def _state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True  # a crash right after the checkpoint


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tiny_model, tiny_encoder_path, tiny_decoder_path,
                                                               tmp_path, request):
    from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower

    def fresh():
        return build_asymmetric_model(encoder_tower(tiny_encoder_path, pooling="mean"), eos_tower(tiny_decoder_path))

    straight = _with_lora(tiny_model, seed=0)
    MedTrainer(model=straight, args=_args(tmp_path / "a"), train_dataset=DATASET,
               loss=AsymInfoNCELoss(straight)).train()

    crashed = _with_lora(fresh(), seed=0)
    MedTrainer(model=crashed, args=_args(tmp_path / "b"), train_dataset=DATASET, loss=AsymInfoNCELoss(crashed),
               callbacks=[StopAt(2)]).train()
    checkpoint = tmp_path / "b" / "checkpoint-2"
    files = set(os.listdir(checkpoint / "document_0_Transformer"))
    assert "adapter_model.safetensors" in files and "model.safetensors" not in files  # adapter-only folder

    resumed = _with_lora(fresh(), seed=123)  # different LoRA init and no training: all must come from the checkpoint
    with torch.no_grad():
        for param in resumed[0].sub_modules["query"].parameters():
            param.add_(0.1)
    trainer = MedTrainer(model=resumed, args=_args(tmp_path / "b"), train_dataset=DATASET,
                         loss=AsymInfoNCELoss(resumed))
    trainer.train(resume_from_checkpoint=str(checkpoint))
    assert trainer.state.global_step == 4
    expected, got = _state(straight), _state(resumed)
    assert expected.keys() == got.keys()
    assert any("lora_B" in n for n in got) and any("sub_modules.query" in n for n in got)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-6, rtol=1e-5, msg=name)


class DecliningEvaluator(SentenceEvaluator):
    """Scores 1.0 at the first evaluation and less afterwards: the best checkpoint is the first one."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.primary_metric = "score"

    def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        self.calls += 1
        return {"score": 1.0 / self.calls}


class Snapshot(TrainerCallback):
    def __init__(self, model):
        self.model, self.states = model, {}

    def on_step_end(self, args, state, control, **kwargs):
        self.states[state.global_step] = _state(self.model)


def test_load_best_model_at_end_restores_the_adapter_and_final_save_merges(tiny_model, tmp_path):
    model = _with_lora(tiny_model, seed=0)
    snapshot = Snapshot(model)
    args = _args(tmp_path / "run", max_steps=6, eval_strategy="steps", eval_steps=2, load_best_model_at_end=True,
                 metric_for_best_model="eval_score", greater_is_better=True)
    trainer = MedTrainer(model=model, args=args, train_dataset=DATASET, loss=AsymInfoNCELoss(model),
                         evaluator=DecliningEvaluator(), callbacks=[snapshot])
    trainer.train()
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-2")
    best, last, now = snapshot.states[2], snapshot.states[6], _state(model)
    assert any(not torch.equal(best[n], last[n]) for n in best if "lora_B" in n)  # steps 3-6 changed the adapter
    for name in best:  # ...but the model now holds the best checkpoint, adapter included
        torch.testing.assert_close(now[name], best[name], atol=0, rtol=0, msg=name)

    out = tmp_path / "final"
    trainer.save_model(str(out))
    assert "adapter_config.json" not in os.listdir(out / "document_0_Transformer")
    reloaded = SentenceTransformer(str(out))  # plain reload, no adapter, no base-path dependency
    np.testing.assert_allclose(reloaded.encode_document(DOCUMENTS), model.encode_document(DOCUMENTS), atol=1e-5)
    np.testing.assert_allclose(reloaded.encode_query(QUERIES), model.encode_query(QUERIES), atol=1e-6)
    assert any("lora_B" in n for n, _ in model.named_parameters())  # the trained model keeps its adapter


def test_frozen_tower_is_kept_in_eval_mode_during_training(tiny_model, tmp_path):
    document = tiny_model[0].sub_modules["document"]
    document.requires_grad_(False)  # frozen by hand, not with freeze_route
    modes = {"query": [], "document": []}
    tiny_model[0].sub_modules["query"][0].register_forward_hook(lambda m, i, o: modes["query"].append(m.training))
    document[0].register_forward_hook(lambda m, i, o: modes["document"].append(m.training))
    before = _state(tiny_model)
    MedTrainer(model=tiny_model, args=_args(tmp_path, max_steps=2, save_strategy="no"), train_dataset=DATASET,
               loss=AsymInfoNCELoss(tiny_model)).train()
    assert modes["query"] and all(modes["query"])
    assert modes["document"] and not any(modes["document"])
    after = _state(tiny_model)
    assert all(torch.equal(before[n], after[n]) for n in before if "sub_modules.document" in n)
