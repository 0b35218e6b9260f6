"""MedEmbed: contrastive fine-tuning of an encoder on (query, positive, negatives...) with InfoNCE.

Reproduces the MedEmbed training setup (bge-{small,base}-en-v1.5 fine-tuned on clinical query/passage triplets):
InfoNCE (``MultipleNegativesRankingLoss``) at temperature 0.02 with in-batch and explicit negatives shared in the
batch (and across devices with ``gather_across_devices``), query / passage max lengths 128 / 256, lr 2e-5, 3 epochs,
batch 32, no query instruction, dev-set IR evaluation during training.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import ClassVar

from sbert_med.data.beir import load_beir
from sbert_med.data.pairs import truncate_to_tokens
from sbert_med.recipes.config import ConfigError, PairsRecipeConfig, recorded_config
from sbert_med.recipes.evaluators import ir_evaluator, last_logged_metrics, short_metrics
from sbert_med.recipes.negatives import mine_training_negatives
from sbert_med.training import MedTrainer, RunFolder, finalize_model, seed_everything

logger = logging.getLogger(__name__)

__all__ = ["MedEmbedConfig", "build_medembed_evaluator", "train_medembed"]


@dataclasses.dataclass
class MedEmbedConfig(PairsRecipeConfig):
    """Config of the MedEmbed recipe; the defaults are the source's full-scale hyperparameters.

    The training data (``train_data``, ``train_split``, ``max_train_examples``, ``num_negatives``) and the
    mined-negative filters (``mine_range_min``, ``mine_margin``) are those of :class:`PairsRecipeConfig`.

    Args:
        model: Base encoder (Hub id or local path); MedEmbed used ``BAAI/bge-small-en-v1.5`` / ``-base-``.
        mine_negatives: If > 0 and the data has no negatives, mine this many hard negatives per query with the
            base model over the training positives (:func:`sbert_med.data.mine_negatives`: positives of the same or
            a duplicate question and candidates within ``mine_margin`` of the positive are dropped as likely false
            negatives, after skipping the top ``mine_range_min`` hits). Ours; MedEmbed mined with its own script.
        dev_data: BEIR folder for the dev-set IR evaluation during training (``None``: no evaluation).
        dev_split: qrels split of ``dev_data``.
        dev_corpus_file: Corpus file of ``dev_data`` (default ``corpus.jsonl``).
        dev_max_queries: If > 0, evaluate on a seeded sample of this many dev queries.
        dev_max_corpus: If > 0, cut the dev corpus to the relevant documents plus distractors up to this size.
        query_max_length: Queries are cut to this many tokens (128 in MedEmbed).
        passage_max_length: Passages are cut to this many tokens during training (256 in MedEmbed's code).
        inference_max_length: ``max_seq_length`` of the saved model (``None``: the base model's own, ours). Training
            length and inference length are different settings: a model trained on 256-token passages still reads
            longer documents at inference. Both are recorded in the card data.
        temperature: InfoNCE temperature (the loss's scale is ``1 / temperature``).
        query_prompt: Instruction prepended to queries (MedEmbed used none).
        pooling: Override the base model's pooling (``None`` keeps it; bge uses ``cls``).
    """

    recipe: ClassVar[str] = "medembed"
    input_fields: ClassVar[tuple[str, ...]] = (*PairsRecipeConfig.input_fields, "dev_data")
    non_negative_fields: ClassVar[tuple[str, ...]] = (
        *PairsRecipeConfig.non_negative_fields, "mine_negatives", "dev_max_queries", "dev_max_corpus"
    )

    output_dir: str = "runs/medembed"
    model: str = "BAAI/bge-small-en-v1.5"
    mine_negatives: int = 0
    dev_data: str | None = None
    dev_split: str = "dev"
    dev_corpus_file: str | None = None
    dev_max_queries: int = 0
    dev_max_corpus: int = 0
    query_max_length: int = 128
    passage_max_length: int = 256
    inference_max_length: int | None = None
    temperature: float = 0.02
    query_prompt: str = ""
    epochs: float = 3.0
    batch_size: int = 32
    learning_rate: float = 2e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature!r}")
        if self.query_max_length <= 0 or self.passage_max_length <= 0:
            raise ConfigError("query_max_length and passage_max_length must be > 0")
        if self.inference_max_length is not None and self.inference_max_length <= 0:
            raise ConfigError(f"inference_max_length must be > 0, got {self.inference_max_length!r}")


def build_medembed_evaluator(config: MedEmbedConfig, *, name: str = "dev"):
    """The dev-set ``InformationRetrievalEvaluator`` of a config (``None`` without ``dev_data``)."""
    if not config.dev_data:
        return None
    split = load_beir(
        config.dev_data,
        config.dev_split,
        corpus_file=config.dev_corpus_file,
        max_queries=config.dev_max_queries,
        max_corpus=config.dev_max_corpus,
        seed=config.seed,
    )
    logger.info("dev evaluation: %d queries over %d documents", len(split.queries), len(split.corpus))
    return ir_evaluator(
        split,
        name=name,
        batch_size=config.batch_size,
        show_progress_bar=config.show_progress_bar,
        query_prompt=config.query_prompt or None,
    )


def _load_model(config: MedEmbedConfig):
    """The base model set up for training; returns it and the base's own (inference) ``max_seq_length``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    model = SentenceTransformer(config.model, device="cpu" if config.use_cpu else None)
    base_length = model.max_seq_length
    model.max_seq_length = config.passage_max_length
    if not any(isinstance(module, Normalize) for module in model):
        model.append(Normalize())  # trained with cosine: released unit-norm (check_model insists)
    if config.query_prompt:
        model.prompts = {**model.prompts, "query": config.query_prompt}
    return model, base_length


def _training_data(config: MedEmbedConfig, model, run: RunFolder):
    train = config.load_train_pairs()
    anchors = truncate_to_tokens(train["anchor"], model.tokenizer, config.query_max_length)
    train = train.remove_columns("anchor").add_column("anchor", anchors)
    train = train.select_columns(["anchor"] + [c for c in train.column_names if c != "anchor"])
    if config.mine_negatives > 0 and config.num_negatives == 0:
        train = mine_training_negatives(
            run,
            train,
            lambda: model,
            name="train_mined",
            num_negatives=config.mine_negatives,
            range_min=config.mine_range_min,
            relative_margin=config.mine_margin,
            batch_size=config.batch_size,
            show_progress_bar=config.show_progress_bar,
        )
    return train


def _reads_training_length(model, config: MedEmbedConfig) -> bool:
    return model.max_seq_length == config.passage_max_length


def train_medembed(config: MedEmbedConfig) -> str:
    """Run the MedEmbed recipe; returns the directory of the saved, plainly loadable model."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    run = RunFolder.for_config(config)
    seed_everything(config.seed)
    model, base_length = _load_model(config)
    train = _training_data(config, model, run)
    logger.info("MedEmbed: %d training examples, columns %s", len(train), train.column_names)
    loss = MultipleNegativesRankingLoss(
        model, scale=1.0 / config.temperature, gather_across_devices=config.gather_across_devices
    )
    evaluator = build_medembed_evaluator(config)
    args = config.training_arguments(
        output_dir=str(run.checkpoint_dir()),
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        prompts={"anchor": config.query_prompt} if config.query_prompt else None,
        **config.eval_schedule(evaluator),
    )
    trainer = MedTrainer(model=model, args=args, train_dataset=train, loss=loss, evaluator=evaluator)
    info = run.train(trainer)
    model.max_seq_length = config.inference_max_length or base_length
    eval_results = None
    if evaluator is not None:
        # metrics logged during training describe the saved model only when it reads the training length
        logged = last_logged_metrics(trainer, evaluator.name) if _reads_training_length(model, config) else None
        eval_results = logged or short_metrics(evaluator(model), evaluator.name)
        info["dev"] = eval_results
        run.write_json("train_info.json", info)
    return finalize_model(
        model,
        run.model_dir,
        family="medembed",
        recipe_config=recorded_config(config, training_max_seq_length=config.passage_max_length,
                                      inference_max_seq_length=model.max_seq_length),
        eval_results={"dev": eval_results} if eval_results else None,
    )
