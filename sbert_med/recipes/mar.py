"""MAR: asymmetric retrieval, a small query encoder aligned to a large LLM document tower, in three stages.

0. **Independent initialisation**: each tower is fine-tuned symmetrically on the retrieval pairs (the document tower
   with LoRA, merged afterwards).
1. **Stage I (alignment)**: the document tower is frozen; on self-pairs ``(text, text)`` of queries and documents
   the query tower learns to map a text where the document tower puts it: Asym-InfoNCE (in-batch, tau ~ 0.1) + MSE.
2. **Stage II (joint)**: both towers train with Asym-InfoNCE on hard-negative triplets (tau ~ 0.02), LoRA on the
   decoder.

Ablation switches: ``run_init``, ``run_stage1``, ``run_stage2``, ``stage1_mse_weight=0`` (no MSE),
``stage1_contrastive_weight=0`` (no contrastive). The run folder (:class:`sbert_med.training.RunFolder`) holds one
stage per step: each saves a plainly loadable model under ``output_dir/stages/`` and is skipped when it is already
done, so rerunning the command resumes; a stage cut short resumes from its own last checkpoint with ``resume: true``.

Where the defaults come from (see ``examples/mar/README.md``): the paper states the LoRA rank/alpha (32/64), the
learning rate (1e-4 for both towers), the global batches (2,560 in Stage I, 640 in Stage II), one Stage II epoch,
lambda_1 = lambda_2 = 1 and CLS pooling of the query tower; the temperatures (0.1 in Stage I, 0.02 in Stage II) come
from the authors' public code, not the paper; everything else (lengths, mining, LoRA dropout, the init stage's
settings) is ours.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import ClassVar, Literal

from sbert_med.data.pairs import load_training_pairs, truncate_to_tokens
from sbert_med.recipes.config import ConfigError, RecipeConfig, recorded_config
from sbert_med.recipes.negatives import mine_training_negatives
from sbert_med.training import MedTrainer, RunFolder, Stage, finalize_model, seed_everything

logger = logging.getLogger(__name__)

__all__ = ["MARConfig", "train_mar"]


@dataclasses.dataclass
class MARConfig(RecipeConfig):
    """Config of the MAR recipe. Sources of the defaults: (paper) lr 1e-4, LoRA r=32/alpha=64, batches 2,560 / 640,
    one Stage II epoch, lambda 1/1, CLS query pooling; (code) tau 0.1 / 0.02; (ours) the rest.

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
        num_negatives: Negatives per example supplied by ``train_data`` (``neg`` / ``negative*``), used as the hard
            negatives of Stage II; when > 0 nothing is mined. (ours)
        num_hard_negatives: Hard negatives per query in Stage II when the data supplies none, mined with the
            initialised query tower over the training documents by :func:`sbert_med.data.mine_negatives` (ranks
            below ``mine_range_min`` skipped, positives of duplicate questions and candidates within
            ``mine_margin`` of the positive dropped as likely false negatives). (ours; the paper grades candidates
            with an LLM instead)
        mine_range_min: Ranks skipped before taking mined negatives. (ours)
        mine_margin: Relative margin below the positive's score a mined negative must keep (``None``: off). (ours)
        run_init / run_stage1 / run_stage2: The ablation switches.
        init_epochs, init_learning_rate, init_max_steps: Independent initialisation (both towers).
        init_document_learning_rate: Learning rate of the document tower's LoRA in the initialisation (``None``:
            ``init_learning_rate``). LoRA usually wants a higher rate than a full fine-tune of the query encoder.
        stage1_epochs, stage1_learning_rate, stage1_max_steps, stage1_batch_size: Stage I.
        stage1_temperature: Stage I contrastive temperature (0.1: the authors' public code; the paper gives none).
        stage1_mse_weight: Weight of the MSE term (0: the "no MSE" ablation).
        stage1_contrastive_weight: Weight of the contrastive term (0: the "no contrastive" ablation).
        stage1_max_texts: If > 0, at most this many self-pair texts (queries and documents, half each).
        stage2_epochs, stage2_learning_rate, stage2_max_steps, stage2_batch_size: Stage II.
        stage2_temperature: Stage II temperature (0.02: the authors' public code; the paper gives none).
        stage2_document_learning_rate: Learning rate of the document tower's LoRA in Stage II (``None``:
            ``stage2_learning_rate``, the paper's one rate for both towers); set through ``learning_rate_mapping``.
        lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA of the document tower (init and Stage II).
    """

    recipe: ClassVar[str] = "mar"
    input_fields: ClassVar[tuple[str, ...]] = ("train_data",)
    positive_fields: ClassVar[tuple[str, ...]] = (
        *RecipeConfig.positive_fields,
        "query_max_length",
        "document_max_length",
        "init_learning_rate",
        "stage1_learning_rate",
        "stage1_batch_size",
        "stage1_temperature",
        "stage2_learning_rate",
        "stage2_batch_size",
        "stage2_temperature",
        "init_document_learning_rate",
        "stage2_document_learning_rate",
        "lora_r",
        "lora_alpha",
    )
    non_negative_fields: ClassVar[tuple[str, ...]] = (
        *RecipeConfig.non_negative_fields,
        "max_train_examples",
        "num_negatives",
        "num_hard_negatives",
        "mine_range_min",
        "stage1_mse_weight",
        "stage1_contrastive_weight",
        "stage1_max_texts",
        "lora_dropout",
    )

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
    num_negatives: int = 0
    num_hard_negatives: int = 1
    mine_range_min: int = 10
    mine_margin: float | None = 0.05
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
        super().__post_init__()
        for stage in ("init", "stage1", "stage2"):
            epochs, max_steps = getattr(self, f"{stage}_epochs"), getattr(self, f"{stage}_max_steps")
            if not epochs > 0 and not max_steps > 0:
                raise ConfigError(f"{stage}_epochs must be > 0 (or {stage}_max_steps > 0), got {epochs!r}")
        if not (self.run_init or self.run_stage1 or self.run_stage2):
            raise ConfigError("at least one of run_init, run_stage1, run_stage2 must be true")
        if self.run_stage1 and self.stage1_mse_weight <= 0 and self.stage1_contrastive_weight <= 0:
            raise ConfigError("stage1_mse_weight and stage1_contrastive_weight cannot both be 0")

    @property
    def lora(self) -> dict:
        return {
            "r": self.lora_r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "target_modules": self.lora_target_modules,
        }


# ----------------------------------------------------------------------------------------------------------- helpers
def _train(
    config: MARConfig,
    stage: Stage,
    model,
    train,
    loss,
    *,
    epochs: float,
    lr: float,
    max_steps: int,
    batch_size: int,
    router_mapping: dict | None = None,
    learning_rate_mapping: dict | None = None,
) -> dict:
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    args = config.training_arguments(
        output_dir=str(stage.checkpoint_dir),
        num_train_epochs=epochs,
        learning_rate=lr,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        router_mapping=router_mapping or {},
        learning_rate_mapping=learning_rate_mapping or {},
    )
    trainer = MedTrainer(model=model, args=args, train_dataset=train, loss=loss)
    return stage.run.train(trainer, stage=stage.name)


def _device(config: MARConfig) -> str | None:
    return "cpu" if config.use_cpu else None


def _query_tower(config: MARConfig, path: str, *, pooling=None):
    from sbert_med.modules import encoder_tower

    return encoder_tower(path, pooling=pooling, max_seq_length=config.query_max_length)


def _document_tower(config: MARConfig, path: str):
    from sbert_med.modules import eos_tower

    return eos_tower(path, max_seq_length=config.document_max_length, padding_side=config.padding_side)


def _symmetric(modules, config: MARConfig):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    return SentenceTransformer(modules=[*modules, Normalize()], similarity_fn_name="cosine", device=_device(config))


def _asymmetric(config: MARConfig, query_path: str, document_path: str):
    from sbert_med.modules import build_asymmetric_model

    query = _query_tower(
        config, query_path, pooling=None if query_path != config.query_model else config.query_pooling
    )
    return build_asymmetric_model(query, _document_tower(config, document_path), bridge=config.bridge)


def _load(config: MARConfig, path: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=_device(config))


# ------------------------------------------------------------------------------------------------------------ data
def _training_pairs(config: MARConfig):
    """``anchor``, ``positive`` and the ``negative_i`` columns the data supplies (``num_negatives``)."""
    if not config.train_data:
        raise ConfigError("train_data is required (a .jsonl / .tsv / .csv file or a BEIR folder)")
    return load_training_pairs(
        config.train_data,
        split=config.train_split,
        num_negatives=config.num_negatives,
        max_examples=config.max_train_examples,
        seed=config.seed,
    )


def _cut_queries(config: MARConfig, data, query_path: str):
    """Queries cut to ``query_max_length`` tokens of the (initialised) query tower's tokenizer."""
    from sentence_transformers import SentenceTransformer

    if not Path(query_path).is_dir():
        return data
    tokenizer = SentenceTransformer(query_path, device="cpu").tokenizer
    anchors = truncate_to_tokens(data["anchor"], tokenizer, config.query_max_length)
    return data.remove_columns("anchor").add_column("anchor", anchors).select_columns(data.column_names)


def _self_pairs(config: MARConfig, pairs):
    """Stage I data: ``(text, text)`` over the distinct queries and documents."""
    from datasets import Dataset

    queries = list(dict.fromkeys(pairs["anchor"]))
    documents = list(dict.fromkeys(pairs["positive"]))
    if config.stage1_max_texts > 0:
        half = config.stage1_max_texts // 2
        queries, documents = queries[:half], documents[: config.stage1_max_texts - min(half, len(queries))]
    texts = list(dict.fromkeys(queries + documents))
    return Dataset.from_dict({"q_text": texts, "d_text": texts})


def _stage2_data(config: MARConfig, run: RunFolder, data, *, mining_tower: str):
    """Stage II rows: the supplied negatives, else negatives mined with the initialised query tower."""
    if config.num_negatives > 0 or config.num_hard_negatives == 0:
        return data
    return mine_training_negatives(
        run,
        data,
        lambda: _load(config, mining_tower),
        name="stage2_triplets",
        num_negatives=config.num_hard_negatives,
        range_min=config.mine_range_min,
        relative_margin=config.mine_margin,
        show_progress_bar=config.show_progress_bar,
    )


# ------------------------------------------------------------------------------------------------------------ stages
def _init_tower(config: MARConfig, pairs, *, route: str):
    """Independent initialisation: fine-tune one tower on its own, symmetrically (LoRA on the decoder tower)."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from sbert_med.modules import add_lora

    def run_stage(stage: Stage):
        lr = config.init_learning_rate
        if route == "query":
            model = _symmetric(_query_tower(config, config.query_model, pooling=config.query_pooling), config)
        else:
            model = _symmetric(_document_tower(config, config.document_model), config)
            add_lora(model, route=None, config=config.lora)
            if config.init_document_learning_rate is not None:
                lr = config.init_document_learning_rate
        loss = MultipleNegativesRankingLoss(model, scale=1 / config.stage2_temperature)
        info = _train(
            config, stage, model, pairs, loss,
            epochs=config.init_epochs, lr=lr, max_steps=config.init_max_steps, batch_size=config.batch_size,
        )
        return model, info

    return run_stage


def _stage1(config: MARConfig, query_path: str, document_path: str, pairs):
    """Stage I: the document tower frozen, the query tower learns to map a text where the document tower puts it."""
    from sbert_med.losses import AlignmentLoss
    from sbert_med.modules import freeze_route, unfreeze_route

    def run_stage(stage: Stage):
        model = _asymmetric(config, query_path, document_path)
        freeze_route(model, "document")
        loss = AlignmentLoss(
            model,
            temperature=config.stage1_temperature,
            lambda_mse=config.stage1_mse_weight,
            lambda_contrastive=config.stage1_contrastive_weight,
        )
        info = _train(
            config, stage, model, _self_pairs(config, pairs), loss,
            epochs=config.stage1_epochs, lr=config.stage1_learning_rate, max_steps=config.stage1_max_steps,
            batch_size=config.stage1_batch_size, router_mapping={"q_text": "query", "d_text": "document"},
        )
        unfreeze_route(model, "document")
        return model, info

    return run_stage


def _stage2(config: MARConfig, start, data):
    """Stage II: both towers with Asym-InfoNCE on hard-negative rows, LoRA on the document tower."""
    from sbert_med.losses import AsymInfoNCELoss
    from sbert_med.modules import add_lora

    def run_stage(stage: Stage):
        model = start()
        triplets = data()
        add_lora(model, route="document", config=config.lora)
        mapping = {column: ("query" if column == "anchor" else "document") for column in triplets.column_names}
        loss = AsymInfoNCELoss(
            model, temperature=config.stage2_temperature, gather_across_devices=config.gather_across_devices
        )
        info = _train(
            config, stage, model, triplets, loss,
            epochs=config.stage2_epochs, lr=config.stage2_learning_rate, max_steps=config.stage2_max_steps,
            batch_size=config.stage2_batch_size, router_mapping=mapping,
            learning_rate_mapping=(
                {r"sub_modules\.document\.": config.stage2_document_learning_rate}
                if config.stage2_document_learning_rate is not None
                else None
            ),
        )
        return model, info

    return run_stage


def train_mar(config: MARConfig) -> str:
    """Run the enabled MAR stages; returns the directory of the final, plainly loadable asymmetric model.

    Stage models: ``stages/init_query``, ``stages/init_document`` (symmetric), ``stages/stage1``,
    ``stages/stage2`` (asymmetric). The final model (``output_dir/model``) is the last stage run.
    """
    run = RunFolder.for_config(config)
    seed_everything(config.seed)
    data = _training_pairs(config)
    pairs = data.select_columns(["anchor", "positive"])
    query_path, document_path = config.query_model, config.document_model
    if config.run_init:
        query_path = run.stage("init_query").run_once(_init_tower(config, pairs, route="query"))
        document_path = run.stage("init_document").run_once(_init_tower(config, pairs, route="document"))
    data = _cut_queries(config, data, query_path)
    pairs = data.select_columns(["anchor", "positive"])
    last = None
    if config.run_stage1:
        last = run.stage("stage1").run_once(_stage1(config, query_path, document_path, pairs))
    if config.run_stage2:
        stage1_path = last

        def start():  # Stage I's model, or the towers as they are
            return _load(config, stage1_path) if stage1_path else _asymmetric(config, query_path, document_path)

        last = run.stage("stage2").run_once(
            _stage2(config, start, lambda: _stage2_data(config, run, data, mining_tower=query_path))
        )
    # init only: nothing asymmetric trained yet, assemble the two initialised towers
    model = _load(config, last) if last else _asymmetric(config, query_path, document_path)
    lengths = {"query": config.query_max_length, "document": config.document_max_length}
    return finalize_model(
        model,
        run.model_dir,
        family="mar",
        recipe_config=recorded_config(config, training_max_seq_length=lengths, inference_max_seq_length=lengths),
    )
