"""Retrieval over long medical documents whose answer sits past token 512: truncation vs chunk-and-pool vs a
long-context backbone, side by side in one run.

Usage:
    python bench/bench_long_docs.py [--num-queries 40] [--work bench/_work/long_docs] [--with-smollm2] [--write]

How the task is built (real MedQuAD text from ../shared/data/medquad, seeded):

1. Queries: MedQuAD *test* questions with exactly one relevant answer of 40-300 tokens (all-MiniLM-L6-v2 tokenizer).
2. Filler: MedQuAD answers of *train* pages (the splits share no topic page, so no filler answers a test query).
3. Each query gets one long document: filler answers until the prefix is at least ``--prefix-tokens`` (default 560)
   tokens long in *every* tokenizer compared, then the query's answer, then more filler up to ~``--total-tokens``
   (default 1,000) MiniLM tokens. The answer therefore starts after token 512 for every model. Filler answers are
   used once. The corpus is the ``--num-queries`` long documents; each query has exactly one relevant document.
4. Methods, on the same documents: all-MiniLM-L6-v2 truncating at its default 256 and at 512 tokens (counted
   truncation), MiniLM chunk-and-pool (windows of its max_seq_length, 32-token overlap; mean and max pooling);
   EmbeddingGemma-300m (Gemma 3, native in transformers, 2,048 positions) truncated at 512 and reading the whole
   document; optionally (``--with-smollm2``) SmolLM2-135M configured for 8,192 tokens via ``eos_tower`` — a language
   model never trained for retrieval, shown for the mechanics. Embeddings are cached under ``--work`` (resumable).
5. Metrics: nDCG@10, MRR@10, Recall@1, Recall@10; documents/s relative to MiniLM truncating at 256 (same run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from datetime import date
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SBERT_MED_SHARED", REPO.parent / "shared")) / "data"
MEDQUAD = SHARED_DATA / "medquad"


def read_jsonl(path: Path) -> dict[str, dict]:
    with path.open(encoding="utf-8") as handle:
        return {row["_id"]: row for row in map(json.loads, handle) if row}


def read_qrels(path: Path) -> dict[str, list[str]]:
    qrels: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            query_id, doc_id, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(query_id, []).append(doc_id)
    return qrels


def build_task(tokenizers: dict, *, num_queries: int, prefix_tokens: int, total_tokens: int, seed: int):
    """Queries, long documents and the position (in tokens, per tokenizer) where each answer starts."""
    corpus = read_jsonl(MEDQUAD / "corpus.jsonl")
    queries = read_jsonl(MEDQUAD / "queries.jsonl")
    test, train = read_qrels(MEDQUAD / "qrels" / "test.tsv"), read_qrels(MEDQUAD / "qrels" / "train.tsv")
    minilm = tokenizers["minilm"]

    def length(text: str, tokenizer=minilm) -> int:
        return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    rng = random.Random(seed)
    candidates = sorted(query_id for query_id, docs in test.items() if len(docs) == 1)
    rng.shuffle(candidates)
    selected = []
    for query_id in candidates:
        if 40 <= length(corpus[test[query_id][0]]["text"]) <= 300:
            selected.append(query_id)
        if len(selected) == num_queries:
            break
    filler_ids = sorted({doc for docs in train.values() for doc in docs})
    rng.shuffle(filler_ids)
    filler = iter(corpus[doc]["text"].strip() for doc in filler_ids if 60 <= len(corpus[doc]["text"]) <= 2500)
    documents, answer_starts = [], {name: [] for name in tokenizers}
    for query_id in selected:
        prefix: list[str] = []
        while not prefix or min(length(" ".join(prefix), tok) for tok in tokenizers.values()) < prefix_tokens:
            prefix.append(next(filler))
        answer = corpus[test[query_id][0]]["text"].strip()
        suffix: list[str] = []
        while length(" ".join(prefix + [answer] + suffix)) < total_tokens - 150:
            suffix.append(next(filler))
        document = " ".join(prefix + [answer] + suffix)
        documents.append(document)
        for name, tok in tokenizers.items():
            answer_starts[name].append(length(" ".join(prefix), tok))
    query_texts = [queries[query_id]["text"] for query_id in selected]
    lengths = {name: [length(doc, tok) for doc in documents] for name, tok in tokenizers.items()}
    return query_texts, documents, answer_starts, lengths


def retrieval_metrics(query_embeddings: np.ndarray, document_embeddings: np.ndarray) -> dict[str, float]:
    """Query i's only relevant document is document i."""
    scores = query_embeddings @ document_embeddings.T
    ranks = (scores > scores[np.arange(len(scores)), np.arange(len(scores))][:, None]).sum(axis=1) + 1
    return {
        "ndcg@10": float(np.mean(np.where(ranks <= 10, 1 / np.log2(ranks + 1), 0))),
        "mrr@10": float(np.mean(np.where(ranks <= 10, 1 / ranks, 0))),
        "recall@1": float(np.mean(ranks == 1)),
        "recall@10": float(np.mean(ranks <= 10)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-queries", type=int, default=40)
    parser.add_argument("--prefix-tokens", type=int, default=560)
    parser.add_argument("--total-tokens", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--work", default=str(REPO / "bench" / "_work" / "long_docs"))
    parser.add_argument("--with-smollm2", action="store_true")
    parser.add_argument("--write", action="store_true", help="write bench/long_docs.json and bench/long_docs.png")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from sbert_med.encoding import encode_long_documents
    from sbert_med.models import resolve_model
    from sbert_med.modules import long_context_model

    torch.set_num_threads(2)
    minilm = SentenceTransformer(resolve_model("minilm"), device="cpu")
    gemma = SentenceTransformer(resolve_model("embeddinggemma-300m"), device="cpu")
    tokenizers = {"minilm": minilm.tokenizer, "embeddinggemma": gemma.tokenizer}
    smollm2 = None
    if args.with_smollm2:
        smollm2 = long_context_model(resolve_model("smollm2-135m"), max_seq_length=8192)
        tokenizers["smollm2"] = smollm2.tokenizer
    queries, documents, answer_starts, lengths = build_task(
        tokenizers, num_queries=args.num_queries, prefix_tokens=args.prefix_tokens,
        total_tokens=args.total_tokens, seed=args.seed,
    )
    task = {
        "queries": len(queries), "documents": len(documents),
        "answer_start_min": {name: min(starts) for name, starts in answer_starts.items()},
        "document_tokens_mean": {name: float(np.mean(v)) for name, v in lengths.items()},
        "document_tokens_max": {name: max(v) for name, v in lengths.items()},
    }
    print(json.dumps(task, indent=2), flush=True)
    methods = [
        ("all-MiniLM-L6-v2, truncate at 256 (default)", minilm, dict(mode="truncate"), 256),
        ("all-MiniLM-L6-v2, truncate at 512", minilm, dict(mode="truncate"), 512),
        ("all-MiniLM-L6-v2, chunk-and-pool mean (256-token windows)", minilm, dict(mode="chunk", pooling="mean"), 256),
        ("all-MiniLM-L6-v2, chunk-and-pool max (256-token windows)", minilm, dict(mode="chunk", pooling="max"), 256),
        ("EmbeddingGemma-300m, long context (2,048)", gemma, dict(mode="truncate"), 2048),
        ("EmbeddingGemma-300m, truncate at 512", gemma, dict(mode="truncate"), 512),
    ]
    if smollm2 is not None:
        methods.append(("SmolLM2-135M EOS tower, long context (8,192), no retrieval training", smollm2,
                        dict(mode="truncate"), 8192))
    results = []
    for name, model, options, window in methods:
        key = name.split(",")[0].split()[0].lower() + "_" + "_".join(f"{k}-{v}" for k, v in options.items())
        model.max_seq_length = window
        start = time.perf_counter()
        document_embeddings, report = encode_long_documents(
            model, documents, batch_size=4, cache_dir=Path(args.work) / f"{key}_{window}", block_size=16,
            show_progress_bar=True, **options,
        )
        seconds = time.perf_counter() - start
        timing_file = Path(args.work) / f"{key}_{window}" / "seconds.json"
        if timing_file.is_file():  # embeddings came from the cache: keep the time of the run that encoded them
            seconds = json.loads(timing_file.read_text())["seconds"]
        else:
            timing_file.write_text(json.dumps({"seconds": seconds}))
        query_embeddings = model.encode_query(queries, normalize_embeddings=True, convert_to_numpy=True)
        row = {"method": name, "window": window, **retrieval_metrics(query_embeddings, document_embeddings),
               "seconds": seconds, "report": report.to_dict()}
        results.append(row)
        print(json.dumps(row), flush=True)
        if args.write:  # partial results survive an interrupted run
            (REPO / "bench" / "long_docs.json").write_text(json.dumps({"task": task, "results": results}, indent=2))
    output = {"date": str(date.today()), "command": "python bench/bench_long_docs.py " + " ".join(
        a for a in os.sys.argv[1:]), "task": task, "results": results}
    text = json.dumps(output, indent=2)
    print(text)
    if args.write:
        (REPO / "bench" / "long_docs.json").write_text(text)
        plot(results, REPO / "bench" / "long_docs.png", task)
    print(markdown_table(results))


def markdown_table(results: list[dict]) -> str:
    lines = ["| method | nDCG@10 | MRR@10 | R@1 | R@10 | long docs | truncated docs | tokens dropped | chunks "
             "| time (× MiniLM-256) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    base = results[0]["seconds"]
    for row in results:
        report = row["report"]
        lines.append(
            f"| {row['method']} | {row['ndcg@10']:.3f} | {row['mrr@10']:.3f} | {row['recall@1']:.3f} "
            f"| {row['recall@10']:.3f} | {report['num_long_documents']} | {report['num_truncated_documents']} "
            f"| {report['num_truncated_tokens']:,} | {report['num_chunks']} | {row['seconds'] / base:.1f}× |"
        )
    return "\n".join(lines)


def plot(results: list[dict], path: Path, task: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.6 * len(results) + 1.6))
    names = [row["method"] for row in results][::-1]
    ax.barh(names, [row["ndcg@10"] for row in results][::-1], color="#4477aa")
    ax.set_xlabel("nDCG@10")
    ax.set_xlim(0, 1)
    ax.set_title(f"MedQuAD long documents (answer after token 512): {task['queries']} queries, "
                 f"{task['documents']} documents", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
