"""MedEIR: medical tokenizer extension, continued masked-LM pretraining, then contrastive fine-tuning.

MedEIR (no public code or weights) pairs a tokenizer optimised for medical vocabulary with an encoder that reads up
to 8,192 tokens, pre-trained on medical text and then fine-tuned contrastively. This recipe rebuilds that pipeline on
a backbone transformers supports natively:

1. Base model: ``model`` as an encoder tower (``sbert_med.modules.encoder_tower``) + ``Normalize``, configured for
   ``max_seq_length`` tokens (8,192 for ``answerdotai/ModernBERT-base``).
2. Tokenizer extension (``new_tokens > 0``, WordPiece tokenizers): whole-word medical tokens learned from
   ``tokenizer_corpus`` with ``tokenizers``, embeddings initialised as the mean of their old pieces
   (:func:`sbert_med.tokenizer.extend_tokenizer`).
3. Continued pretraining: masked language modelling on ``mlm_corpus`` with transformers' ``Trainer`` and
   ``DataCollatorForLanguageModeling`` (:func:`sbert_med.training.continue_pretraining`).
4. Contrastive fine-tuning: the MedEmbed recipe (InfoNCE with in-batch and optional hard negatives) on the
   pretrained model; ``contrastive`` holds its options (``train_data``, ``dev_data``, ``temperature``, ...).
5. The final model, set back to ``max_seq_length``, saved with the ``medeir`` model card.

The run folder (:class:`sbert_med.training.RunFolder`) holds the stages: ``stages/pretrained`` (steps 1-3, its
done-marker holds the tokenizer and MLM reports) and ``contrastive/`` (step 4, a MedEmbed run); a rerun skips the
finished stages and ``resume: true`` continues unfinished training from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
from pathlib import Path
from typing import Any, ClassVar, Literal

from sbert_med.recipes.config import ConfigError, RecipeConfig, recorded_config
from sbert_med.training import RunFolder, Stage, finalize_model, seed_everything

logger = logging.getLogger(__name__)

__all__ = ["MedEIRConfig", "build_medeir_base_model", "train_medeir"]


@dataclasses.dataclass
class MedEIRConfig(RecipeConfig):
    """Config of the MedEIR recipe. Shared training fields (``epochs``, ``batch_size``, ``learning_rate``, ...)
    drive the contrastive stage; the ``mlm_*`` fields drive continued pretraining.

    Args:
        model: Base encoder (Hub id or local folder; ``~`` and ``$VARS`` are expanded). Full scale:
            ``answerdotai/ModernBERT-base`` (8,192 positions, native in transformers).
        pooling: Pooling of the encoder tower (``None``: the saved pooling of a sentence-transformers folder).
        max_seq_length: Tokens the final model reads (8,192 for ModernBERT; 512 at most for BERT-size models).
        tokenizer_corpus: Files (``.txt``/``.jsonl``/``.tsv``) to learn new tokens from.
        new_tokens: How many whole-word medical tokens to add (0: keep the tokenizer). WordPiece tokenizers only.
        token_min_frequency: Minimum corpus frequency of a new token.
        token_vocab_size: Size of the WordPiece vocabulary trained on ``tokenizer_corpus``.
        mlm_corpus: Files of medical text for masked language modelling (empty: no continued pretraining).
        mlm_max_texts: If > 0, read at most this many texts from each ``mlm_corpus`` file.
        mlm_eval_texts: Texts held out from ``mlm_corpus`` to measure the MLM loss before and after.
        mlm_probability: Share of tokens masked (ModernBERT was pretrained with 0.3, BERT with 0.15).
        mlm_max_length: Tokens per MLM text.
        mlm_epochs / mlm_max_steps / mlm_batch_size / mlm_learning_rate: MLM training.
        contrastive: Options of the contrastive stage, passed to
            :class:`~sbert_med.recipes.medembed.MedEmbedConfig` (``train_data`` is required).
    """

    recipe: ClassVar[str] = "medeir"
    input_fields: ClassVar[tuple[str, ...]] = ("tokenizer_corpus", "mlm_corpus")

    output_dir: str = "runs/medeir"
    model: str = "answerdotai/ModernBERT-base"
    pooling: Literal["cls", "mean"] | None = "mean"
    max_seq_length: int = 8192
    tokenizer_corpus: list[str] = dataclasses.field(default_factory=list)
    new_tokens: int = 0
    token_min_frequency: int = 5
    token_vocab_size: int = 30000
    mlm_corpus: list[str] = dataclasses.field(default_factory=list)
    mlm_max_texts: int = 0
    mlm_eval_texts: int = 200
    mlm_probability: float = 0.15
    mlm_max_length: int = 512
    mlm_epochs: float = 1.0
    mlm_max_steps: int = -1
    mlm_batch_size: int = 16
    mlm_learning_rate: float = 5e-5
    contrastive: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> MedEIRConfig:
        """Like :meth:`RecipeConfig.from_dict`; ``contrastive.KEY`` entries (e.g. ``--set contrastive.max_steps=5``)
        are folded into the ``contrastive`` mapping."""
        if isinstance(data, dict) and any(str(key).startswith("contrastive.") for key in data):
            data = dict(data)
            contrastive = dict(data.get("contrastive") or {})
            for key in [key for key in data if str(key).startswith("contrastive.")]:
                contrastive[key.split(".", 1)[1]] = data.pop(key)
            data["contrastive"] = contrastive
        return super().from_dict(data, source=source)

    def __post_init__(self) -> None:
        if self.max_seq_length < 8:
            raise ConfigError(f"max_seq_length must be >= 8, got {self.max_seq_length!r}")
        if self.new_tokens < 0:
            raise ConfigError(f"new_tokens must be >= 0, got {self.new_tokens!r}")
        if self.new_tokens > 0 and not self.tokenizer_corpus:
            raise ConfigError("new_tokens > 0 needs tokenizer_corpus (files to learn the tokens from)")
        if not 0 < self.mlm_probability < 1:
            raise ConfigError(f"mlm_probability must be between 0 and 1, got {self.mlm_probability!r}")
        reserved = {"model", "output_dir"} & set(self.contrastive)
        if reserved:
            raise ConfigError(f"contrastive must not set {sorted(reserved)}: the recipe sets them")

    @property
    def pretrained_dir(self) -> str:
        """The model after tokenizer extension and continued pretraining (input of the contrastive stage)."""
        return str(Path(self.output_dir) / "stages" / "pretrained")


def _expand(path: str) -> str:
    return os.path.expanduser(os.path.expandvars(path))


def build_medeir_base_model(config: MedEIRConfig):
    """The base encoder as ``[Transformer, Pooling, Normalize]``, reading ``config.max_seq_length`` tokens."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import encoder_tower, max_positions

    modules = encoder_tower(_expand(config.model), pooling=config.pooling, max_seq_length=config.max_seq_length)
    positions = max_positions(modules[0].auto_model.config)
    if positions is not None and positions < config.max_seq_length:
        raise ConfigError(
            f"max_seq_length={config.max_seq_length} exceeds the {positions} positions of {config.model}"
        )
    tokenizer = modules[0].tokenizer
    if tokenizer.model_max_length < config.max_seq_length:
        tokenizer.model_max_length = config.max_seq_length
    return SentenceTransformer(
        modules=[*modules, Normalize()], device="cpu" if config.use_cpu else None, similarity_fn_name="cosine"
    )


def _read_corpus(files: list[str], *, limit: int) -> list[str]:
    from sbert_med.data.corpus import read_texts

    texts: list[str] = []
    for file in files:
        texts += read_texts(_expand(file), limit=limit or None)
    return texts


def _pretrain(config: MedEIRConfig):
    """Stages 1-3: base model, tokenizer extension, masked-LM pretraining (the ``pretrained`` stage)."""
    from sbert_med.tokenizer import extend_tokenizer, learn_medical_tokens
    from sbert_med.training import continue_pretraining

    def run_stage(stage: Stage):
        model = build_medeir_base_model(config)
        info: dict[str, Any] = {}
        if config.new_tokens > 0:
            corpus = _read_corpus(config.tokenizer_corpus, limit=0)
            learned = learn_medical_tokens(
                corpus,
                model.tokenizer,
                max_new_tokens=config.new_tokens,
                vocab_size=config.token_vocab_size,
                min_frequency=config.token_min_frequency,
                show_progress_bar=config.show_progress_bar,
            )
            report = extend_tokenizer(model, learned, check_texts=corpus[:20000])
            info["tokenizer_extension"] = {k: v for k, v in report.to_dict().items() if k != "init_pieces"}
            info["tokenizer_extension"]["added"] = report.added[:50]
            info["tokenizer_extension"]["num_added"] = len(report.added)
        if config.mlm_corpus:
            texts = _read_corpus(config.mlm_corpus, limit=config.mlm_max_texts)
            random.Random(config.seed).shuffle(texts)
            held_out = min(config.mlm_eval_texts, len(texts) // 10)
            mlm = continue_pretraining(
                model,
                texts[held_out:],
                eval_texts=texts[:held_out],
                output_dir=stage.checkpoint_dir,
                mlm_probability=config.mlm_probability,
                max_length=min(config.mlm_max_length, config.max_seq_length),
                epochs=config.mlm_epochs,
                max_steps=config.mlm_max_steps,
                batch_size=config.mlm_batch_size,
                learning_rate=config.mlm_learning_rate,
                save_steps=config.save_steps,
                seed=config.seed,
                use_cpu=config.use_cpu,
                bf16=config.bf16,
                resume=config.resume,
                show_progress_bar=config.show_progress_bar,
            )
            info["mlm"] = mlm.to_dict()
        return model, info

    return run_stage


def train_medeir(config: MedEIRConfig) -> str:
    """Run the MedEIR recipe; returns the directory of the saved, plainly loadable model."""
    from sentence_transformers import SentenceTransformer

    from sbert_med.recipes.medembed import MedEmbedConfig, train_medembed

    run = RunFolder.for_config(config)
    seed_everything(config.seed)
    pretrained = run.stage("pretrained")
    pretrained.run_once(_pretrain(config))
    info = pretrained.info()
    shared = {name: getattr(config, name) for name in RecipeConfig.field_names() if name != "output_dir"}
    contrastive = MedEmbedConfig.from_dict(
        {
            **shared,
            **config.contrastive,
            "model": str(pretrained.path),
            "output_dir": str(run.path / "contrastive"),
        },
        source=f"{config.output_dir}: contrastive",
    )
    contrastive_dir = train_medembed(contrastive)
    train_info = Path(contrastive.output_dir) / "train_info.json"
    info["contrastive"] = json.loads(train_info.read_text()) if train_info.is_file() else {}
    eval_results = info["contrastive"].get("dev")
    model = SentenceTransformer(contrastive_dir, device="cpu" if config.use_cpu else None)
    model.max_seq_length = config.max_seq_length
    run.write_json("medeir_info.json", info)
    return finalize_model(
        model,
        run.model_dir,
        family="medeir",
        recipe_config=recorded_config(
            config,
            training_max_seq_length={"mlm": min(config.mlm_max_length, config.max_seq_length),
                                     "contrastive": contrastive.passage_max_length},
            inference_max_seq_length=config.max_seq_length,
        ),
        eval_results={"dev": eval_results} if eval_results else None,
    )
