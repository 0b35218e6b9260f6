"""Runs on the lent GPU machine: ``bench_mar.py``'s training rows (MAR with the frozen EmbeddingGemma-300M document
tower), with the recipe and the benchmark's own configs (``bench_mar.mar_config``, on the GPU instead of the CPU).

Each row's query tower encodes the evaluation queries there; the vectors come back as ``<row>.npz`` and
``bench_mar.py --device-rows`` scores them with the frozen tower's document vectors (the same for every row) by
``mar_decoder_score.ndcg_at_10`` (graded nDCG@10 as MTEB computes it; checked against MTEB on the document tower
row). EmbeddingGemma is rebuilt from ``mar_device_payload.py``'s parts (``mar_device_encode.rebuild``).

Usage (on the GPU machine):
    python3 bench/mar_device_train.py --parts /tmp/parts --bundle /tmp/bundle --out $OUT
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("mar_device_train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=Path, required=True, help="EmbeddingGemma's parts")
    parser.add_argument("--bundle", type=Path, required=True, help="models/minilm, data/ (train_pairs.tsv, "
                                                                   "alignment.jsonl, texts.json.gz)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--step-time-steps", type=int, default=20)
    parser.add_argument("--stage1-epochs", type=float, default=2.0)
    parser.add_argument("--stage1-learning-rate", type=float, default=2e-4)
    parser.add_argument("--stage1-linear-head", action="store_true", help="stage1_linear_head (ours)")
    parser.add_argument("--stage1-negative-bank", type=int, default=0, help="stage1_negative_bank (ours)")
    parser.add_argument("--stage1-score-documents", type=int, default=0, help="stage1_score_documents (ours)")
    cli = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import bench_mar
    import torch
    from mar_device_encode import rebuild
    from sentence_transformers import SentenceTransformer

    start = time.perf_counter()
    rebuild(cli.parts, Path("/tmp/bench_models/embeddinggemma-300m"))
    data_dir, work_dir = Path("/tmp/bench_data"), Path("/tmp/bench_work")
    (data_dir / "medquad").mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(cli.bundle / "data" / "train_pairs.tsv", data_dir / "medquad" / "train_pairs.tsv")
    shutil.copy(cli.bundle / "data" / "alignment.jsonl", work_dir / "alignment.jsonl")
    args = argparse.Namespace(
        work_dir=work_dir, data_dir=data_dir, query_model=str(cli.bundle / "models" / "minilm"),
        document_model="/tmp/bench_models/embeddinggemma-300m", alignment_size=20000, stage2_pairs=4000,
        query_max_length=64, document_max_length=256, batch_size=128, stage1_epochs=cli.stage1_epochs,
        stage1_learning_rate=cli.stage1_learning_rate, stage1_linear_head=cli.stage1_linear_head,
        stage1_negative_bank=cli.stage1_negative_bank, stage1_score_documents=cli.stage1_score_documents, seed=42,
    )
    queries = json.loads(gzip.decompress((cli.bundle / "data" / "texts.json.gz").read_bytes()))["groups"][
        "eval_queries"]["texts"]
    report = {"gpu": torch.cuda.get_device_name(0), "rebuild_s": time.perf_counter() - start, "runs": {}}
    cache_dir = work_dir / "cache"

    def run(name: str, **overrides) -> Path:
        config = bench_mar.mar_config(args, name, cache_dir, use_cpu=False, **overrides)
        begin = time.perf_counter()
        model_dir = bench_mar.train(config)
        stages = {}
        for stage in ("stage1", "stage2"):
            done = model_dir.parent / "stages" / stage / "STAGE_DONE"
            if done.exists():
                stages[stage] = json.loads(done.read_text())
        report["runs"][name] = {"seconds": time.perf_counter() - begin, "stages": stages}
        (cli.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
        return model_dir

    def encode(row: str, path: Path) -> None:
        model = SentenceTransformer(str(path), device="cuda")
        vectors = model.encode_query(queries, batch_size=256, convert_to_numpy=True, normalize_embeddings=True)
        np.savez(cli.out / f"{row}.npz", queries=vectors.astype(np.float32))
        logger.info("%s: query vectors saved", row)

    full = run("full")
    encode("mar_stage1", full.parent / "stages" / "stage1")
    encode("mar_stage1_2", full)
    encode("mar_no_stage1", run("no_stage1", run_stage1=False))
    for size in (5000, 2000):
        encode(f"mar_stage1_{size}", run(f"stage1_{size}", run_stage2=False, alignment_max_texts=size))
    for targets in ("cached", "live"):
        run(f"step_time_{targets}", **bench_mar.STEP_TIME_SETTINGS, stage1_targets=targets,
            stage1_max_steps=cli.step_time_steps,
            alignment_max_texts=cli.step_time_steps * args.batch_size)


if __name__ == "__main__":
    main()
