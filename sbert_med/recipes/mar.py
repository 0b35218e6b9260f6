"""MAR: asymmetric retrieval, a small query encoder aligned to a large document tower, in three stages.

0. **Independent initialisation**: each tower is fine-tuned symmetrically on the retrieval pairs (a decoder
   document tower with LoRA and Matryoshka over nested widths, paper Eq. 4, merged afterwards).
1. **Stage I (alignment)**: the document tower is frozen; on self-pairs ``(text, text)`` of an alignment corpus the
   query tower learns to map a text where the document tower puts it: Asym-InfoNCE (in-batch) + MSE. The document
   tower's vectors of the alignment texts are encoded once into the encoding cache (:mod:`sbert_med.encoding`) and
   Stage I trains the query tower alone against them (``stage1_targets: cached``); ``live`` runs the frozen tower
   in every step instead (same loss, for comparison). ``stage1_linear_head`` (ours, not the paper's) first fits a
   linear ``Dense`` head on the query route against the cached targets in closed form, so Stage I starts aligned.
2. **Stage II (joint)**: Asym-InfoNCE on hard-negative rows (tau ~ 0.02). A trained (decoder) document tower
   trains too, with LoRA; a frozen one (an existing sentence-transformers embedding model, by default) contributes
   cached vectors of the positives and hard negatives, so Stage II also trains only the query tower.

The document tower is either an existing sentence-transformers model (``document_kind: sentence_transformers``, e.g.
EmbeddingGemma-300M or Qwen3-Embedding, used frozen with its own Transformer, Pooling, Dense heads and prompts) or a
decoder with EOS pooling and LoRA (``document_kind: decoder``); ``auto`` picks the former when the folder / Hub
repository has a ``modules.json``. Every assembled model is ``Router.for_query_document`` + ``Normalize`` built from
sentence-transformers' own modules (plain ``SentenceTransformer(path)`` loads it); the document route keeps the
document model's ``document`` prompt, the query route has none.

Ablation switches: ``run_init``, ``run_init_document``, ``run_stage1``, ``run_stage2``, ``stage1_mse_weight=0`` (no
MSE), ``stage1_contrastive_weight=0`` (no contrastive). The run folder (:class:`sbert_med.training.RunFolder`) holds
one stage per step: each saves a plainly loadable model under ``output_dir/stages/`` and is skipped when it is
already done, so rerunning the command resumes; a stage cut short resumes from its own last checkpoint with
``resume: true``; encoded targets are kept in ``cache_dir`` and never encoded twice.

Where each default comes from: :data:`DEFAULT_SOURCES` (also in ``examples/mar/README.md`` and the model card).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import ClassVar, Literal

from sbert_med.data.pairs import truncate_to_tokens
from sbert_med.recipes.config import ConfigError, PairsRecipeConfig, RecipeConfig, recorded_config
from sbert_med.recipes.negatives import mine_training_negatives
from sbert_med.training import MedTrainer, RunFolder, Stage, finalize_model, seed_everything

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_SOURCES", "MARConfig", "assemble_mar_model", "resolved_settings", "train_mar"]

#: Where each default of :class:`MARConfig` comes from: ``paper`` (the MAR paper's text), ``code`` (the authors'
#: public code, values the paper does not state) or ``ours`` (this project's choice).
DEFAULT_SOURCES: dict[str, str] = {
    "query_pooling": "paper (CLS pooling of the query encoder)",
    "document_kind": "ours (the paper trains a decoder; an existing embedding model used frozen is ours)",
    "bridge": "paper (document vectors cut to the query width, Matryoshka)",
    "document_matryoshka_dims": "paper Eq. 4 (average InfoNCE over nested widths); the set of widths is ours",
    "padding_side": "paper (left padding, last-token pooling on an appended EOS)",
    "lora_r": "paper (32)",
    "lora_alpha": "paper (64)",
    "lora_dropout": "ours",
    "lora_target_modules": "ours",
    "learning_rate": "paper (1e-4, one rate for both towers)",
    "init_learning_rate": "paper (1e-4)",
    "stage1_learning_rate": "paper (1e-4)",
    "stage2_learning_rate": "paper (1e-4)",
    "init_document_learning_rate": "paper (one rate)",
    "stage2_document_learning_rate": "paper (one rate)",
    "stage1_batch_size": "paper (global batch 2,560)",
    "stage2_batch_size": "paper (global batch 640)",
    "stage2_epochs": "paper (1)",
    "stage1_temperature": "code (0.1; the paper gives no Stage I temperature, it learns tau in pretraining)",
    "stage2_temperature": "code (0.02; the paper gives no Stage II temperature)",
    "stage1_mse_weight": "paper (lambda_2 = 1)",
    "stage1_contrastive_weight": "paper (lambda_1 = 1)",
    "run_init": "paper (independent initialisation of each tower)",
    "run_init_document": "ours (an existing embedding model is used as it is; a decoder is initialised, paper)",
    "freeze_document": "ours (frozen for an existing embedding model; a decoder trains in Stage II, paper)",
    "alignment_data": "ours (the training pairs' texts; the paper aligns on its own 2.8M queries + 5.6M documents)",
    "alignment_max_texts": "ours (0: all)",
    "alignment_max_length": "ours (0: no cut, each tower reads a text up to its own limit, as the paper's pairs)",
    "stage1_target_route": "ours (query: the query tower stands in for the big model's own query encoder)",
    "stage1_targets": "ours (cached: the frozen tower's vectors are encoded once)",
    "stage1_linear_head": "ours (off: the paper has no head on the query tower)",
    "stage1_head_ridge": "ours",
    "stage1_negative_bank": "ours (0: in-batch negatives only, as the paper at its batch of 2,560)",
    "stage1_score_documents": "ours (0: off; the paper aligns embeddings only, EmbedDistill also matches scores)",
    "stage1_score_weight": "ours (1, the weight of the paper's two terms)",
    "stage1_score_temperature": "ours",
    "init_epochs": "ours",
    "stage1_epochs": "ours",
    "init loss": "ours (MNRL at scale 1/stage2_temperature)",
    "query_model": "ours (the paper's 0.3B query encoder is not public)",
    "document_model": "ours (the paper's document towers are Qwen3-4B/8B)",
    "query_max_length": "ours",
    "document_max_length": "ours",
    "num_negatives": "ours",
    "num_hard_negatives": "ours (the paper grades the top-50 candidates with an LLM instead of mining)",
    "mine_range_min": "ours",
    "mine_margin": "ours",
}

DocumentKind = Literal["auto", "sentence_transformers", "decoder"]


@dataclasses.dataclass
class MARConfig(PairsRecipeConfig):
    """Config of the MAR recipe. Sources of the defaults (:data:`DEFAULT_SOURCES`): (paper) lr 1e-4, LoRA
    r=32/alpha=64, batches 2,560 / 640, one Stage II epoch, lambda 1/1, CLS query pooling, Matryoshka training of a
    trained document tower (Eq. 4), the truncate bridge; (code) tau 0.1 / 0.02 (the paper gives no temperature);
    (ours) the rest.

    Args:
        query_model: The small query encoder (Hub id or path).
        query_pooling: ``"cls"`` (MAR) or ``"mean"``; ``None`` keeps a sentence-transformers folder's own pooling.
        document_model: The document tower: an existing sentence-transformers model (its own modules and prompts are
            kept) or a decoder LM (EOS pooling + LoRA).
        document_kind: ``"sentence_transformers"``, ``"decoder"`` or ``"auto"`` (a folder / repository holding a
            ``modules.json`` is a sentence-transformers model). (ours)
        run_init_document: Run the document tower's independent initialisation (``None``: yes for a decoder, the
            paper; no for a sentence-transformers model, used as it is). Needs ``run_init``. (ours)
        freeze_document: Keep the document tower frozen in Stage II (``None``: frozen for a sentence-transformers
            model, trained with LoRA for a decoder, the paper). A frozen tower's Stage II uses cached vectors of the
            positives and hard negatives and trains only the query tower. (ours)
        document_matryoshka_dims: Nested widths the document tower's initialisation trains at (MatryoshkaLoss over
            MNRL, the losses averaged: paper Eq. 4). ``None``: the document width, the query width and half and a
            quarter of it (the paper gives no set: ours); ``[]``: no Matryoshka.
        bridge: How different widths meet: ``"truncate"`` (the paper: document vectors cut to the query width,
            ``truncate_dim``) or ``"project"`` (not the paper's: a linear map of queries to the document width,
            trained with the query tower).
        query_max_length: Token limit of the query tower. (ours)
        document_max_length: Token limit of the document tower (EOS included for a decoder). (ours)
        padding_side: Padding side of a decoder document tower (last-token pooling is correct with both).
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
        alignment_data: Stage I's corpus: a path or a list of paths (JSONL with a ``text`` field, text files one
            text per line, TSV/CSV with a ``text`` column or training pairs, BEIR folders: corpus + queries); empty:
            the training pairs' queries and documents. Read by :func:`sbert_med.data.alignment.load_alignment_texts`.
        alignment_max_texts: If > 0, a seeded sample of at most this many distinct alignment texts. (ours)
        alignment_max_length: If > 0, alignment texts are cut to this many tokens of the query tokenizer before
            either tower sees them (both then embed the same text, and targets are cheaper to encode); 0: each tower
            reads a text up to its own limit, as the paper's self-pairs do. (ours)
        alignment_index: An index built with ``sbert-med index build`` whose (text, vector) pairs are Stage I's
            targets instead of encoding the alignment corpus (its document model must be ``document_model``).
        stage1_target_route: Which prompt of the document model produces Stage I's targets: ``"query"`` (ours:
            the query tower learns to stand in for the big model's own query encoder) or ``"document"`` (the
            paper's self-pairs through the document tower). Without prompts both are the same.
        stage1_targets: ``"cached"`` (targets encoded once into ``cache_dir``, Stage I trains the query tower alone)
            or ``"live"`` (the frozen document tower runs in every step: same loss, slower; for comparison).
        cache_dir: The encoding cache of the frozen document tower's vectors (empty: ``output_dir/cache``); may be
            shared between runs, entries are keyed by the tower's weights, the text, the prompt and the width.
        encode_batch_size: Batch size when encoding targets. (ours)
        run_init / run_stage1 / run_stage2: The ablation switches.
        init_epochs, init_learning_rate, init_max_steps: Independent initialisation (both towers).
        init_document_learning_rate: Learning rate of the document tower's LoRA in the initialisation (``None``:
            ``init_learning_rate``). LoRA usually wants a higher rate than a full fine-tune of the query encoder.
        stage1_epochs, stage1_learning_rate, stage1_max_steps, stage1_batch_size: Stage I.
        stage1_temperature: Stage I contrastive temperature (0.1: the authors' public code; the paper gives none).
        stage1_linear_head: Before Stage I, fit a linear ``Dense`` head on the query tower's outputs of the
            alignment texts against their cached targets in closed form (ridge regression) and put it at the end of
            the query route (:func:`sbert_med.modules.attach_query_head`); Stage I then trains from that alignment
            instead of from an unrelated space. The ``project`` bridge's ``Dense`` is refitted in place. Not in the
            paper (ours); needs ``stage1_targets: cached``.
        stage1_head_ridge: The head's ridge penalty, relative to the inputs' scale. (ours)
        stage1_negative_bank: If > 0, Stage I's contrastive term also ranks each text's target against this many
            cached targets of other alignment texts (a seeded sample; all of them when there are fewer): a frozen
            tower's vectors never change, so the bank stands in for the paper's large batch (2,560) at a small one.
            Needs ``stage1_targets: cached``. (ours; 0: in-batch negatives only)
        stage1_score_documents: If > 0, Stage I also distils how the frozen tower ranks this many training documents
            (the training pairs' positives, a seeded sample; all of them when there are fewer) for each alignment
            text: the KL divergence between the softmax of the target's and of the query's scores over their cached
            document vectors (EmbedDistill's score matching; :class:`~sbert_med.losses.AlignmentLoss`
            ``score_bank``). The vectors are the ones Stage II reads, so a frozen tower encodes them once. Needs
            ``stage1_targets: cached``. (ours; 0: off)
        stage1_score_weight: Weight of that term. (ours: 1)
        stage1_score_temperature: Softmax temperature of both rankings. (ours: 0.05)
        stage1_mse_weight: Weight of the MSE term (0: the "no MSE" ablation).
        stage1_contrastive_weight: Weight of the contrastive term (0: the "no contrastive" ablation).
        stage2_epochs, stage2_learning_rate, stage2_max_steps, stage2_batch_size: Stage II.
        stage2_temperature: Stage II temperature (0.02: the authors' public code; the paper gives none).
        stage2_document_learning_rate: Learning rate of the document tower's LoRA in Stage II (``None``:
            ``stage2_learning_rate``, the paper's one rate for both towers); set through ``learning_rate_mapping``.
        lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA of a trained document tower.
    """

    recipe: ClassVar[str] = "mar"
    input_fields: ClassVar[tuple[str, ...]] = ("train_data", "alignment_data", "alignment_index")
    positive_fields: ClassVar[tuple[str, ...]] = (
        *RecipeConfig.positive_fields,
        "query_max_length",
        "document_max_length",
        "init_learning_rate",
        "stage1_learning_rate",
        "stage1_batch_size",
        "stage1_temperature",
        "stage1_score_temperature",
        "stage2_learning_rate",
        "stage2_batch_size",
        "stage2_temperature",
        "init_document_learning_rate",
        "stage2_document_learning_rate",
        "encode_batch_size",
        "lora_r",
        "lora_alpha",
    )
    non_negative_fields: ClassVar[tuple[str, ...]] = (
        *PairsRecipeConfig.non_negative_fields,
        "num_hard_negatives",
        "stage1_mse_weight",
        "stage1_contrastive_weight",
        "stage1_head_ridge",
        "alignment_max_texts",
        "alignment_max_length",
        "stage1_negative_bank",
        "stage1_score_documents",
        "stage1_score_weight",
        "lora_dropout",
    )

    output_dir: str = "runs/mar"
    query_model: str = "BAAI/bge-large-en-v1.5"
    query_pooling: Literal["cls", "mean"] | None = "cls"
    document_model: str = "Qwen/Qwen3-Embedding-4B"
    document_kind: DocumentKind = "auto"
    run_init_document: bool | None = None
    freeze_document: bool | None = None
    document_matryoshka_dims: list[int] | None = None
    bridge: Literal["truncate", "project"] = "truncate"
    query_max_length: int = 128
    document_max_length: int = 512
    padding_side: Literal["left", "right"] = "left"
    num_hard_negatives: int = 1
    alignment_data: list[str] | str = ""
    alignment_max_texts: int = 0
    alignment_max_length: int = 0
    alignment_index: str = ""
    stage1_target_route: Literal["query", "document"] = "query"
    stage1_targets: Literal["cached", "live"] = "cached"
    cache_dir: str = ""
    encode_batch_size: int = 32
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
    stage1_linear_head: bool = False
    stage1_head_ridge: float = 1e-3
    stage1_negative_bank: int = 0
    stage1_score_documents: int = 0
    stage1_score_weight: float = 1.0
    stage1_score_temperature: float = 0.05
    stage1_mse_weight: float = 1.0
    stage1_contrastive_weight: float = 1.0
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
        if self.document_matryoshka_dims is not None and any(d <= 0 for d in self.document_matryoshka_dims):
            raise ConfigError(f"document_matryoshka_dims must be positive widths, got {self.document_matryoshka_dims}")
        if self.alignment_index and self.alignment_data:
            raise ConfigError("alignment_index and alignment_data exclude each other: the index holds Stage I's texts")
        if self.stage1_linear_head and self.stage1_targets == "live":
            raise ConfigError("stage1_linear_head is fitted on cached targets: stage1_targets must be 'cached'")
        if self.stage1_negative_bank and self.stage1_targets == "live":
            raise ConfigError("stage1_negative_bank holds cached targets: stage1_targets must be 'cached'")
        if self.stage1_score_documents and self.stage1_targets == "live":
            raise ConfigError("stage1_score_documents ranks cached vectors: stage1_targets must be 'cached'")
        if self.alignment_index and self.stage1_targets == "live":
            raise ConfigError("alignment_index gives Stage I cached targets: stage1_targets must be 'cached'")

    @property
    def lora(self) -> dict:
        return {
            "r": self.lora_r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "target_modules": self.lora_target_modules,
        }

    @property
    def alignment_sources(self) -> list[str]:
        return [self.alignment_data] if isinstance(self.alignment_data, str) and self.alignment_data else list(
            self.alignment_data or []
        )

    @property
    def encoding_cache(self) -> str:
        return self.cache_dir or str(Path(self.output_dir) / "cache")


# ---------------------------------------------------------------------------------------------- resolved switches
def _is_sentence_transformers_model(path: str) -> bool:
    if Path(path).is_dir():
        return (Path(path) / "modules.json").is_file()
    from sentence_transformers.util import load_file_path

    try:
        if load_file_path(path, "modules.json") is not None:
            return True
        found = load_file_path(path, "config.json") is not None
    except Exception as exc:  # offline without a cached copy, a private repository, ...
        found, reason = False, f" ({exc})"
    else:
        reason = ""
    if not found:
        raise ConfigError(
            f"document_model {path!r}: no such folder, and no cached or reachable Hub repository{reason}: cannot "
            "tell whether it is a sentence-transformers model; fix the path or set document_kind to "
            "'sentence_transformers' or 'decoder'"
        )
    return False


def resolved_settings(config: MARConfig) -> dict:
    """What the ``None`` / ``auto`` switches resolve to for this config: ``document_kind``, ``init_document``,
    ``freeze_document`` (in Stage II)."""
    kind = config.document_kind
    if kind == "auto":
        kind = "sentence_transformers" if _is_sentence_transformers_model(config.document_model) else "decoder"
    init_document = kind == "decoder" if config.run_init_document is None else config.run_init_document
    freeze = kind == "sentence_transformers" if config.freeze_document is None else config.freeze_document
    return {"document_kind": kind, "init_document": config.run_init and init_document, "freeze_document": freeze}


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
    prompts: dict | None = None,
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
        prompts=prompts or None,
    )
    trainer = MedTrainer(model=model, args=args, train_dataset=train, loss=loss)
    info = stage.run.train(trainer, stage=stage.name)
    # the training loop's own runtime (RunFolder.train records it; model loading and target encoding excluded; a
    # resumed stage counts only its last session's time, per step of the whole stage), recorded in STAGE_DONE
    return {**info, "seconds_per_step": round((info["train_runtime_s"] or 0.0) / max(1, info["global_step"]), 4)}


def _device(config: MARConfig) -> str | None:
    return "cpu" if config.use_cpu else None


def _query_tower(config: MARConfig, path: str, *, pooling=None):
    from sbert_med.modules import encoder_tower

    return encoder_tower(path, pooling=pooling, max_seq_length=config.query_max_length)


def _document_tower(config: MARConfig, path: str, kind: str) -> tuple[list, dict[str, str]]:
    """The document tower's modules and the document model's prompts: an existing sentence-transformers model
    (its modules as they are, a final ``Normalize`` left to the assembled model) or a decoder pooled on EOS."""
    if kind == "decoder":
        from sbert_med.modules import eos_tower

        return eos_tower(path, max_seq_length=config.document_max_length, padding_side=config.padding_side), {}
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import route_transformer

    model = SentenceTransformer(path, device=_device(config))
    modules = list(model)
    while modules and isinstance(modules[-1], Normalize):
        modules.pop()
    transformer = route_transformer(modules)
    if transformer is None:
        raise ConfigError(f"document_model {path}: its first module is not a Transformer")
    transformer.max_seq_length = config.document_max_length
    prompts = {name: model.prompts.get(name, "") for name in ("query", "document")}
    return modules, prompts


def _symmetric(modules, config: MARConfig, prompts: dict | None = None):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    return SentenceTransformer(
        modules=[*modules, Normalize()], prompts=prompts or None, similarity_fn_name="cosine", device=_device(config)
    )


def _assemble(config: MARConfig, query_path: str, document_path: str | None = None):
    """The asymmetric model and the document model's prompts (see :func:`assemble_mar_model`)."""
    from sbert_med.modules import build_asymmetric_model

    kind = resolved_settings(config)["document_kind"]
    query = _query_tower(
        config, query_path, pooling=None if query_path != config.query_model else config.query_pooling
    )
    document, prompts = _document_tower(config, document_path or config.document_model, kind)
    model = build_asymmetric_model(
        query, document, bridge=config.bridge, prompts={"query": "", "document": prompts.get("document", "")}
    )
    return (model.to(_device(config)) if _device(config) else model), prompts


def assemble_mar_model(config: MARConfig, query_path: str, document_path: str | None = None):
    """The asymmetric model of a query tower (``query_path``: a model folder or id) and the document tower
    (``document_path``, default ``config.document_model``): ``Router.for_query_document`` + ``Normalize``, the
    config's bridge (``truncate``: ``truncate_dim`` = the query width), the document model's ``document`` prompt on
    the document route and no prompt on the query route."""
    return _assemble(config, query_path, document_path)[0]


def _load(config: MARConfig, path: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=_device(config))


def _route_view(model, route: str, config: MARConfig, *, prompts: dict | None = None, truncate_dim: int | None = None):
    """One tower of an asymmetric model as a plain model sharing its modules (training the view trains the tower):
    the route's modules followed by ``Normalize``, as in the asymmetric model."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import get_route

    return SentenceTransformer(
        modules=[*get_route(model, route), Normalize()],
        prompts=prompts,
        similarity_fn_name=model.similarity_fn_name or "cosine",
        truncate_dim=truncate_dim,
        device=_device(config),
    )


def _document_view(model, config: MARConfig, prompts: dict[str, str]):
    """The frozen document tower alone, with the document model's prompts and the assembled model's width: its
    :func:`sbert_med.encoding.route_fingerprint` equals that of the asymmetric model's document route, so both
    share cached vectors."""
    view = _route_view(model, "document", config, prompts=dict(prompts), truncate_dim=model.truncate_dim)
    view.eval()
    return view


def _encode_targets(config: MARConfig, view, texts: list[str], *, route: str):
    from sbert_med.encoding import encode_cached

    return encode_cached(
        view,
        texts,
        cache_dir=config.encoding_cache,
        route=route,
        normalize_embeddings=True,
        batch_size=config.encode_batch_size,
        show_progress_bar=config.show_progress_bar,
    )


# ------------------------------------------------------------------------------------------------------------ data
def _alignment_texts(config: MARConfig, pairs) -> list[str]:
    """Stage I's texts: ``alignment_data``, or the distinct queries and documents of the training pairs; a seeded
    sample of ``alignment_max_texts``."""
    import random

    from sbert_med.data.alignment import load_alignment_texts

    if config.alignment_sources:
        return load_alignment_texts(config.alignment_sources, max_texts=config.alignment_max_texts, seed=config.seed)
    texts = [t for t in dict.fromkeys([*pairs["anchor"], *pairs["positive"]]) if t.strip()]
    if 0 < config.alignment_max_texts < len(texts):
        texts = random.Random(config.seed).sample(texts, config.alignment_max_texts)
    return texts


def _cut_texts(config: MARConfig, texts: list[str], model) -> list[str]:
    """Texts cut to ``alignment_max_length`` tokens of the query tower's tokenizer (distinct, order kept)."""
    from sbert_med.modules import get_route, route_transformer

    if config.alignment_max_length <= 0:
        return list(dict.fromkeys(texts))
    transformer = route_transformer(get_route(model, "query"))
    cut = truncate_to_tokens(list(texts), transformer.tokenizer, config.alignment_max_length)
    return [t for t in dict.fromkeys(cut) if t.strip()]


def _cut_queries(config: MARConfig, data, query_path: str):
    """Queries cut to ``query_max_length`` tokens of the (initialised) query tower's tokenizer."""
    from sentence_transformers import SentenceTransformer

    if not Path(query_path).is_dir():
        return data
    tokenizer = SentenceTransformer(query_path, device="cpu").tokenizer
    anchors = truncate_to_tokens(data["anchor"], tokenizer, config.query_max_length)
    return data.remove_columns("anchor").add_column("anchor", anchors).select_columns(data.column_names)


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


def _index_module(config: MARConfig):
    try:
        from sbert_med.index import alignment  # type: ignore[attr-defined]
    except ImportError as exc:
        raise ConfigError(
            f"alignment_index {config.alignment_index!r}: aligning to an existing index needs "
            "sbert_med.index.alignment (read_index_alignment, record_index_alignment), which this installation "
            "does not have"
        ) from exc
    return alignment


def _index_targets(config: MARConfig, model):
    """(texts, vectors) of ``alignment_index`` (the index's own stored vectors, its document model checked to be
    ``document_model``); the index must hold vectors of the assembled model's width, so that the trained model
    searches that same index."""
    texts, vectors = _index_module(config).read_index_alignment(
        config.alignment_index, document_model=config.document_model
    )
    width = model.truncate_dim or model.get_embedding_dimension()
    if vectors.shape[1] != width:
        raise ConfigError(
            f"alignment_index {config.alignment_index}: the index holds {vectors.shape[1]}-d vectors but the MAR "
            f"model outputs {width}-d ones (bridge {config.bridge!r}); build the index at the query width "
            f"(truncate_dim {width}) or use the bridge that gives {vectors.shape[1]}-d vectors"
        )
    return texts, vectors


# ------------------------------------------------------------------------------------------------------------ stages
def _matryoshka_dims(config: MARConfig, document_width: int, query_width: int | None) -> list[int]:
    """The document tower's nested widths (paper Eq. 4): the config's, or the document width, the query width and
    half and a quarter of it (ours)."""
    if config.document_matryoshka_dims is not None:
        dims = sorted(set(config.document_matryoshka_dims), reverse=True)
        if dims and dims[0] > document_width:
            raise ConfigError(
                f"document_matryoshka_dims {dims} exceed the document tower's width {document_width}"
            )
        if dims and query_width and config.bridge == "truncate" and query_width not in dims:
            logger.warning(
                "document_matryoshka_dims %s leave out the query width %d the truncate bridge cuts documents to",
                dims, query_width,
            )
        return dims
    widths = [document_width]
    if query_width:
        widths += [query_width, query_width // 2, query_width // 4]
    return sorted({w for w in widths if 0 < w <= document_width}, reverse=True)


def _init_tower(config: MARConfig, pairs, *, route: str, kind: str):
    """Independent initialisation: fine-tune one tower on its own, symmetrically (LoRA and Matryoshka over nested
    widths on the document tower, paper Eq. 4)."""
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    from sbert_med.modules import add_lora, route_width

    def run_stage(stage: Stage):
        lr = config.init_learning_rate
        prompts = None
        if route == "query":
            model = _symmetric(_query_tower(config, config.query_model, pooling=config.query_pooling), config)
            loss = MultipleNegativesRankingLoss(model, scale=1 / config.stage2_temperature)
        else:
            modules, document_prompts = _document_tower(config, config.document_model, kind)
            model = _symmetric(modules, config, prompts=document_prompts or None)
            if document_prompts:
                prompts = {"anchor": document_prompts["query"], "positive": document_prompts["document"]}
            add_lora(model, route=None, config=config.lora)
            if config.init_document_learning_rate is not None:
                lr = config.init_document_learning_rate
            query_width = route_width(_query_tower(config, config.query_model, pooling=config.query_pooling))
            dims = _matryoshka_dims(config, route_width(modules), query_width)
            loss = MultipleNegativesRankingLoss(model, scale=1 / config.stage2_temperature)
            if dims:
                logger.info("document tower initialisation: Matryoshka over widths %s (paper Eq. 4)", dims)
                loss = MatryoshkaLoss(model, loss, dims, matryoshka_weights=[1 / len(dims)] * len(dims))
        info = _train(
            config, stage, model, pairs, loss,
            epochs=config.init_epochs, lr=lr, max_steps=config.init_max_steps, batch_size=config.batch_size,
            prompts=prompts,
        )
        return model, info

    return run_stage


def _stage1(config: MARConfig, query_path: str, document_path: str, texts: list[str], documents: list[str]):
    """Stage I: the document tower frozen, the query tower learns to map a text where the document tower puts it.

    ``cached``: the frozen tower's vectors of the texts (through the ``stage1_target_route`` prompt) are encoded once
    into the cache, and a plain model of the query tower alone trains against them (a ``label`` column).
    ``live``: the asymmetric model trains with the document route frozen and run in every step.
    ``documents``: the training documents ``stage1_score_documents`` samples its bank from.
    """
    import numpy as np
    from datasets import Dataset

    from sbert_med.losses import AlignmentLoss
    from sbert_med.modules import freeze_route, unfreeze_route

    def run_stage(stage: Stage):
        model, document_prompts = _assemble(config, query_path, document_path)
        target_prompt = document_prompts.get(config.stage1_target_route, "")
        if config.alignment_index:
            # the index's vectors embed its texts whole: the query tower sees them up to its own length limit
            index_texts, vectors = _index_targets(config, model)
            first = {text: i for i, text in reversed(list(enumerate(index_texts)))}
            train_texts = list(first)
            targets = _to_width(np.asarray(vectors, dtype=np.float32)[list(first.values())], model)
            if 0 < config.alignment_max_texts < len(train_texts):
                import random

                keep = sorted(random.Random(config.seed).sample(range(len(train_texts)), config.alignment_max_texts))
                train_texts, targets = [train_texts[i] for i in keep], targets[keep]
        else:
            train_texts = _cut_texts(config, texts, model)
            targets = None
        loss_kwargs = dict(
            temperature=config.stage1_temperature,
            lambda_mse=config.stage1_mse_weight,
            lambda_contrastive=config.stage1_contrastive_weight,
        )
        logger.info("Stage I on %d alignment texts (%s targets)", len(train_texts), config.stage1_targets)
        if config.stage1_linear_head:
            _check_head_texts(config, model, len(train_texts))
        if config.stage1_targets == "live":
            freeze_route(model, "document")
            data = Dataset.from_dict({"q_text": train_texts, "d_text": train_texts})
            info = _train(
                config, stage, model, data, AlignmentLoss(model, **loss_kwargs),
                epochs=config.stage1_epochs, lr=config.stage1_learning_rate, max_steps=config.stage1_max_steps,
                batch_size=config.stage1_batch_size, router_mapping={"q_text": "query", "d_text": "document"},
                prompts={"d_text": target_prompt} if target_prompt else None,
            )
            unfreeze_route(model, "document")
            return model, {**info, "alignment_texts": len(train_texts), "targets": "live"}
        if targets is None:
            view = _document_view(model, config, {"query": document_prompts.get("query", ""),
                                                  "document": document_prompts.get("document", "")})
            start = time.perf_counter()
            # with one prompt for both (a decoder: none) the document route's vectors are the same: share its cache
            same = document_prompts.get("query", "") == document_prompts.get("document", "")
            route = "document" if same else config.stage1_target_route
            targets = _encode_targets(config, view, train_texts, route=route)
            encoding_seconds = round(time.perf_counter() - start, 3)
            del view
        else:
            encoding_seconds = 0.0
        head = None
        if config.stage1_linear_head:
            from sbert_med.modules import attach_query_head

            head = attach_query_head(model, train_texts, targets, ridge=config.stage1_head_ridge,
                                     batch_size=config.encode_batch_size, show_progress_bar=config.show_progress_bar)
        query_view = _route_view(model, "query", config)
        data = Dataset.from_dict({"text": train_texts, "label": targets})
        bank = _negative_bank(config, targets)
        scored = _score_bank(config, model, document_prompts, documents)
        loss = AlignmentLoss(query_view, **loss_kwargs, negative_bank=bank, **scored)
        info = _train(
            config, stage, query_view, data, loss,
            epochs=config.stage1_epochs, lr=config.stage1_learning_rate, max_steps=config.stage1_max_steps,
            batch_size=config.stage1_batch_size,
        )
        return model, {**info, "alignment_texts": len(train_texts), "targets": "cached",
                       "target_encoding_seconds": encoding_seconds, **({"linear_head": head} if head else {}),
                       **({"negative_bank": len(bank)} if bank is not None else {}),
                       **({"score_documents": len(scored["score_bank"])} if scored else {})}

    return run_stage


def _negative_bank(config: MARConfig, targets):
    """``stage1_negative_bank`` cached targets (a seeded sample; all when there are fewer), or ``None``."""
    import numpy as np

    if not config.stage1_negative_bank:
        return None
    targets = np.asarray(targets, dtype=np.float32)
    if config.stage1_negative_bank < len(targets):
        rng = np.random.default_rng(config.seed)
        targets = targets[np.sort(rng.choice(len(targets), config.stage1_negative_bank, replace=False))]
    return targets


def _score_bank(config: MARConfig, model, document_prompts: dict, documents: list[str]) -> dict:
    """``AlignmentLoss`` arguments of the score-distillation term: the frozen document route's vectors of
    ``stage1_score_documents`` training documents (a seeded sample; all when there are fewer), encoded through the
    cache as Stage II encodes them; ``{}`` when the term is off."""
    import random

    if not config.stage1_score_documents:
        return {}
    documents = list(dict.fromkeys(d for d in documents if d.strip()))
    if not documents:
        raise ConfigError("stage1_score_documents needs training pairs with documents, found none")
    if config.stage1_score_documents < len(documents):
        keep = sorted(random.Random(config.seed).sample(range(len(documents)), config.stage1_score_documents))
        documents = [documents[i] for i in keep]
    view = _document_view(model, config, {"query": "", "document": document_prompts.get("document", "")})
    vectors = _encode_targets(config, view, documents, route="document")
    del view
    return {"score_bank": vectors, "lambda_scores": config.stage1_score_weight,
            "score_temperature": config.stage1_score_temperature}


def _check_head_texts(config: MARConfig, model, count: int) -> None:
    """Refuse, before any target is encoded, alignment texts too few to fit the linear head on."""
    from sbert_med.modules import head_input_width

    width = head_input_width(model, "query", model.truncate_dim)
    if width is not None and count <= width:
        source = "alignment_index" if config.alignment_index else "alignment_data / alignment_max_texts"
        raise ConfigError(
            f"stage1_linear_head needs more alignment texts than the query route's width ({width}) to fit its head, "
            f"got {count} distinct texts: give more ({source}) or set stage1_linear_head: false"
        )


def _to_width(vectors, model):
    """Index vectors cut to the assembled model's width (``truncate_dim``) and re-normalised."""
    import numpy as np

    width = model.truncate_dim
    if width is not None and vectors.shape[1] > width:
        vectors = vectors[:, :width]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.clip(norms, 1e-12, None)


def _stage2(config: MARConfig, start, data, *, frozen: bool):
    """Stage II: Asym-InfoNCE on hard-negative rows. A trained document tower gets LoRA and trains with the query
    tower; a frozen one contributes cached vectors of each row's positive and negatives (``(K, D)`` labels,
    positive first) and only the query tower trains."""
    import numpy as np
    from datasets import Dataset

    from sbert_med.losses import AlignmentLoss, AsymInfoNCELoss
    from sbert_med.modules import add_lora

    def run_stage(stage: Stage):
        model = start()
        triplets = data()
        document_columns = [column for column in triplets.column_names if column != "anchor"]
        common = dict(
            epochs=config.stage2_epochs, lr=config.stage2_learning_rate, max_steps=config.stage2_max_steps,
            batch_size=config.stage2_batch_size,
        )
        if frozen:
            view = _document_view(model, config, {"query": "", "document": model.prompts.get("document", "")})
            documents = list(dict.fromkeys(t for column in document_columns for t in triplets[column]))
            began = time.perf_counter()
            vectors = _encode_targets(config, view, documents, route="document")
            encoding_seconds = round(time.perf_counter() - began, 3)
            del view
            where = {text: i for i, text in enumerate(documents)}
            rows = np.array([[where[t] for t in column] for column in zip(*(triplets[c] for c in document_columns))])
            labels = vectors[rows]  # (N, K, D), positive first
            query_view = _route_view(model, "query", config)
            train = Dataset.from_dict({"anchor": triplets["anchor"], "label": list(labels)})
            loss = AlignmentLoss(query_view, temperature=config.stage2_temperature, lambda_mse=0.0)
            info = _train(config, stage, query_view, train, loss, **common)
            return model, {**info, "document_tower": "frozen (cached vectors)", "candidates": len(document_columns),
                           "target_encoding_seconds": encoding_seconds}
        add_lora(model, route="document", config=config.lora)
        mapping = {column: ("query" if column == "anchor" else "document") for column in triplets.column_names}
        document_prompt = model.prompts.get("document", "")
        loss = AsymInfoNCELoss(
            model, temperature=config.stage2_temperature, gather_across_devices=config.gather_across_devices
        )
        info = _train(
            config, stage, model, triplets, loss, **common, router_mapping=mapping,
            learning_rate_mapping=(
                {r"sub_modules\.document\.": config.stage2_document_learning_rate}
                if config.stage2_document_learning_rate is not None
                else None
            ),
            prompts={column: document_prompt for column in document_columns} if document_prompt else None,
        )
        return model, info

    return run_stage


def train_mar(config: MARConfig) -> str:
    """Run the enabled MAR stages; returns the directory of the final, plainly loadable asymmetric model.

    Stage models: ``stages/init_query``, ``stages/init_document`` (symmetric), ``stages/stage1``,
    ``stages/stage2`` (asymmetric). The final model (``output_dir/model``) is the last stage run.
    """
    settings = resolved_settings(config)
    kind = settings["document_kind"]
    run = RunFolder.for_config(config)
    seed_everything(config.seed)
    data = config.load_train_pairs()
    pairs = data.select_columns(["anchor", "positive"])
    # read (and check) the alignment corpus before any model is trained
    texts = _alignment_texts(config, pairs) if config.run_stage1 and not config.alignment_index else []
    query_path, document_path = config.query_model, config.document_model
    if config.run_init:
        query_path = run.stage("init_query").run_once(_init_tower(config, pairs, route="query", kind=kind))
    if settings["init_document"]:
        document_path = run.stage("init_document").run_once(
            _init_tower(config, pairs, route="document", kind=kind)
        )
    data = _cut_queries(config, data, query_path)
    last = None
    if config.run_stage1:
        documents = list(pairs["positive"]) if config.stage1_score_documents else []
        last = run.stage("stage1").run_once(_stage1(config, query_path, document_path, texts, documents))
    if config.run_stage2:
        stage1_path = last

        def start():  # Stage I's model, or the towers as they are
            return _load(config, stage1_path) if stage1_path else assemble_mar_model(config, query_path, document_path)

        last = run.stage("stage2").run_once(
            _stage2(
                config, start, lambda: _stage2_data(config, run, data, mining_tower=query_path),
                frozen=settings["freeze_document"],
            )
        )
    # init only: nothing asymmetric trained yet, assemble the two initialised towers
    model = _load(config, last) if last else assemble_mar_model(config, query_path, document_path)
    lengths = {"query": config.query_max_length, "document": config.document_max_length}
    model_dir = finalize_model(
        model,
        run.model_dir,
        family="mar",
        recipe_config=recorded_config(
            config,
            training_max_seq_length=lengths,
            inference_max_seq_length=lengths,
            resolved=settings,
            default_sources=DEFAULT_SOURCES,
        ),
    )
    if config.alignment_index and config.run_stage1:
        # the manifest check of `sbert-med index search --model` accepts this model for the index it was aligned to
        _index_module(config).record_index_alignment(model_dir, config.alignment_index, model=model)
    return model_dir
