"""MAR: asymmetric retrieval, a small query encoder aligned to a large LLM document tower, in three stages.

0. **Independent initialisation**: each tower is fine-tuned symmetrically on the retrieval pairs (the document tower
   with LoRA, merged afterwards).
1. **Stage I (alignment)**: the document tower is frozen; on self-pairs ``(text, text)`` of queries and documents
   the query tower learns to map a text where the document tower puts it: Asym-InfoNCE (in-batch, tau ~ 0.1) + MSE.
2. **Stage II (joint)**: both towers train with Asym-InfoNCE on hard-negative triplets (tau ~ 0.02), LoRA on the
   decoder.

Ablation switches: ``run_init``, ``run_stage1``, ``run_stage2``, ``stage1_mse_weight=0`` (no MSE),
``stage1_contrastive_weight=0`` (no contrastive). Every stage saves a plainly loadable model under
``output_dir/stages/`` and is skipped when it is already complete, so rerunning the command resumes; a stage cut
short resumes from its own last checkpoint with ``resume: true``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import ClassVar, Literal

from sbert_med.data.pairs import load_training_pairs, truncate_to_tokens
from sbert_med.recipes._common import mine_cached, run_trainer, save_final_model, seed_everything, trainer_class
from sbert_med.recipes.config import ConfigError, RecipeConfig

logger = logging.getLogger(__name__)

__all__ = ["MARConfig", "train_mar"]

_DONE = "STAGE_DONE"


@dataclasses.dataclass
class MARConfig(RecipeConfig):
    """Config of the MAR recipe; defaults follow the paper (lr 1e-4, LoRA r=32/alpha=64, tau 0.1 / 0.02).

    Args:
        query_model: The small query encoder (Hub id or path).
        query_pooling: ``"cls"`` (MAR) or ``"mean"``; ``None`` keeps a sentence-transformers folder's own pooling.
        document_model: The decoder document tower.
        bridge: How different widths meet: ``"truncate"`` (Matryoshka cut of documents to the query width) or
            ``"project"`` (a linear map of queries to the document width, trained in Stage I).
        query_max_length: Token limit of the query tower.
        document_max_length: Token limit of the document tower (EOS included).
        padding_side: Padding side of the decoder (last-token pooling is correct with both).
        train_data: Retrieval pairs: ``.jsonl`` / ``.tsv`` / ``.csv`` or a BEIR folder (``train_split``).
        max_train_examples: If > 0, a seeded sample of this many pairs.
        num_hard_negatives: Hard negatives per query in Stage II, mined with the initialised query tower over the
            training documents (ranks below ``mine_range_min`` skipped as likely false negatives).
        mine_range_min: Ranks skipped before taking mined negatives.
        run_init / run_stage1 / run_stage2: The ablation switches.
        init_epochs, init_learning_rate, init_max_steps: Independent initialisation (both towers).
        init_document_learning_rate: Learning rate of the document tower's LoRA in the initialisation (``None``:
            ``init_learning_rate``). LoRA usually wants a higher rate than a full fine-tune of the query encoder.
        stage1_epochs, stage1_learning_rate, stage1_max_steps, stage1_batch_size: Stage I.
        stage1_temperature: Stage I contrastive temperature.
        stage1_mse_weight: Weight of the MSE term (0: the "no MSE" ablation).
        stage1_contrastive_weight: Weight of the contrastive term (0: the "no contrastive" ablation).
        stage1_max_texts: If > 0, at most this many self-pair texts (queries and documents, half each).
        stage2_epochs, stage2_learning_rate, stage2_max_steps, stage2_batch_size: Stage II.
        stage2_temperature: Stage II temperature.
        stage2_document_learning_rate: Learning rate of the document tower's LoRA in Stage II (``None``:
            ``stage2_learning_rate``, the paper's one rate for both towers); set through ``learning_rate_mapping``.
        lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA of the document tower (init and Stage II).
    """

    recipe: ClassVar[str] = "mar"
    input_fields: ClassVar[tuple[str, ...]] = ("train_data",)

    output_dir: str = "runs/mar"
    query_model: str = "BAAI/bge-large-en-v1.5"
    query_pooling: Literal["cls", "mean"] | None = "cls"
    document_model: str = "Qwen/Qwen3-Embedding-4B"
    bridge: Literal["truncate", "project"] = "truncate"
    query_max_length: int = 128
    document_max_length: int = 512
    padding_side: Literal["left", "right"] = "left"
    train_data: str = ""
    train_split: str = "train"
    max_train_examples: int = 0
    num_hard_negatives: int = 1
    mine_range_min: int = 10
    run_init: bool = True
    run_stage1: bool = True
    run_stage2: bool = True
    init_epochs: float = 1.0
    init_learning_rate: float = 1e-4
    init_max_steps: int = -1
    init_document_learning_rate: float | None = None
    stage1_epochs: float = 1.0
    stage1_learning_rate: float = 1e-4
    stage1_max_steps: int = -1
    stage1_batch_size: int = 2560
    stage1_temperature: float = 0.1
    stage1_mse_weight: float = 1.0
    stage1_contrastive_weight: float = 1.0
    stage1_max_texts: int = 0
    stage2_epochs: float = 1.0
    stage2_learning_rate: float = 1e-4
    stage2_max_steps: int = -1
    stage2_batch_size: int = 640
    stage2_temperature: float = 0.02
    stage2_document_learning_rate: float | None = None
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | str = "all-linear"
    learning_rate: float = 1e-4

    def __post_init__(self) -> None:
        if not (self.run_init or self.run_stage1 or self.run_stage2):
            raise ConfigError("at least one of run_init, run_stage1, run_stage2 must be true")
        if self.run_stage1 and self.stage1_mse_weight <= 0 and self.stage1_contrastive_weight <= 0:
            raise ConfigError("stage1_mse_weight and stage1_contrastive_weight cannot both be 0")
        if self.num_hard_negatives < 0:
            raise ConfigError(f"num_hard_negatives must be >= 0, got {self.num_hard_negatives!r}")

    @property
    def lora(self) -> dict:
        return {
            "r": self.lora_r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "target_modules": self.lora_target_modules,
        }

    def stage_dir(self, stage: str) -> Path:
        return Path(self.output_dir) / "stages" / stage


# ----------------------------------------------------------------------------------------------------------- helpers
def _stage_done(path: Path) -> bool:
    return (path / _DONE).is_file()


def _finish_stage(model, path: Path, info: dict) -> None:
    from sbert_med.modules import merge_lora

    merge_lora(model)
    model.save(str(path))
    (path / _DONE).write_text(json.dumps(info, indent=2))
    logger.info("stage saved: %s", path)


def _train(
    config: MARConfig,
    model,
    train,
    loss,
    *,
    stage: str,
    epochs: float,
    lr: float,
    max_steps: int,
    batch_size: int,
    router_mapping: dict | None = None,
    learning_rate_mapping: dict | None = None,
) -> dict:
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    args = config.training_arguments(
        output_dir=str(Path(config.checkpoint_dir) / stage),
        num_train_epochs=epochs,
        learning_rate=lr,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        router_mapping=router_mapping or {},
        learning_rate_mapping=learning_rate_mapping or {},
    )
    trainer = trainer_class()(model=model, args=args, train_dataset=train, loss=loss)
    return run_trainer(
        trainer,
        checkpoint_dir=args.output_dir,
        resume=config.resume,
        info_path=Path(config.output_dir) / f"train_info_{stage}.json",
    )


def _query_tower(config: MARConfig, path: str, *, pooling=None):
    from sbert_med.modules import encoder_tower

    return encoder_tower(path, pooling=pooling, max_seq_length=config.query_max_length)


def _document_tower(config: MARConfig, path: str):
    from sbert_med.modules import eos_tower

    return eos_tower(path, max_seq_length=config.document_max_length, padding_side=config.padding_side)


def _symmetric(modules, config: MARConfig):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    return SentenceTransformer(
        modules=[*modules, Normalize()], similarity_fn_name="cosine", device="cpu" if config.use_cpu else None
    )


# ------------------------------------------------------------------------------------------------------------ stages
def _init_tower(config: MARConfig, pairs, *, route: str) -> str:
    """Independent initialisation: fine-tune one tower on its own, symmetrically (LoRA on the decoder tower)."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from sbert_med.modules import add_lora

    stage = f"init_{route}"
    path = config.stage_dir(stage)
    if not _stage_done(path):
        lr = config.init_learning_rate
        if route == "query":
            model = _symmetric(_query_tower(config, config.query_model, pooling=config.query_pooling), config)
        else:
            model = _symmetric(_document_tower(config, config.document_model), config)
            add_lora(model, route=None, config=config.lora)
            if config.init_document_learning_rate is not None:
                lr = config.init_document_learning_rate
        info = _train(
            config,
            model,
            pairs,
            MultipleNegativesRankingLoss(model, scale=1 / config.stage2_temperature),
            stage=stage,
            epochs=config.init_epochs,
            lr=lr,
            max_steps=config.init_max_steps,
            batch_size=config.batch_size,
        )
        _finish_stage(model, path, info)
    return str(path)


def _mine_hard_negatives(config: MARConfig, pairs, query_path: str):
    """Hard negatives mined once with the initialised query tower, cached in ``output_dir/data``."""
    from sentence_transformers import SentenceTransformer

    return mine_cached(
        pairs,
        lambda: SentenceTransformer(query_path, device="cpu" if config.use_cpu else None),
        cache=Path(config.output_dir) / "data" / "stage2_triplets",
        num_negatives=config.num_hard_negatives,
        range_min=config.mine_range_min,
        show_progress_bar=config.show_progress_bar,
    )


def _asymmetric(config: MARConfig, query_path: str, document_path: str):
    from sbert_med.modules import build_asymmetric_model

    query = _query_tower(
        config, query_path, pooling=None if query_path != config.query_model else config.query_pooling
    )
    return build_asymmetric_model(query, _document_tower(config, document_path), bridge=config.bridge)


def _stage1(config: MARConfig, model, pairs):
    from datasets import Dataset

    from sbert_med.losses import AlignmentLoss
    from sbert_med.modules import freeze_route, unfreeze_route

    queries = list(dict.fromkeys(pairs["anchor"]))
    documents = list(dict.fromkeys(pairs["positive"]))
    if config.stage1_max_texts > 0:
        half = config.stage1_max_texts // 2
        queries, documents = queries[:half], documents[: config.stage1_max_texts - min(half, len(queries))]
    texts = list(dict.fromkeys(queries + documents))
    self_pairs = Dataset.from_dict({"q_text": texts, "d_text": texts})
    freeze_route(model, "document")
    loss = AlignmentLoss(
        model,
        temperature=config.stage1_temperature,
        lambda_mse=config.stage1_mse_weight,
        lambda_contrastive=config.stage1_contrastive_weight,
    )
    info = _train(
        config,
        model,
        self_pairs,
        loss,
        stage="stage1",
        epochs=config.stage1_epochs,
        lr=config.stage1_learning_rate,
        max_steps=config.stage1_max_steps,
        batch_size=config.stage1_batch_size,
        router_mapping={"q_text": "query", "d_text": "document"},
    )
    unfreeze_route(model, "document")
    return info


def _stage2(config: MARConfig, model, triplets):
    from sbert_med.losses import AsymInfoNCELoss
    from sbert_med.modules import add_lora

    add_lora(model, route="document", config=config.lora)
    mapping = {column: ("query" if column == "anchor" else "document") for column in triplets.column_names}
    loss = AsymInfoNCELoss(
        model, temperature=config.stage2_temperature, gather_across_devices=config.gather_across_devices
    )
    return _train(
        config,
        model,
        triplets,
        loss,
        stage="stage2",
        epochs=config.stage2_epochs,
        lr=config.stage2_learning_rate,
        max_steps=config.stage2_max_steps,
        batch_size=config.stage2_batch_size,
        router_mapping=mapping,
        learning_rate_mapping=(
            {r"sub_modules\.document\.": config.stage2_document_learning_rate}
            if config.stage2_document_learning_rate is not None
            else None
        ),
    )


def train_mar(config: MARConfig) -> str:
    """Run the enabled MAR stages; returns the directory of the final, plainly loadable asymmetric model.

    Stage models: ``stages/init_query``, ``stages/init_document`` (symmetric), ``stages/stage1``,
    ``stages/stage2`` (asymmetric). The final model (``output_dir/model``) is the last stage run.
    """
    from sentence_transformers import SentenceTransformer

    seed_everything(config.seed)
    if not config.train_data:
        raise ConfigError("train_data is required (a .jsonl / .tsv / .csv file or a BEIR folder)")
    pairs = load_training_pairs(
        config.train_data, split=config.train_split, max_examples=config.max_train_examples, seed=config.seed
    )
    pairs = pairs.select_columns(["anchor", "positive"])
    if config.run_init:
        query_path = _init_tower(config, pairs, route="query")
        document_path = _init_tower(config, pairs, route="document")
    else:
        query_path, document_path = config.query_model, config.document_model
    tokenizer = SentenceTransformer(query_path, device="cpu").tokenizer if Path(query_path).is_dir() else None
    if tokenizer is not None:
        anchors = truncate_to_tokens(pairs["anchor"], tokenizer, config.query_max_length)
        pairs = pairs.remove_columns("anchor").add_column("anchor", anchors).select_columns(["anchor", "positive"])
    stages = {}
    model = None
    if config.run_stage1:
        path = config.stage_dir("stage1")
        if not _stage_done(path):
            model = _asymmetric(config, query_path, document_path)
            _finish_stage(model, path, _stage1(config, model, pairs))
        model = None
        stages["stage1"] = str(path)
    if config.run_stage2:
        path = config.stage_dir("stage2")
        if not _stage_done(path):
            if config.run_stage1:
                model = SentenceTransformer(stages["stage1"], device="cpu" if config.use_cpu else None)
            else:
                model = _asymmetric(config, query_path, document_path)
            triplets = pairs
            if config.num_hard_negatives > 0:
                triplets = _mine_hard_negatives(
                    config, pairs, query_path if Path(query_path).is_dir() else config.query_model
                )
            _finish_stage(model, path, _stage2(config, model, triplets))
        stages["stage2"] = str(path)
    if not stages:  # init only: nothing asymmetric trained yet, assemble the two initialised towers
        model = _asymmetric(config, query_path, document_path)
    else:
        model = SentenceTransformer(stages[list(stages)[-1]], device="cpu" if config.use_cpu else None)
    return save_final_model(model, config.model_dir, family="mar", recipe_config=config.to_dict())
