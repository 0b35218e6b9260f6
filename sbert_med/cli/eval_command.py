"""`sbert-med eval`: several models side by side on medical tasks, with query/document speed, in one run."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate models on medical retrieval/STS tasks, with query and document speed"
DESCRIPTION = (
    "Evaluate MODELs (paths, Hub ids, NAME=PATH, or 'bm25') on TASKs and write OUT/results.json "
    "({model: {task: {metric: value}}}), OUT/results.md and PNG plots. A task is a folder under --data-dir "
    "(BEIR: NAME[:SPLIT[:CORPUS_FILE]]; or an STS TSV with sentence1/sentence2/score) or an MTEB task or "
    "benchmark name (needs the Hugging Face Hub)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="+", metavar="MODEL", help="a path, a Hub id, NAME=PATH, or 'bm25'")
    parser.add_argument("--tasks", nargs="+", required=True, metavar="TASK",
                        help="e.g. medquad:test_mini:corpus_mini.jsonl nfcorpus biosses 'MTEB(Medical, v1)'")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding the local task folders")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder (reuses a result it holds only when the same model, data and settings "
                             "produced it)")
    parser.add_argument("--max-seq-length", type=int, default=None, help="cap every tower's max_seq_length")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--truncate-dims", nargs="*", type=int, default=[], metavar="DIM",
                        help="Matryoshka sweep sizes (retrieval tasks)")
    parser.add_argument("--max-queries", type=int, default=None, help="seeded query subset of every BEIR task")
    parser.add_argument("--max-corpus", type=int, default=None,
                        help="keep judged documents plus distractors up to this many")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-efficiency", action="store_true", help="skip the speed measurement")
    parser.add_argument("--device", default=None)
    parser.add_argument("--overwrite", action="store_true", help="recompute every result in OUT/results.json")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sbert_med.evaluation import evaluate_models
    from sbert_med.evaluation.report import json_safe, markdown_table
    from sbert_med.evaluation.suite import EvalSettings

    settings = EvalSettings(
        data_dir=args.data_dir, max_seq_length=args.max_seq_length, batch_size=args.batch_size,
        truncate_dims=args.truncate_dims, efficiency=not args.no_efficiency, max_queries=args.max_queries,
        max_corpus=args.max_corpus, seed=args.seed, device=args.device, overwrite=args.overwrite,
        show_progress_bar=not args.no_progress,
    )
    results = json_safe(evaluate_models(args.models, args.tasks, out_dir=args.out, settings=settings))
    print(markdown_table(results))
    print(f"results: {args.out / 'results.json'}")
    return 0
