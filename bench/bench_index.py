"""Benchmark: FAISS flat / IVF / HNSW (float32, int8, binary) indexes of the MedQuAD corpus with all-MiniLM-L6-v2.

Usage:
    python bench/bench_index.py                      # full MedQuAD corpus (15,809 answers)
    python bench/bench_index.py --max-docs 4096      # a uniform random subset (seed 0), for a busy machine

1. The corpus is shuffled with seed 0, so the first N documents are a uniform random subset, and encoded once with
   the document route (max_seq_length 256) into resumable shards under --work (rerun = no re-encoding).
2. One index per (kind, precision) is built from those shards, saved, reloaded with ``MedIndex.load`` and searched
   with the MedQuAD test queries (encoded once with the query route and cached).
3. The flat index is compared with a brute-force NumPy cosine search (same top-10 ids and scores); IVF / HNSW /
   int8 / binary are scored by recall@10 against flat; all are timed on one thread (one query at a time, and one
   batched call), next to the NumPy baseline measured in the same run.

Prints the Markdown table for BENCHMARKS.md and writes bench/index_recall_speed.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

SHARD_SIZE = 512
REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SBERT_MED_SHARED", REPO.parent / "shared")) / "data" / "medquad"

logger = logging.getLogger("bench_index")


def shuffled_corpus(max_docs: int | None):
    from sbert_med.index import IndexCorpus, load_corpus

    full = load_corpus(DATA / "corpus.jsonl")
    order = np.random.default_rng(0).permutation(len(full))
    if max_docs:
        order = order[:max_docs]
    note = " (shuffled, seed 0)" if max_docs is None else f" (shuffled, seed 0, first {len(order)})"
    return IndexCorpus(ids=[full.ids[i] for i in order], texts=[full.texts[i] for i in order],
                       source=full.source + note)


def reuse_full_shards(full_dir: Path, subset_dir: Path, num_docs: int) -> None:
    """Seed a subset's shard folder with the full run's shards that cover exactly the same documents."""
    subset_dir.mkdir(parents=True, exist_ok=True)
    for index in range(num_docs // SHARD_SIZE):
        source = full_dir / f"shard_{index:05d}.npy"
        target = subset_dir / source.name
        if source.is_file() and not target.exists():
            shutil.copyfile(source, target)


def test_queries() -> list[str]:
    wanted = set()
    with (DATA / "qrels" / "test.tsv").open() as handle:
        next(handle)
        wanted = {line.split("\t")[0] for line in handle}
    with (DATA / "queries.jsonl").open() as handle:
        rows = [json.loads(line) for line in handle]
    return [row["text"] for row in rows if row["_id"] in wanted]


def time_single(search, queries: np.ndarray) -> float:
    """Queries per second, one query per call."""
    start = time.perf_counter()
    for row in range(len(queries)):
        search(queries[row:row + 1])
    return len(queries) / (time.perf_counter() - start)


def time_batched(search, queries: np.ndarray, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        search(queries)
        best = min(best, time.perf_counter() - start)
    return len(queries) / best


def numpy_search(embeddings: np.ndarray, queries: np.ndarray, k: int):
    scores = queries @ embeddings.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top_scores, order, axis=1), np.take_along_axis(top, order, axis=1)


def plot(rows: list[dict], path: str, *, num_docs: int, subset: bool, k: int) -> None:
    """Recall@k vs queries/s (one query per call), one point per index."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    groups: dict[str, list[dict]] = {}
    for row in rows[1:]:
        groups.setdefault(" ".join(row["variant"].split()[:2]) + (" +rescore" if "+rescore" in row["variant"]
                                                                   else ""), []).append(row)
    for name, members in groups.items():
        xs = [row["single_qps"] for row in members]
        ax.plot(xs, [row["recall"] for row in members], marker="o", label=f"{name} ({members[0]['faiss']})")
        for row in members:
            knob = [part for part in row["variant"].split() if "=" in part]
            if knob:
                ax.annotate(knob[0], (row["single_qps"], row["recall"]), fontsize=6, xytext=(3, -8),
                            textcoords="offset points")
    ax.axvline(rows[0]["single_qps"], color="grey", linestyle="--", label="NumPy brute force")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_xscale("log")
    ax.set_xlabel("queries/s (one query per call, 1 thread)")
    ax.set_ylabel(f"recall@{k} vs flat")
    ax.set_title(f"MedQuAD, {num_docs:,} answers"
                 + (" (random subset)" if subset else "") + ", all-MiniLM-L6-v2", fontsize=10)
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, "2 shared CPU cores; speeds are ratios to NumPy measured in the same run", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    logger.info("wrote %s", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-docs", type=int, default=None, help="index only the first N shuffled documents")
    parser.add_argument("--work", default="/tmp/sbert_med_bench", help="cache of shards, query embeddings, indexes")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--plot", default=str(REPO / "bench" / "index_recall_speed.png"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import faiss
    from sentence_transformers import SentenceTransformer
    from threadpoolctl import threadpool_limits

    from sbert_med.index import MedIndex, build_index
    from sbert_med.models import resolve_model

    work = Path(args.work)
    corpus = shuffled_corpus(args.max_docs)
    model = SentenceTransformer(resolve_model("minilm"), device="cpu")
    model.max_seq_length = 256
    name = "sentence-transformers/all-MiniLM-L6-v2"
    full_shards = work / "medquad_minilm_shuffled"
    shard_dir = full_shards
    if args.max_docs:
        shard_dir = work / f"medquad_minilm_shuffled_first{len(corpus)}"
        reuse_full_shards(full_shards, shard_dir, len(corpus))

    queries_text = test_queries()
    query_cache = work / "medquad_test_queries_minilm.npy"
    variants = [("flat", "float32", {}), ("ivf", "float32", {"nprobe": 1}), ("ivf", "float32", {"nprobe": 4}),
                ("ivf", "float32", {"nprobe": 16}), ("ivf", "float32", {"nprobe": 64}),
                ("hnsw", "float32", {"ef_search": 16}), ("hnsw", "float32", {"ef_search": 64}),
                ("hnsw", "float32", {"ef_search": 128}), ("flat", "int8", {}), ("hnsw", "int8", {"ef_search": 64}),
                ("flat", "binary", {}), ("hnsw", "binary", {"ef_search": 64})]
    indexes: dict[tuple[str, str], MedIndex] = {}
    build_seconds = {}
    for kind, precision, _ in variants:
        if (kind, precision) in indexes:
            continue
        out = work / f"index_{len(corpus)}_{kind}_{precision}"
        start = time.perf_counter()
        build_index(model, corpus, out, kind=kind, precision=precision, model_name=name, shard_dir=shard_dir,
                    shard_size=SHARD_SIZE, batch_size=32, overwrite=True, show_progress_bar=True)
        build_seconds[(kind, precision)] = time.perf_counter() - start
        indexes[(kind, precision)] = MedIndex.load(out)  # saved and reloaded
    flat = indexes[("flat", "float32")]

    if query_cache.is_file():
        queries = np.load(query_cache)
    else:
        queries = flat.encode_queries(model, queries_text, batch_size=64)
        np.save(query_cache, queries)
    example = flat.search(model, "What are the symptoms of iron deficiency anemia?", top_k=3)[0]
    for hit in example:
        logger.info("example hit %.4f %s %s", hit.score, hit.id, hit.text[:100])

    embeddings = np.ascontiguousarray(np.asarray(flat.embeddings), dtype=np.float32)
    k = args.top_k
    faiss.omp_set_num_threads(1)
    with threadpool_limits(limits=1):
        flat_scores, flat_positions = flat.search_embeddings(queries, top_k=k)
        np_scores, np_positions = numpy_search(embeddings, queries, k)
        same_ids = int(sum(set(a) == set(b) for a, b in zip(flat_positions, np_positions)))
        max_score_diff = float(np.abs(flat_scores - np_scores).max())
        rows = [{"variant": "NumPy brute force (baseline)", "recall": 1.0,
                 "single_qps": time_single(lambda q: numpy_search(embeddings, q, k), queries),
                 "batched_qps": time_batched(lambda q: numpy_search(embeddings, q, k), queries),
                 "size_mb": embeddings.nbytes / 2**20}]
        for kind, precision, params in variants:
            index = indexes[(kind, precision)]
            knobs = {"nprobe": params.get("nprobe"), "ef_search": params.get("ef_search")}

            def search(q, index=index, knobs=knobs):
                return index.search_embeddings(q, top_k=k, **knobs)

            _, positions = search(queries)
            recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(positions, flat_positions)]))
            label = f"{kind} {precision}" + "".join(f" {key}={value}" for key, value in params.items())
            if precision != "float32":
                label += " +rescore"
            size = (index.folder / "index.faiss").stat().st_size / 2**20
            rows.append({"variant": label, "recall": recall, "single_qps": time_single(search, queries),
                         "batched_qps": time_batched(search, queries), "size_mb": size,
                         "faiss": index.manifest.faiss_index, "build_s": build_seconds[(kind, precision)]})
    base = rows[0]
    lines = [
        f"Corpus: {len(corpus):,} MedQuAD answers ({corpus.source.split('(')[-1].rstrip(')')}); "
        f"{len(queries):,} MedQuAD test queries; all-MiniLM-L6-v2 (384-d, max_seq_length 256); top-{k}; "
        "one thread for FAISS and NumPy.",
        f"Flat vs brute-force NumPy cosine: identical top-{k} ids for {same_ids}/{len(queries)} queries, "
        f"max score difference {max_score_diff:.2e}.",
        "",
        f"| Index (FAISS) | recall@{k} vs flat | queries/s, 1 per call | × NumPy | queries/s, batched | × NumPy | "
        "index MB |",
        "|:---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        faiss_name = f" (`{row['faiss']}`)" if "faiss" in row else ""
        lines.append(
            f"| {row['variant']}{faiss_name} | {row['recall']:.4f} | {row['single_qps']:,.0f} | "
            f"{row['single_qps'] / base['single_qps']:.2f} | {row['batched_qps']:,.0f} | "
            f"{row['batched_qps'] / base['batched_qps']:.2f} | {row['size_mb']:.2f} |"
        )
    table = "\n".join(lines)
    print(table)
    (work / f"bench_index_{len(corpus)}.md").write_text(table + "\n")
    (work / f"bench_index_{len(corpus)}.json").write_text(json.dumps(
        {"rows": rows, "same_ids": same_ids, "num_queries": len(queries), "num_docs": len(corpus),
         "max_score_diff": max_score_diff}, indent=2))

    plot(rows, args.plot, num_docs=len(corpus), subset=bool(args.max_docs), k=k)


if __name__ == "__main__":
    main()
