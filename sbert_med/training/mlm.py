"""Continued (masked-LM) pretraining of the encoder inside a SentenceTransformer: generic, any encoder.

Uses transformers' own ``Trainer`` and ``DataCollatorForLanguageModeling``. The masked-LM model *shares* the
SentenceTransformer's encoder (its base model is swapped for the ``Transformer`` module's ``auto_model``), so the
training updates the SentenceTransformer in place and nothing has to be copied back. The MLM head is loaded from the
checkpoint when it has one (ModernBERT, BERT) and initialised otherwise (all-MiniLM-L6-v2 ships without it).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sentence_transformers import SentenceTransformer

from sbert_med.modules.routes import find_transformer
from sbert_med.training.run import last_checkpoint

logger = logging.getLogger(__name__)


@dataclass
class MLMReport:
    """Outcome of :func:`continue_pretraining`: steps, training loss and held-out MLM loss before and after."""

    train_texts: int
    eval_texts: int
    global_step: int
    train_loss: float
    eval_loss_before: float | None
    eval_loss_after: float | None
    head_from_checkpoint: bool
    resumed_from: str | None = None

    @property
    def perplexity_after(self) -> float | None:
        return math.exp(self.eval_loss_after) if self.eval_loss_after is not None else None

    def to_dict(self) -> dict:
        return asdict(self) | {"perplexity_after": self.perplexity_after}


def continue_pretraining(
    model: SentenceTransformer,
    texts: Sequence[str],
    *,
    output_dir: str | Path,
    route: str | None = None,
    eval_texts: Sequence[str] | None = None,
    mlm_probability: float = 0.15,
    max_length: int = 256,
    epochs: float = 1.0,
    max_steps: int = -1,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    warmup_ratio: float = 0.06,
    weight_decay: float = 0.01,
    save_steps: int = 500,
    seed: int = 42,
    use_cpu: bool = False,
    bf16: bool = False,
    resume: bool = False,
    show_progress_bar: bool = True,
) -> MLMReport:
    """Masked language modelling on ``texts`` for the encoder of ``model`` (updated in place).

    Args:
        model: A SentenceTransformer whose first module (or ``route`` of its ``Router``) is an encoder
            ``Transformer`` with a masked-LM class in transformers (BERT, MiniLM, ModernBERT, RoBERTa, ...).
        texts: Training texts (e.g. textbook paragraphs), truncated to ``max_length`` tokens.
        output_dir: Checkpoints of the transformers ``Trainer`` (``checkpoint-N``), for ``resume``.
        route: The ``Router`` route to train, for a model with a Router.
        eval_texts: Held-out texts: the MLM loss is measured on them before and after training (same masks).
        mlm_probability: Share of tokens masked.
        max_length: Tokens per text.
        epochs, max_steps, batch_size, learning_rate, warmup_ratio, weight_decay, save_steps, seed, use_cpu, bf16:
            Passed to ``transformers.TrainingArguments``.
        resume: Continue from the last checkpoint in ``output_dir``.
        show_progress_bar: Show the trainer's progress bar.

    Returns:
        An :class:`MLMReport`.
    """
    from datasets import Dataset
    from transformers import (
        AutoModelForMaskedLM,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    if not 0 < mlm_probability < 1:
        raise ValueError(f"mlm_probability must be between 0 and 1, got {mlm_probability!r}")
    if max_length < 8:
        raise ValueError(f"max_length must be >= 8, got {max_length!r}")
    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty sequence of strings")
    transformer = find_transformer(model, route=route)
    tokenizer, encoder = transformer.tokenizer, transformer.auto_model
    if tokenizer.mask_token is None:
        raise ValueError(f"the tokenizer of {encoder.config._name_or_path!r} has no mask token; MLM needs one")
    mlm_model, head_from_checkpoint = _masked_lm_sharing(encoder, AutoModelForMaskedLM)
    device = next(encoder.parameters()).device

    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length, return_special_tokens_mask=True)

    train_dataset = Dataset.from_dict({"text": list(texts)}).map(tokenize, batched=True, remove_columns=["text"])
    eval_dataset = None
    if eval_texts:
        eval_dataset = Dataset.from_dict({"text": list(eval_texts)}).map(tokenize, batched=True,
                                                                          remove_columns=["text"])
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=mlm_probability)
    # transformers 5 takes a warm-up ratio as a float warmup_steps; 4.x has warmup_ratio
    warmup = {"warmup_ratio": warmup_ratio} if "warmup_ratio" in inspect.signature(TrainingArguments).parameters else {
        "warmup_steps": warmup_ratio}
    args = TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=epochs, max_steps=max_steps,
        per_device_train_batch_size=batch_size, per_device_eval_batch_size=batch_size, learning_rate=learning_rate,
        weight_decay=weight_decay, save_strategy="steps", save_steps=save_steps, **warmup,
        save_total_limit=1, logging_steps=10, seed=seed, data_seed=seed, use_cpu=use_cpu, bf16=bf16,
        report_to="none", disable_tqdm=not show_progress_bar, remove_unused_columns=True,
    )
    trainer = Trainer(model=mlm_model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      data_collator=collator)

    def held_out_loss() -> float | None:
        if eval_dataset is None:
            return None
        set_seed(seed)  # the same masks before and after
        return float(trainer.evaluate()["eval_loss"])

    loss_before = held_out_loss()
    last = last_checkpoint(output_dir) if resume else None
    if resume and last is None:
        logger.warning("resume requested but %s holds no checkpoint: training from the start", output_dir)
    output = trainer.train(resume_from_checkpoint=last)
    loss_after = held_out_loss()
    encoder.to(device)
    mlm_model.eval()
    report = MLMReport(
        train_texts=len(train_dataset), eval_texts=len(eval_dataset) if eval_dataset is not None else 0,
        global_step=trainer.state.global_step, train_loss=float(output.training_loss),
        eval_loss_before=loss_before, eval_loss_after=loss_after, head_from_checkpoint=head_from_checkpoint,
        resumed_from=Path(last).name if last else None,
    )
    logger.info("MLM: %d steps, train loss %.3f, held-out loss %s -> %s", report.global_step, report.train_loss,
                loss_before, loss_after)
    return report


def _masked_lm_sharing(encoder, auto_class):
    """A masked-LM model whose base model *is* ``encoder`` (same parameters), and whether its head was loaded."""
    config = encoder.config
    source = getattr(config, "_name_or_path", "")
    head_from_checkpoint = False
    try:
        mlm_model = auto_class.from_config(config)
    except ValueError as exc:
        raise ValueError(f"{type(encoder).__name__} has no masked-LM class in transformers: {exc}") from exc
    if source and Path(source).is_dir():
        head_from_checkpoint = _load_head(mlm_model, Path(source))
    prefix = mlm_model.base_model_prefix
    if not hasattr(mlm_model, prefix):
        raise ValueError(f"cannot find the base model ({prefix!r}) of {type(mlm_model).__name__}")
    setattr(mlm_model, prefix, encoder)
    mlm_model.resize_token_embeddings(encoder.get_input_embeddings().weight.shape[0], mean_resizing=False)
    mlm_model.tie_weights()
    output = mlm_model.get_output_embeddings()
    if output is not None and getattr(config, "tie_word_embeddings", True):
        assert output.weight is encoder.get_input_embeddings().weight, "MLM decoder is not tied to the encoder"
    if not head_from_checkpoint:
        logger.info("%s has no MLM head weights: the head starts from its initialisation", source or "the model")
    return mlm_model.to(next(encoder.parameters()).device), head_from_checkpoint


def _load_head(mlm_model, folder: Path) -> bool:
    """Load the head weights (everything outside the base model) of a local checkpoint, if it has them."""
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return False
    state = {}
    for file in files:
        state.update(load_file(str(file)))
    prefix = mlm_model.base_model_prefix + "."
    head = {key: value for key, value in state.items() if not key.startswith(prefix) and key in
            mlm_model.state_dict()}
    if not head:
        return False
    own = mlm_model.state_dict()
    head = {key: value for key, value in head.items() if own[key].shape == value.shape}
    mlm_model.load_state_dict(head, strict=False)
    return bool(head)
