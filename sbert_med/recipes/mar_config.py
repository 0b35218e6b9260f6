"""The MAR recipe's config (:class:`MARConfig`), where each of its defaults comes from (:data:`DEFAULT_SOURCES`), and
what its ``auto`` switches resolve to (:func:`resolved_settings`). The recipe itself: :mod:`sbert_med.recipes.mar`."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import ClassVar, Literal

from sbert_med.recipes.config import ConfigError, PairsRecipeConfig, RecipeConfig

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_SOURCES", "MARConfig", "resolved_settings"]


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
    "stage1_score_data": "ours (the training pairs' documents)",
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
        stage1_score_data: The documents that term ranks instead of the training pairs' positives: a path or a
            list of paths, read as ``alignment_data`` is (e.g. documents of the kind the model will search); the
            bank is a seeded sample of ``stage1_score_documents`` of them. (ours; empty: the training documents)
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
    input_fields: ClassVar[tuple[str, ...]] = ("train_data", "alignment_data", "alignment_index", "stage1_score_data")
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
    stage1_score_data: list[str] | str = ""
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
        if self.stage1_score_data and not self.stage1_score_documents:
            raise ConfigError(
                "stage1_score_data is the bank of stage1_score_documents: set stage1_score_documents > 0"
            )
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
        return _paths(self.alignment_data)

    @property
    def score_sources(self) -> list[str]:
        return _paths(self.stage1_score_data)

    @property
    def encoding_cache(self) -> str:
        return self.cache_dir or str(Path(self.output_dir) / "cache")


def _paths(value: list[str] | str) -> list[str]:
    """A config field holding one path or a list of them, as a list (empty for ``""``)."""
    return [value] if isinstance(value, str) and value else list(value or [])


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

