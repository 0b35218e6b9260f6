"""The expected figures of ``examples/mar/frozen_cpu.yaml``: its trained model against its two towers alone.

Usage (after ``time sbert-med train examples/mar/frozen_cpu.yaml --output runs/mar-frozen-cpu``):
    python bench/bench_mar_frozen_cpu.py --model runs/mar-frozen-cpu/model --data-dir ../shared/data \\
        --train-wall-seconds 381

Whole MedQuAD ``test_mini`` (300 queries over 3,000 answers), documents at the config's 128 tokens, graded nDCG@10
(MTEB). The MAR model's document route is EmbeddingGemma-300M unchanged, so its corpus vectors are the ones the
"EmbeddingGemma alone" row encodes (one encoding, shared through the cache). Writes
``bench/results/mar_frozen_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="the trained frozen_cpu.yaml model folder")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=HERE / "_work" / "mar_frozen_cpu_cache")
    parser.add_argument("--document-max-length", type=int, default=128, help="frozen_cpu.yaml's document length")
    parser.add_argument("--train-wall-seconds", type=float, default=None, help="the training's measured wall time")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "mar_frozen_cpu.json",
                        help="where the figures go (a probe can keep the committed file untouched)")
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    from sbert_med.data.beir import load_beir
    from sbert_med.evaluation.retrieval import evaluate_retrieval
    from sbert_med.models import resolve_model

    data = load_beir(args.data_dir / "medquad", "test_mini", corpus_file="corpus_mini.jsonl")
    gemma = SentenceTransformer(resolve_model("embeddinggemma-300m"), device="cpu", truncate_dim=384)
    minilm = SentenceTransformer(resolve_model("minilm"), device="cpu")
    for model in (gemma, minilm):
        model.max_seq_length = args.document_max_length
    rows = {}
    for name, model in [("EmbeddingGemma-300M alone (cut to 384)", gemma),
                        ("frozen_cpu.yaml MAR model", SentenceTransformer(str(args.model), device="cpu")),
                        ("all-MiniLM-L6-v2 alone", minilm)]:
        start = time.perf_counter()
        scores = evaluate_retrieval(model, data, cache_dir=args.cache_dir, show_progress_bar=False)
        rows[name] = scores[None]["ndcg@10"]
        print(f"{name}: nDCG@10 {rows[name]:.4f} ({time.perf_counter() - start:.0f} s)")
    result = {"medquad_test_mini_ndcg@10": rows, "train_wall_seconds": args.train_wall_seconds,
              "document_max_length": args.document_max_length,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
