"""Stage I step time with the query column embedded in length buckets (``AlignmentLoss(length_buckets=...)``, ours).

One MAR Stage I training step as the recipe runs it with cached targets: all-MiniLM-L6-v2 (the benchmark's query
tower, 64 tokens) embeds a batch of alignment texts, ``AlignmentLoss`` (InfoNCE + MSE, τ 0.1) against target
vectors, backward, AdamW. The texts are the MAR benchmark's alignment corpus (``bench_mar.py``'s
``alignment.jsonl``: MedQuAD questions, MEDLINE titles, OpenStax sentences, NFCorpus train queries). Every batch is
run once per bucket count, in turn, so a machine whose load changes slows every variant alike; the figure is the
median seconds per step and its ratio to one pass (``length_buckets=1``). The loss of every variant is also
computed on the same batch and weights before training (they must agree: buckets change the padding, not the
math). Targets are seeded random unit vectors: a step's time does not depend on their values.

Usage (without ``--alignment`` the corpus is built as ``bench_mar.py --alignment-sources
with-nfcorpus-train-queries`` builds it, into ``--work-dir``; with it, an existing ``alignment.jsonl`` is read):
    python bench/bench_length_buckets.py --data-dir ../shared/data --medline-dir /tmp/medline/data
    python bench/bench_length_buckets.py --alignment bench/_work/mar_cpu/alignment.jsonl
Writes ``bench/results/length_buckets.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

from sbert_med.data.jsonl import read_jsonl  # noqa: E402
from sbert_med.losses import AlignmentLoss  # noqa: E402
from sbert_med.models import resolve_model  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED_DATA = Path(os.environ.get("SBERT_MED_SHARED", HERE.parents[1] / "shared")) / "data"


def build_corpus(args: argparse.Namespace) -> Path:
    """The MAR benchmark's alignment corpus (20,000 texts with NFCorpus train queries, decontaminated against
    MedQuAD test_mini and NFCorpus test), as ``bench_mar.py`` builds it."""
    from mar_alignment_corpus import SHARES_WITH_NFCORPUS, build_alignment_corpus

    from sbert_med.data.beir import load_beir

    evaluations = [load_beir(args.data_dir / "medquad", "test_mini", corpus_file="corpus_mini.jsonl"),
                   load_beir(args.data_dir / "nfcorpus", "test")]
    path = args.work_dir / "alignment.jsonl"
    args.work_dir.mkdir(parents=True, exist_ok=True)
    build_alignment_corpus(args.data_dir, args.medline_dir, evaluations, size=20000, seed=args.seed, path=path,
                           shares=SHARES_WITH_NFCORPUS)
    return path


def padded_ratio(features: dict) -> float:
    mask = features["attention_mask"]
    return mask.numel() / float(mask.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alignment", type=Path, default=None,
                        help="an existing alignment.jsonl (one {'text': ...} a line); default: build it")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA)
    parser.add_argument("--medline-dir", type=Path, default=Path("/tmp/medline/data"))
    parser.add_argument("--work-dir", type=Path, default=HERE / "_work" / "length_buckets")
    parser.add_argument("--query-model", default="minilm")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--buckets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "length_buckets.json")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    if args.alignment is None:
        args.alignment = build_corpus(args)
    try:
        texts = read_jsonl(args.alignment, required_columns=["text"], text_columns=["text"])["text"]
    except (OSError, ValueError) as error:  # the reader's messages name the file, line and column
        raise SystemExit(f"--alignment: {error}") from None
    model = SentenceTransformer(resolve_model(args.query_model), device="cpu")
    model.max_seq_length = args.max_length
    width = model.get_embedding_dimension()
    rng = random.Random(args.seed)
    batches = [rng.sample(texts, args.batch_size) for _ in range(args.steps + 1)]
    generator = torch.Generator().manual_seed(args.seed)
    targets = [torch.nn.functional.normalize(torch.randn(args.batch_size, width, generator=generator), dim=-1)
               for _ in batches]
    features = [model.preprocess(batch) for batch in batches]
    losses = {b: AlignmentLoss(model, temperature=0.1, length_buckets=b) for b in args.buckets}

    model.eval()  # the agreement check: same weights, no dropout
    with torch.no_grad():
        agreement = {b: {k: float(v) for k, v in loss([dict(features[0])], targets[0]).items()}
                     for b, loss in losses.items()}
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    seconds: dict[int, list[float]] = {b: [] for b in args.buckets}
    for step in range(1, args.steps + 1):
        for b, loss in losses.items():
            start = time.perf_counter()
            parts = loss([dict(features[step])], targets[step])
            sum(parts.values()).backward()
            optimizer.step()
            optimizer.zero_grad()
            seconds[b].append(time.perf_counter() - start)
        print(f"step {step}: " + ", ".join(f"{b} bucket(s) {seconds[b][-1]:.2f} s" for b in args.buckets), flush=True)

    one = statistics.median(seconds[1]) if 1 in seconds else None
    result = {
        "step_s_median": {str(b): statistics.median(s) for b, s in seconds.items()},
        "speedup_vs_one_pass": {str(b): one / statistics.median(s) for b, s in seconds.items()} if one else None,
        "step_s_all": {str(b): s for b, s in seconds.items()},
        "padded_over_real_tokens_one_pass": statistics.mean(padded_ratio(f) for f in features[1:]),
        "loss_before_training": {str(b): v for b, v in agreement.items()},
        "settings": {"alignment": str(args.alignment), "texts": len(texts), "query_model": args.query_model,
                     "max_length": args.max_length, "batch_size": args.batch_size, "steps": args.steps,
                     "seed": args.seed},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
                   f"threads {torch.get_num_threads()}",
        "command": "python bench/bench_length_buckets.py " + " ".join(sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("step_s_median", "speedup_vs_one_pass",
                                             "padded_over_real_tokens_one_pass", "loss_before_training")}, indent=2))


if __name__ == "__main__":
    main()
