"""Medical benchmark suite: BM25, all-MiniLM-L6-v2, all-mpnet-base-v2 and EmbeddingGemma-300M on MedQuAD, NFCorpus,
PubMedQA and BIOSSES, with the speed of the query and document routes, in one run (issue 5).

Usage:
    nice -n 10 python bench/bench_medical_suite.py --out /tmp/bench_medical_suite > /tmp/bench_suite.log 2>&1 &

Steps:
    1. Build the task list (local BEIR folders of ../shared/data, seeded subsets so the large models fit a shared
       2-core CPU; the subsets are printed and written on the plots).
    2. ``sbert_med.evaluation.evaluate_models``, breadth first (all models on MedQuAD, then BIOSSES, PubMedQA,
       NFCorpus): retrieval through MTEB's own evaluation, BIOSSES Spearman, the
       Matryoshka sweep from cached embeddings, query/document speed of every model in the same process.
    3. Print the Markdown table and copy the two plots beside this script (bench/medical_suite_*.png).

The run resumes: results and embeddings are written as they come, a rerun with the same --out skips finished work.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from sbert_med.evaluation import TaskSpec, evaluate_models  # noqa: E402
from sbert_med.evaluation.report import markdown_table  # noqa: E402
from sbert_med.models import resolve_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/bench_medical_suite")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--medquad-queries", type=int, default=30)
    parser.add_argument("--medquad-corpus", type=int, default=60)
    parser.add_argument("--nfcorpus-queries", type=int, default=8)
    parser.add_argument("--nfcorpus-corpus", type=int, default=80)
    parser.add_argument("--pubmedqa-queries", type=int, default=30)
    parser.add_argument("--pubmedqa-corpus", type=int, default=40)
    parser.add_argument("--efficiency-queries", type=int, default=64)
    parser.add_argument("--efficiency-documents", type=int, default=8)
    parser.add_argument("--efficiency-single", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=None, help="NAME=PATH items (default: the four of issue 5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    models = args.models or [
        "bm25",
        f"all-MiniLM-L6-v2={resolve_model('minilm')}",
        f"EmbeddingGemma-300M={resolve_model('embeddinggemma-300m')}",
        f"all-mpnet-base-v2={resolve_model('mpnet')}",
    ]
    tasks = [
        TaskSpec("medquad", split="test_mini", corpus_file="corpus_mini.jsonl", label="MedQuAD",
                 max_queries=args.medquad_queries, max_corpus=args.medquad_corpus),
        TaskSpec("nfcorpus", split="test", label="NFCorpus",
                 max_queries=args.nfcorpus_queries, max_corpus=args.nfcorpus_corpus),
        TaskSpec("pubmedqa_pqal", split="test_official500", label="PubMedQA",
                 max_queries=args.pubmedqa_queries, max_corpus=args.pubmedqa_corpus),
        TaskSpec("biosses", label="BIOSSES"),
    ]
    note = (f"Subsets (seed 0): MedQuAD test_mini {args.medquad_queries} q / {args.medquad_corpus} docs; "
            f"NFCorpus test {args.nfcorpus_queries} q / {args.nfcorpus_corpus} docs; PubMedQA test_official500 "
            f"{args.pubmedqa_queries} q / {args.pubmedqa_corpus} docs; BIOSSES 100 pairs. max_seq_length "
            f"{args.max_seq_length} (BM25 sees full texts). 2 CPU cores shared with other jobs.")
    start = time.time()
    # Breadth first: every model on the cheapest tasks (and its speed) before any model on the costly ones, so an
    # interrupted run still compares all models; each phase resumes from the results of the previous one.
    order = [tasks[0], tasks[3], tasks[2], tasks[1]]  # MedQuAD, BIOSSES, PubMedQA, NFCorpus
    phases = [order[: i + 1] for i in range(len(order))]
    for phase in phases:
        results = evaluate_models(
            models, phase, out_dir=args.out, data_dir=args.data_dir, max_seq_length=args.max_seq_length,
            batch_size=args.batch_size, truncate_dims=(512, 256, 128, 64), efficiency=True,
            efficiency_queries=args.efficiency_queries,
            efficiency_documents=args.efficiency_documents, efficiency_single=args.efficiency_single, note=note,
        )
    elapsed = time.time() - start
    out = Path(args.out)
    for name in ("quality_vs_speed", "matryoshka"):
        if (out / f"{name}.png").exists():
            shutil.copy(out / f"{name}.png", REPO / "bench" / f"medical_suite_{name}.png")
    settings = json.loads((out / "settings.json").read_text())
    print(f"\n{note}\nwall time this run: {elapsed / 60:.1f} min")
    print(json.dumps(settings["tasks"], indent=1))
    print(markdown_table(results))


if __name__ == "__main__":
    main()
