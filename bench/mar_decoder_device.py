"""Runs on the lent GPU machine: the MAR decoder path (SmolLM2-135M + EOS pooling + LoRA document tower,
all-MiniLM-L6-v2 query tower) trained with the recipe, and every row's evaluation vectors encoded there.

This is ``bench_mar.py``'s second, smaller table. The recipe runs as a user would run it on a GPU (bf16,
``use_cpu: false``); the rows' query and document vectors of the evaluation texts come back as ``<row>.npz`` and
``mar_decoder_score.py`` scores them on this machine with graded nDCG@10 (pytrec_eval, as MTEB does).

Rows: the document tower alone (SmolLM2 after its Matryoshka + LoRA initialisation, symmetric), the query tower
alone (MiniLM after its initialisation), MAR after Stage I, MAR after Stage I + II, MAR without Stage I.

Usage (on the GPU machine; models in ``--models``, ``train_pairs.tsv``, ``alignment.jsonl`` and the payload's
``texts.json.gz`` in ``--data``):
    python3 bench/mar_decoder_device.py --models /tmp/models --data /tmp/data --out $OUT
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("mar_decoder_device")


def config(args: argparse.Namespace, name: str, **overrides):
    from sbert_med.recipes.mar import MARConfig

    settings = dict(
        output_dir=f"/tmp/mar_runs/{name}",
        query_model=str(args.models / "minilm"),
        query_pooling="mean",
        document_model=str(args.models / "smollm2-135m"),
        document_kind="decoder",
        document_matryoshka_dims=[576, 384, 256, 128],
        bridge="truncate",
        query_max_length=64,
        document_max_length=256,
        padding_side="left",
        train_data=str(args.data / "train_pairs.tsv"),
        max_train_examples=args.pairs,
        alignment_data=str(args.data / "alignment.jsonl"),
        num_hard_negatives=1,
        mine_range_min=5,
        batch_size=64,
        init_epochs=1,
        init_learning_rate=2e-5,
        init_document_learning_rate=1e-3,
        stage1_batch_size=512,
        stage1_epochs=2,
        stage1_learning_rate=2e-4,
        stage1_temperature=0.1,
        stage2_batch_size=64,
        stage2_epochs=1,
        stage2_learning_rate=2e-5,
        stage2_temperature=0.02,
        bf16=True,
        save_steps=10_000,
        logging_steps=20,
        show_progress_bar=False,
        encode_batch_size=256,
    )
    if args.dry_run:
        settings.update(max_train_examples=24, alignment_max_texts=64, batch_size=8, stage1_batch_size=16,
                        stage2_batch_size=8, init_max_steps=2, stage1_max_steps=2, stage2_max_steps=2, bf16=False,
                        use_cpu=True, document_max_length=32, output_dir=f"/tmp/mar_runs_dry/{name}")
    settings.update(overrides)
    return MARConfig(**settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=4000)
    parser.add_argument("--dry-run", action="store_true", help="a few steps on the CPU, to check the script here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch
    from sentence_transformers import SentenceTransformer

    from sbert_med.recipes.mar import train_mar

    device = "cpu" if args.dry_run else "cuda"
    report: dict = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "pairs": args.pairs,
                    "seconds": {}}
    start = time.perf_counter()
    full_dir = Path(train_mar(config(args, "full")))
    report["seconds"]["init_stage1_stage2"] = time.perf_counter() - start
    stages = full_dir.parent / "stages"
    start = time.perf_counter()
    no_stage1_dir = Path(train_mar(config(args, "no_stage1", query_model=str(stages / "init_query"),
                                          query_pooling=None, document_model=str(stages / "init_document"),
                                          run_init=False, run_stage1=False)))
    report["seconds"]["stage2_only"] = time.perf_counter() - start

    groups = json.loads(gzip.decompress((args.data / "texts.json.gz").read_bytes()))["groups"]
    queries, documents = groups["eval_queries"]["texts"], groups["eval_documents"]["texts"]
    if args.dry_run:
        queries, documents = queries[:8], documents[:8]
    rows = {
        "document_tower": stages / "init_document",
        "query_tower": stages / "init_query",
        "mar_stage1": stages / "stage1",
        "mar_stage1_2": full_dir,
        "mar_no_stage1": no_stage1_dir,
    }
    for name, path in rows.items():
        model = SentenceTransformer(str(path), device=device, truncate_dim=384)
        kwargs = dict(batch_size=256, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        start = time.perf_counter()
        np.savez(args.out / f"{name}.npz", queries=model.encode_query(queries, **kwargs).astype(np.float32),
                 documents=model.encode_document(documents, **kwargs).astype(np.float32))
        report["seconds"][f"encode_{name}"] = time.perf_counter() - start
        logger.info("%s encoded", name)
    for name in ("init_query", "init_document", "stage1", "stage2"):
        done = stages / name / "STAGE_DONE"
        if done.exists():
            report[f"stage_{name}"] = json.loads(done.read_text())
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
