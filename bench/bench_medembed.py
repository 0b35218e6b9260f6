"""MedEmbed recipe on all-MiniLM-L6-v2: nDCG@10 on MedQuAD test and NFCorpus test, before vs after training.

Usage:
    nice -n 10 python bench/bench_medembed.py --out /tmp/bench_medembed > /tmp/bench_medembed.log 2>&1 &

Steps:
1. Evaluate the base model on MedQuAD (``qrels/test_mini.tsv``: 300 test queries over ``corpus_mini.jsonl`` cut to
   their answers + random distractors, 1,000 documents by default) and NFCorpus test (a seeded sample of queries over
   their relevant documents + distractors). The cuts are flags; the table states the sizes used.
2. Train with the MedEmbed recipe (``train_medembed``) on a seeded sample of MedQuAD ``train_pairs.tsv``
   (train pages only: no overlap with the test pages).
3. Evaluate the trained model on the same splits; print and save a Markdown table.

Corpus embeddings are cached chunk by chunk under ``--out/cache`` (a rerun resumes); training resumes from its
last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from sbert_med.data.beir import load_beir  # noqa: E402
from sbert_med.encoding import encode_cached  # noqa: E402
from sbert_med.models import resolve_model  # noqa: E402
from sbert_med.recipes.evaluators import ir_evaluator, short_metrics  # noqa: E402
from sbert_med.recipes.medembed import MedEmbedConfig, train_medembed  # noqa: E402

SHARED_DATA = Path(os.environ.get("SBERT_MED_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
METRICS = ("ndcg@10", "mrr@10", "recall@100")


def evaluate(model, split, *, name: str, cache_dir: Path, batch_size: int, max_length: int = 0) -> dict[str, float]:
    default_length = model.max_seq_length
    if max_length:
        model.max_seq_length = max_length
    evaluator = ir_evaluator(split, name=name, batch_size=batch_size, show_progress_bar=False)
    corpus_emb = encode_cached(model, evaluator.corpus, cache_dir=cache_dir, route="document", batch_size=batch_size)
    metrics = short_metrics(evaluator(model, corpus_embeddings=torch.from_numpy(corpus_emb)), name)
    model.max_seq_length = default_length
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/bench_medembed")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--train-examples", type=int, default=512)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--passage-max-length", type=int, default=128)
    parser.add_argument("--nfcorpus-max-length", type=int, default=0, help="token limit on NFCorpus (0: as trained)")
    parser.add_argument("--medquad-split", default="test_mini", help="qrels split: test_mini (300 queries) or test")
    parser.add_argument("--medquad-corpus-file", default="corpus_mini.jsonl", help="corpus_mini.jsonl or corpus.jsonl")
    parser.add_argument("--medquad-max-corpus", type=int, default=1000)
    parser.add_argument("--nfcorpus-max-queries", type=int, default=30)
    parser.add_argument("--nfcorpus-max-corpus", type=int, default=1000)
    args = parser.parse_args()
    args.model = resolve_model(args.model)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from sentence_transformers import SentenceTransformer

    out = Path(args.out)
    splits = {
        f"medquad_{args.medquad_split}": load_beir(
            SHARED_DATA / "medquad",
            args.medquad_split,
            corpus_file=args.medquad_corpus_file,
            max_corpus=args.medquad_max_corpus,
        ),
        "nfcorpus": load_beir(
            SHARED_DATA / "nfcorpus",
            "test",
            max_queries=args.nfcorpus_max_queries,
            max_corpus=args.nfcorpus_max_corpus,
        ),
    }
    timings = {}
    results: dict[str, dict[str, dict[str, float]]] = {"before": {}, "after": {}}

    def evaluate_splits(model, when: str, cache_name: str) -> None:
        """``results[when]``: every split evaluated (corpus embeddings cached under ``cache/<cache_name>_<split>``)."""
        for name, split in splits.items():
            start = time.perf_counter()
            results[when][name] = evaluate(
                model,
                split,
                name=name,
                cache_dir=out / "cache" / f"{cache_name}_{name}",
                batch_size=args.batch_size,
                max_length=args.nfcorpus_max_length if name == "nfcorpus" else 0,
            )
            timings[f"eval_{when}_{name}_s"] = time.perf_counter() - start
            logging.info("%s %s: %s", when, name, results[when][name])

    base = SentenceTransformer(args.model, device="cpu")
    base.max_seq_length = args.passage_max_length
    evaluate_splits(base, "before", "base")
    config = MedEmbedConfig(
        model=args.model,
        output_dir=str(out / "run"),
        train_data=str(SHARED_DATA / "medquad" / "train_pairs.tsv"),
        max_train_examples=args.train_examples,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        passage_max_length=args.passage_max_length,
        save_steps=20,
        use_cpu=True,
        resume=True,
    )
    start = time.perf_counter()
    model_dir = train_medembed(config)
    timings["train_s"] = time.perf_counter() - start
    evaluate_splits(SentenceTransformer(model_dir, device="cpu"), "after", "trained")
    rows = [
        "| dataset (split, queries / docs) | metric | before (MiniLM) | after (MedEmbed recipe) | after/before |",
        "|---|---|---|---|---|",
    ]
    labels = {
        name: f"{'MedQuAD ' + args.medquad_split if name.startswith('medquad') else 'NFCorpus test'} "
        f"({len(s.queries)} / {len(s.corpus)})"
        for name, s in splits.items()
    }
    for name in splits:
        for metric in METRICS:
            b, a = results["before"][name][metric], results["after"][name][metric]
            rows.append(f"| {labels[name]} | {metric} | {b:.4f} | {a:.4f} | {a / b:.3f} |")
    table = "\n".join(rows)
    (out / "results.json").write_text(json.dumps({**results, "timings": timings, "args": vars(args)}, indent=2))
    (out / "results.md").write_text(table + "\n")
    print(table)
    print(json.dumps(timings, indent=2))


if __name__ == "__main__":
    main()
