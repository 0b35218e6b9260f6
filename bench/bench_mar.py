"""MAR on real models: all-MiniLM-L6-v2 query tower + SmolLM2-135M (LoRA) document tower, stages and ablations.

Usage:
    nice -n 10 python bench/bench_mar.py --out /tmp/bench_mar > /tmp/bench_mar.log 2>&1 &

One run measures, on MedQuAD test (``qrels/test_mini.tsv`` over ``corpus_mini.jsonl``, cut by the flags below):

* the untrained all-MiniLM-L6-v2 (reference);
* the query tower alone and the document tower alone (each after the independent, symmetric initialisation);
* MAR init + Stage I + Stage II (the full recipe);
* ablations: no Stage II (init + Stage I), no Stage I (init + Stage II).

All variants share one initialisation. Document embeddings are cached whenever the document tower is unchanged:
the document tower alone and "no Stage II" (its document tower is frozen in Stage I) share one encoding. The
document max_seq_length is kept modest (``--document-max-length``, 64 tokens by default) for CPU.
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
from sbert_med.recipes.mar import MARConfig, train_mar  # noqa: E402

SHARED_DATA = Path(os.environ.get("SBERT_MED_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/bench_mar")
    parser.add_argument("--query-model", default="minilm")
    parser.add_argument("--document-model", default="smollm2-135m")
    parser.add_argument("--train-examples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--test-queries", type=int, default=300, help="0: all 300 test_mini queries")
    parser.add_argument("--test-corpus", type=int, default=1000, help="0: all 3,000 corpus_mini documents")
    parser.add_argument("--query-max-length", type=int, default=64)
    parser.add_argument("--document-max-length", type=int, default=64)
    parser.add_argument("--init-steps", type=int, default=60, help="optimizer steps of each tower's initialisation")
    parser.add_argument("--stage1-steps", type=int, default=100)
    parser.add_argument("--stage2-steps", type=int, default=20)
    parser.add_argument("--query-lr", type=float, default=5e-5, help="query tower in the initialisation")
    parser.add_argument("--document-lr", type=float, default=1e-3, help="document LoRA in the initialisation")
    parser.add_argument("--stage1-lr", type=float, default=1e-3)
    parser.add_argument("--stage2-lr", type=float, default=1e-4, help="both towers (the paper's one rate)")
    args = parser.parse_args()
    args.query_model, args.document_model = resolve_model(args.query_model), resolve_model(args.document_model)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from sentence_transformers import SentenceTransformer

    out = Path(args.out)
    test = load_beir(
        SHARED_DATA / "medquad",
        "test_mini",
        corpus_file="corpus_mini.jsonl",
        max_queries=args.test_queries,
        max_corpus=args.test_corpus,
    )
    evaluator = ir_evaluator(test, name="test", batch_size=args.batch_size)
    common = dict(
        train_data=str(SHARED_DATA / "medquad" / "train_pairs.tsv"),
        max_train_examples=args.train_examples,
        query_pooling="mean",
        bridge="project",
        query_max_length=args.query_max_length,
        document_max_length=args.document_max_length,
        padding_side="left",
        batch_size=args.batch_size,
        stage1_batch_size=2 * args.batch_size,
        stage2_batch_size=args.batch_size,
        num_hard_negatives=1,
        mine_range_min=5,
        lora_r=32,
        lora_alpha=64,
        use_cpu=True,
        save_steps=20,
        resume=True,
        show_progress_bar=False,
        init_max_steps=args.init_steps,
        stage1_max_steps=args.stage1_steps,
        stage2_max_steps=args.stage2_steps,
        init_learning_rate=args.query_lr,
        init_document_learning_rate=args.document_lr,
        stage1_learning_rate=args.stage1_lr,
        stage2_learning_rate=args.stage2_lr,
    )
    timings = {}
    start = time.perf_counter()
    full = MARConfig(
        output_dir=str(out / "full"), query_model=args.query_model, document_model=args.document_model, **common
    )
    train_mar(full)
    timings["full_s"] = time.perf_counter() - start
    init_query, init_document = full.stage_dir("init_query"), full.stage_dir("init_document")
    start = time.perf_counter()
    no_stage1 = MARConfig(
        output_dir=str(out / "no_stage1"),
        query_model=str(init_query),
        document_model=str(init_document),
        run_init=False,
        run_stage1=False,
        **{**common, "query_pooling": None},
    )
    train_mar(no_stage1)
    timings["no_stage1_s"] = time.perf_counter() - start

    # (label, model path, document cache key): same key = same document tower = one encoding
    variants = [
        ("all-MiniLM-L6-v2, untrained (reference)", args.query_model, "minilm_base"),
        ("query tower alone (MiniLM after init)", str(init_query), "init_query"),
        ("document tower alone (SmolLM2-135M after init)", str(init_document), "init_document"),
        ("MAR: init + Stage I + Stage II", str(full.stage_dir("stage2")), "full_stage2"),
        ("ablation: no Stage II (init + Stage I)", str(full.stage_dir("stage1")), "init_document"),
        ("ablation: no Stage I (init + Stage II)", str(no_stage1.stage_dir("stage2")), "no_stage1_stage2"),
    ]
    results = {}
    for label, path, doc_key in variants:
        model = SentenceTransformer(path, device="cpu")
        if doc_key == "minilm_base":
            model.max_seq_length = args.document_max_length
        start = time.perf_counter()
        corpus_emb = encode_cached(
            model, evaluator.corpus, cache_dir=out / "cache" / doc_key, route="document", batch_size=args.batch_size
        )
        metrics = short_metrics(evaluator(model, corpus_embeddings=torch.from_numpy(corpus_emb)), "test")
        results[label] = {**metrics, "eval_s": time.perf_counter() - start, "document_cache": doc_key}
        logging.info("%s: nDCG@10 %.4f", label, metrics["ndcg@10"])
    reference = results[variants[3][0]]["ndcg@10"]
    rows = ["| model | nDCG@10 | MRR@10 | Recall@100 | nDCG@10 / MAR full |", "|---|---|---|---|---|"]
    for label, _, _ in variants:
        r = results[label]
        rows.append(
            f"| {label} | {r['ndcg@10']:.4f} | {r['mrr@10']:.4f} | {r['recall@100']:.4f} | "
            f"{r['ndcg@10'] / reference:.3f} |"
        )
    table = "\n".join(rows)
    sizes = {"test_queries": len(test.queries), "test_corpus": len(test.corpus)}
    (out / "results.json").write_text(
        json.dumps({"results": results, "timings": timings, "sizes": sizes, "args": vars(args)}, indent=2)
    )
    (out / "results.md").write_text(table + "\n")
    print(table)
    print(json.dumps({"sizes": sizes, "timings": timings}, indent=2))


if __name__ == "__main__":
    main()
