"""CardioEmbed: a decoder embedding model + LoRA + EOS pooling, trained on textbook sentence -> paraphrase pairs.

Reproduces CardioEmbed's method (Qwen3-Embedding-8B + LoRA r=16, alpha=32, EOS pooling, InfoNCE with in-batch
negatives, batch 128, 2 epochs) and evaluates Acc@1 / Acc@5 / MRR of finding each held-out sentence's paraphrase
among **all** held-out paraphrases (the pool size is written into the results).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from pathlib import Path
from typing import ClassVar, Literal

from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from sbert_med.recipes.config import ConfigError, RecipeConfig, recorded_config
from sbert_med.training import MedTrainer, RunFolder, finalize_model, seed_everything

logger = logging.getLogger(__name__)

__all__ = [
    "CardioEmbedConfig",
    "build_paraphrase_pairs",
    "evaluate_paraphrase_retrieval",
    "llm_paraphrases",
    "llm_test_pairs",
    "mean_word_overlap",
    "split_pairs",
    "train_cardioembed",
]


@dataclasses.dataclass
class CardioEmbedConfig(RecipeConfig):
    """Config of the CardioEmbed recipe; the defaults are the source's full-scale settings.

    Args:
        model: Decoder (Hub id or local path), e.g. ``Qwen/Qwen3-Embedding-8B``.
        sentences_file: Textbook sentences, one per line (e.g. OpenStax A&P 2e ``sentences_cardiovascular.txt``).
        paraphrases: Where positives come from. ``"llm"``: ``sbert_med.data.generate_paraphrases`` with the local
            causal LM ``generator_model`` (journaled, resumable). ``"file"``: a JSONL of ``{anchor, positive}``
            (``paraphrases_file``). ``"rules"``: LLM-free surface rewrites (CPU stand-in; easier than LLM
            paraphrases, see :mod:`sbert_med.recipes.paraphrase_rules`).
        paraphrases_file: JSONL of ``{"anchor": ..., "positive": ...}`` for ``paraphrases="file"``.
        generator_model: Causal LM for ``paraphrases="llm"`` and ``test_paraphrases="llm"``.
        paraphrase_prompt: Prompt of the LLM paraphrases: ``cardioembed_paraphrase`` (JSON reply, for capable
            generators) or ``textbook_paraphrase`` (plain one-line reply after a worked example, for 135M-0.5B local
            models, which rarely write valid JSON). Ours.
        generator_max_new_tokens: Token limit of one reply (ours: one long sentence in a JSON object).
        generator_batch_size: Prompts per generation batch (ours).
        test_paraphrases: Positives of the held-out test pairs. ``"same"``: from ``paraphrases``. ``"llm"``: written
            by ``generator_model`` for the test sentences only (journaled in ``output_dir/data``), so that a CPU run
            can train on cheap rule rewrites and still be measured on LLM paraphrases (ours).
        test_max_word_overlap: Test pairs whose paraphrase shares more than this fraction of its words with its
            sentence (Jaccard of word sets) are left out of the pool, so that what is left cannot be matched by
            shared words alone. 1.0 keeps every pair (ours). The pool size and mean overlap go into the results.
        max_sentences: If > 0, a seeded sample of this many sentences (before the split).
        min_words: Sentences with fewer words are skipped.
        val_fraction: Fraction of pairs held out for validation (evaluated during training).
        test_fraction: Fraction of pairs held out for the final test (the pool of the Acc@K evaluation).
        max_seq_length: Token limit during training, EOS included (CardioEmbed: 128; textbook sentences are short).
        inference_max_length: ``max_seq_length`` of the saved model (``None``: the base model's own, ours): training
            length and inference length are different settings. Both are recorded in the card data.
        padding_side: Padding side of the decoder tokenizer (last-token pooling is correct with both).
        lora_r: LoRA rank (CardioEmbed: 16).
        lora_alpha: LoRA alpha (CardioEmbed: 32).
        lora_dropout: LoRA dropout.
        lora_target_modules: Modules that get LoRA (``all-linear`` or a list of names).
        temperature: InfoNCE temperature (scale ``1 / temperature``).
    """

    recipe: ClassVar[str] = "cardioembed"
    input_fields: ClassVar[tuple[str, ...]] = ("sentences_file", "paraphrases_file")
    positive_fields: ClassVar[tuple[str, ...]] = (
        *RecipeConfig.positive_fields, "max_seq_length", "lora_r", "lora_alpha", "temperature",
        "generator_max_new_tokens", "generator_batch_size", "test_max_word_overlap"
    )
    non_negative_fields: ClassVar[tuple[str, ...]] = (
        *RecipeConfig.non_negative_fields, "max_sentences", "min_words", "lora_dropout"
    )

    output_dir: str = "runs/cardioembed"
    model: str = "Qwen/Qwen3-Embedding-8B"
    sentences_file: str = ""
    paraphrases: Literal["llm", "file", "rules"] = "llm"
    paraphrases_file: str | None = None
    generator_model: str | None = None
    paraphrase_prompt: str = "cardioembed_paraphrase"
    generator_max_new_tokens: int = 160
    generator_batch_size: int = 8
    test_paraphrases: Literal["same", "llm"] = "same"
    test_max_word_overlap: float = 1.0
    max_sentences: int = 0
    min_words: int = 5
    val_fraction: float = 0.083
    test_fraction: float = 0.042
    max_seq_length: int = 128
    inference_max_length: int | None = None
    padding_side: Literal["left", "right"] = "left"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | str = "all-linear"
    temperature: float = 0.05
    epochs: float = 2.0
    batch_size: int = 128
    learning_rate: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.inference_max_length is not None and self.inference_max_length <= 1:
            raise ConfigError(f"inference_max_length must be > 1, got {self.inference_max_length!r}")
        if self.paraphrases == "file" and not self.paraphrases_file:
            raise ConfigError("paraphrases='file' needs paraphrases_file")
        if self.paraphrases == "llm" and not self.generator_model:
            raise ConfigError("paraphrases='llm' needs generator_model (or use paraphrases='file' / 'rules')")
        if self.test_paraphrases == "llm" and not self.generator_model:
            raise ConfigError("test_paraphrases='llm' needs generator_model")
        if self.test_max_word_overlap > 1:
            raise ConfigError(f"test_max_word_overlap must be in (0, 1], got {self.test_max_word_overlap!r}")
        if not 0 < self.val_fraction + self.test_fraction < 1:
            raise ConfigError("val_fraction + test_fraction must be between 0 and 1")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature!r}")


def _read_sentences(config: CardioEmbedConfig) -> list[str]:
    path = Path(config.sentences_file)
    if not config.sentences_file or not path.is_file():
        raise FileNotFoundError(f"sentences_file not found: {config.sentences_file!r}")
    seen, sentences = set(), []
    for line in path.read_text(encoding="utf-8").splitlines():
        sentence = line.strip()
        if len(sentence.split()) >= config.min_words and sentence.lower() not in seen:
            seen.add(sentence.lower())
            sentences.append(sentence)
    if not sentences:
        raise ValueError(f"{path}: no sentence with at least {config.min_words} words")
    if 0 < config.max_sentences < len(sentences):
        sentences = random.Random(config.seed).sample(sentences, config.max_sentences)
    return sentences


def build_paraphrase_pairs(config: CardioEmbedConfig) -> list[dict[str, str]]:
    """``[{anchor, positive, generator}]`` for the config's sentences, from rules, a file or an LLM."""
    if config.paraphrases == "file":
        from sbert_med.data.jsonl import iter_numbered_jsonl

        pairs = []
        for line_no, row in iter_numbered_jsonl(config.paraphrases_file):
            if not isinstance(row.get("anchor"), str) or not isinstance(row.get("positive"), str):
                raise ValueError(f"{config.paraphrases_file}, line {line_no}: needs string 'anchor' and 'positive'")
            pairs.append(
                {"anchor": row["anchor"], "positive": row["positive"], "generator": row.get("generator", "file")}
            )
        if 0 < config.max_sentences < len(pairs):
            pairs = random.Random(config.seed).sample(pairs, config.max_sentences)
        return pairs
    sentences = _read_sentences(config)
    if config.paraphrases == "rules":
        from sbert_med.recipes.paraphrase_rules import GENERATOR_NAME, rule_paraphrase

        pairs = [
            {"anchor": s, "positive": rule_paraphrase(s, seed=config.seed), "generator": GENERATOR_NAME}
            for s in sentences
        ]
        return [p for p in pairs if p["positive"] != p["anchor"]]
    return llm_paraphrases(sentences, config, journal_name="paraphrases.jsonl")


def llm_paraphrases(sentences: list[str], config: CardioEmbedConfig, *, journal_name: str) -> list[dict[str, str]]:
    """``[{anchor, positive, generator}]``: one paraphrase per sentence by ``generator_model`` (journaled in
    ``output_dir/data/<journal_name>``, so a rerun generates only what is missing); sentences whose reply is
    rejected or copies the sentence are left out."""
    from datasets import Dataset

    from sbert_med.data import generate_paraphrases
    from sbert_med.data.llm import TransformersGenerator

    generator = TransformersGenerator(
        config.generator_model,
        seed=config.seed,
        max_new_tokens=config.generator_max_new_tokens,
        batch_size=config.generator_batch_size,
        device="cpu" if config.use_cpu else None,
        show_progress_bar=config.show_progress_bar,
    )
    dataset = Dataset.from_dict({"_id": [f"s{i}" for i in range(len(sentences))], "text": sentences})
    generated, report = generate_paraphrases(
        dataset,
        generator=generator,
        prompt=config.paraphrase_prompt,
        journal_path=Path(config.output_dir) / "data" / journal_name,
        return_report=True,
    )
    logger.info("LLM paraphrases (%s): %d of %d sentences, dropped %s", journal_name, len(generated),
                len(sentences), dict(report.dropped))
    return [{"anchor": r["anchor"], "positive": r["positive"], "generator": r["generator"]} for r in generated]


def mean_word_overlap(pairs: list[dict]) -> float:
    """Mean word overlap (Jaccard of word sets) between each pair's anchor and positive, to 4 decimals."""
    from sbert_med.data.text_normalize import word_overlap

    return round(sum(word_overlap(p["anchor"], p["positive"]) for p in pairs) / len(pairs), 4)


def llm_test_pairs(test: list[dict], config: CardioEmbedConfig) -> tuple[list[dict], dict]:
    """The held-out test pairs with LLM paraphrases as positives (``test_paraphrases="llm"``), those over
    ``test_max_word_overlap`` left out; and what was done: counts and the mean word overlap of the rule/file
    positives they replace and of the kept LLM ones."""
    from sbert_med.data.text_normalize import word_overlap

    generated = llm_paraphrases([p["anchor"] for p in test], config, journal_name="test_paraphrases.jsonl")
    kept = [p for p in generated if word_overlap(p["anchor"], p["positive"]) <= config.test_max_word_overlap]
    if len(kept) < 2:
        raise ValueError(
            f"test_paraphrases='llm': only {len(kept)} usable LLM paraphrases of {len(test)} test sentences "
            f"(test_max_word_overlap {config.test_max_word_overlap}); raise test_fraction or the overlap limit"
        )

    return kept, {
        "sentences": len(test),
        "generated": len(generated),
        "kept": len(kept),
        "dropped_over_word_overlap": len(generated) - len(kept),
        "max_word_overlap": config.test_max_word_overlap,
        "mean_word_overlap": {"replaced_positives": mean_word_overlap(test),
                              "llm_paraphrases_kept": mean_word_overlap(kept)},
        "generator": config.generator_model,
        "prompt": config.paraphrase_prompt,
    }


def split_pairs(pairs: list[dict], config: CardioEmbedConfig) -> dict[str, list[dict]]:
    """The recipe's ``test`` / ``val`` / ``train`` split of the sentence pairs: shuffled with ``config.seed``, then
    ``test_fraction`` and ``val_fraction`` of them (at least 2 each) held out; the same on every call."""
    rng = random.Random(config.seed)
    pairs = list(pairs)
    rng.shuffle(pairs)
    n_test = max(2, round(len(pairs) * config.test_fraction))
    n_val = max(2, round(len(pairs) * config.val_fraction))
    return {"test": pairs[:n_test], "val": pairs[n_test : n_test + n_val], "train": pairs[n_test + n_val :]}


def evaluate_paraphrase_retrieval(model, pairs: list[dict], *, show_progress_bar: bool = False) -> dict[str, float]:
    """Acc@1 / Acc@5 / MRR of each anchor's paraphrase among **all** paraphrases of ``pairs`` (``pool_size``)."""
    from sbert_med.evaluation.paraphrase import paraphrase_accuracy

    return paraphrase_accuracy(
        model,
        [p["anchor"] for p in pairs],
        [p["positive"] for p in pairs],
        pool_size=None,
        top_k=(1, 5),
        show_progress_bar=show_progress_bar,
    )


def build_cardioembed_model(config: CardioEmbedConfig):
    """Decoder + EOS (last-token) pooling + Normalize, with LoRA on the decoder, reading ``max_seq_length``."""
    return _build_model(config)[0]


def _build_model(config: CardioEmbedConfig):
    """The model and the base's own (inference) ``max_seq_length``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import add_lora, eos_tower

    tower = eos_tower(config.model, padding_side=config.padding_side)
    model = SentenceTransformer(
        modules=[*tower, Normalize()], similarity_fn_name="cosine", device="cpu" if config.use_cpu else None
    )
    base_length = model.max_seq_length
    model.max_seq_length = config.max_seq_length
    add_lora(
        model,
        route=None,
        config={
            "r": config.lora_r,
            "lora_alpha": config.lora_alpha,
            "lora_dropout": config.lora_dropout,
            "target_modules": config.lora_target_modules,
        },
    )
    if config.gradient_checkpointing:
        tower[0].model.enable_input_require_grads()
    return model, base_length


class ParaphraseRetrievalEvaluator(SentenceEvaluator):
    """Paraphrase Acc@1 / Acc@5 / MRR over a set of pairs, pool = all their paraphrases (for dev evaluation)."""

    def __init__(self, pairs: list[dict], name: str = "val") -> None:
        super().__init__()
        self.pairs = pairs
        self.name = name
        self.primary_metric = "accuracy@1"
        self.greater_is_better = True

    def __call__(self, model, output_path=None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        scores = evaluate_paraphrase_retrieval(model, self.pairs)
        metrics = self.prefix_name_to_metrics(scores, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics


def train_cardioembed(config: CardioEmbedConfig) -> str:
    """Run the CardioEmbed recipe; returns the directory of the saved (LoRA merged) model.

    Also writes ``output_dir/results.json``: the test Acc@1 / Acc@5 / MRR of the untrained base and of the trained
    model, with the pool size and the paraphrase source.
    """
    from datasets import Dataset
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    # input errors first, before the run folder is touched (LLM paraphrases are journaled inside it)
    pairs = build_paraphrase_pairs(config) if config.paraphrases != "llm" else None
    run = RunFolder.for_config(config)
    seed_everything(config.seed)
    out = run.path
    split = split_pairs(pairs if pairs is not None else build_paraphrase_pairs(config), config)
    test_paraphrases = None
    if config.test_paraphrases == "llm":
        split["test"], test_paraphrases = llm_test_pairs(split["test"], config)
    logger.info("CardioEmbed pairs: %s", {k: len(v) for k, v in split.items()})
    model, base_length = _build_model(config)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if "base" not in results:  # the untrained base = the tower with its adapter disabled (LoRA B is zero at init)
        results["base"] = evaluate_paraphrase_retrieval(
            model, split["test"], show_progress_bar=config.show_progress_bar
        )
        run.write_json(results_path.name, results)
    train = Dataset.from_dict(
        {"anchor": [p["anchor"] for p in split["train"]], "positive": [p["positive"] for p in split["train"]]}
    )
    loss = MultipleNegativesRankingLoss(
        model, scale=1.0 / config.temperature, gather_across_devices=config.gather_across_devices
    )
    evaluator = ParaphraseRetrievalEvaluator(split["val"]) if len(split["val"]) >= 2 else None
    args = config.training_arguments(
        output_dir=str(run.checkpoint_dir()),
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        **config.eval_schedule(evaluator),
    )
    trainer = MedTrainer(model=model, args=args, train_dataset=train, loss=loss, evaluator=evaluator)
    info = run.train(trainer)
    results["trained"] = evaluate_paraphrase_retrieval(
        model, split["test"], show_progress_bar=config.show_progress_bar
    )
    results.update(
        pool="all held-out paraphrases",
        pool_size=len(split["test"]),
        sizes={k: len(v) for k, v in split.items()},
        paraphrase_source=config.paraphrases,
        test_paraphrase_source=config.test_paraphrases if config.test_paraphrases == "llm" else config.paraphrases,
        test_paraphrases=test_paraphrases,
        generator=split["train"][0]["generator"] if split["train"] else None,
        train=info,
    )
    run.write_json(results_path.name, results)
    model.max_seq_length = config.inference_max_length or base_length
    return finalize_model(
        model,
        run.model_dir,
        family="cardioembed",
        recipe_config=recorded_config(
            config, training_max_seq_length=config.max_seq_length, inference_max_seq_length=model.max_seq_length
        ),
        eval_results={"paraphrase-test": results["trained"]},
    )
