"""Benchmark of :func:`sbert_med.data.diversify` (MAR's dynamic vector-index filter) on 100k+ real embeddings.

Usage:
    python bench/bench_diversify.py [--cache /tmp/sbert_med_bench] [--baseline-rows 20000] [--write]

1. Embed ~136k short medical texts with all-MiniLM-L6-v2 (``--encoder minilm``) or, by default, its token-embedding
   table mean-pooled (``--encoder static``, fast) (MedQuAD questions, OpenStax A&P 2e sentences and glossary
   definitions from ../shared/data, ICD-10-CM 2026 descriptions from the PyPI package simple-icd-10-cm). The
   embeddings are cached (chunked, resumable) because they do not change between runs.
2. Run the batched filter on all of them (k=5, n=1, t=0.85 and t=0.78).
3. Run two one-by-one baselines of the definition on the first ``--baseline-rows`` rows, in the same run: a brute-force
   numpy scan of every kept vector, and a FAISS flat index searched and grown one vector at a time. Check that they
   keep exactly the same rows as the batched filter on that prefix.
4. ``--write`` replaces the "Data: diversity filter throughput" section of BENCHMARKS.md and writes
   ``bench/diversify_throughput.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SBERT_MED_SHARED", REPO.parent / "shared")) / "data"
ENCODERS = {
    "static": "all-MiniLM-L6-v2's token-embedding table mean-pooled (sentence-transformers StaticEmbedding; "
              "mean-centred; the contextual model was too slow for 136k texts on the shared CPUs)",
    "minilm": "all-MiniLM-L6-v2",
}
SECTION = "## Data: diversity filter throughput (issue 4)"


def load_texts() -> tuple[list[str], dict[str, int]]:
    """Short real medical texts, deduplicated, in a fixed order."""
    import simple_icd_10_cm as icd

    sources: dict[str, list[str]] = {}
    with open(SHARED_DATA / "medquad" / "queries.jsonl", encoding="utf-8") as handle:
        sources["medquad_questions"] = [json.loads(line)["text"] for line in handle if line.strip()]
    with open(SHARED_DATA / "openstax_ap2e" / "sentences_all.txt", encoding="utf-8") as handle:
        sources["openstax_sentences"] = [line.strip() for line in handle if line.strip()]
    with open(SHARED_DATA / "openstax_ap2e" / "glossary.tsv", encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
        sources["openstax_glossary"] = [row[-1] for row in rows[1:] if len(row) >= 2 and row[-1].strip()]
    sources["icd10cm_descriptions"] = [icd.get_description(code) for code in icd.get_all_codes(False)]
    texts: list[str] = []
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for name, items in sources.items():
        before = len(texts)
        for text in items:
            if text not in seen:
                seen.add(text)
                texts.append(text)
        counts[name] = len(texts) - before
    return texts, counts


def embed(texts: list[str], cache: Path, encoder: str = "static") -> np.ndarray:
    """``static``: all-MiniLM-L6-v2's own token embeddings, mean-pooled (sentence-transformers' StaticEmbedding),
    mean-centred and normalised: a real, fast embedding space. ``minilm``: the full contextual model (slow on a
    shared 2-core machine: ~1 hour for 136k texts)."""
    if encoder == "static":
        return static_embed(texts, cache)
    from sentence_transformers import SentenceTransformer

    from sbert_med.encoding import encode_cached
    from sbert_med.models import resolve_model

    model = SentenceTransformer(resolve_model("minilm"), device="cpu")
    model.max_seq_length = 128
    return encode_cached(model, texts, cache_dir=cache / "minilm_diversify", route="document", chunk_size=8192,
                         batch_size=128)


def static_embed(texts: list[str], cache: Path) -> np.ndarray:
    import hashlib

    from safetensors.numpy import load_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from transformers import AutoTokenizer

    from sbert_med.models import resolve_model

    digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    path = cache / f"static_minilm_{digest}.npy"
    if path.exists():
        return np.load(path)
    folder = resolve_model("minilm")
    weights = load_file(f"{folder}/model.safetensors")["embeddings.word_embeddings.weight"]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights)], device="cpu")
    embeddings = model.encode(texts, batch_size=2048, convert_to_numpy=True, show_progress_bar=False)
    embeddings = embeddings - embeddings.mean(axis=0, keepdims=True)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings = embeddings.astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, embeddings)
    return embeddings


def _counts_within(counts: dict[str, int], limit: int) -> dict[str, int]:
    kept, total = {}, 0
    for name, count in counts.items():
        kept[name] = max(0, min(count, limit - total))
        total += count
    return {name: count for name, count in kept.items() if count}


def brute_force_one_by_one(embeddings: np.ndarray, *, threshold: float, k: int, n: int) -> np.ndarray:
    """The definition, literally: each row is compared with every kept row (numpy), then appended if it passes."""
    kept = np.empty_like(embeddings)
    size = 0
    keep = np.zeros(len(embeddings), dtype=bool)
    for i, vector in enumerate(embeddings):
        close = int(np.count_nonzero(kept[:size] @ vector > threshold)) if size else 0
        if min(close, k) <= n:
            keep[i] = True
            kept[size] = vector
            size += 1
    return keep


def faiss_one_by_one(embeddings: np.ndarray, *, threshold: float, k: int, n: int) -> np.ndarray:
    """The usual implementation: search a growing FAISS flat index with one row, add it if it passes."""
    import faiss

    index = faiss.IndexFlatIP(embeddings.shape[1])
    keep = np.zeros(len(embeddings), dtype=bool)
    for i in range(len(embeddings)):
        row = embeddings[i : i + 1]
        close = 0
        if index.ntotal:
            scores, _ = index.search(row, min(k, index.ntotal))
            close = int(np.count_nonzero(scores > threshold))
        if close <= n:
            keep[i] = True
            index.add(row)
    return keep


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def run(cache: Path, baseline_rows: int, batch_size: int, encoder: str = "static", max_rows: int | None = None,
        kinds: tuple[str, ...] = ("query", "document")) -> dict:
    import faiss

    from sbert_med.data.diversify import diversity_mask

    texts, counts = load_texts()
    start = time.perf_counter()
    embeddings = embed(texts, cache, encoder)
    if max_rows:
        texts, embeddings = texts[:max_rows], embeddings[:max_rows]
        counts = _counts_within(counts, max_rows)
    print(f"embeddings {embeddings.shape} ready in {time.perf_counter() - start:.0f}s")
    results = {"encoder": encoder, "n_texts": len(texts), "sources": counts, "dim": int(embeddings.shape[1]),
               "faiss_threads": faiss.omp_get_max_threads(), "baseline_rows": baseline_rows, "rows": []}
    prefix = embeddings[:baseline_rows]
    for kind, threshold in (("query", 0.85), ("document", 0.78)):
        if kind not in kinds:
            continue
        options = {"threshold": threshold, "k": 5, "n": 1}
        full, full_s = timed(diversity_mask, embeddings, batch_size=batch_size, show_progress_bar=True, **options)
        batched, batched_s = timed(diversity_mask, prefix, batch_size=batch_size, show_progress_bar=False, **options)
        brute, brute_s = timed(brute_force_one_by_one, prefix, **options)
        one_by_one, one_by_one_s = timed(faiss_one_by_one, prefix, **options)
        row = {
            "kind": kind, "threshold": threshold,
            "full_rows": len(embeddings), "full_kept": int(full.sum()), "full_seconds": full_s,
            "prefix_batched_seconds": batched_s, "prefix_brute_seconds": brute_s,
            "prefix_faiss_one_by_one_seconds": one_by_one_s, "prefix_kept": int(batched.sum()),
            "prefix_identical_to_brute": bool(np.array_equal(batched, brute)),
            "prefix_identical_to_faiss_one_by_one": bool(np.array_equal(batched, one_by_one)),
            "prefix_mismatches": int(np.count_nonzero(batched != brute)),
            "full_prefix_consistent": bool(np.array_equal(full[:baseline_rows], batched)),
        }
        results["rows"].append(row)
        print(json.dumps(row))
    return results


def markdown(results: dict, command: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        "Machine: 2 CPU cores, 24 GiB, no GPU (shared with other jobs); faiss-cpu "
        f"{__import__('faiss').__version__}, {results['faiss_threads']} OpenMP threads.  ",
        f"Date: {time.strftime('%Y-%m-%d')}.  ",
        f"Data: {results['n_texts']:,} embeddings ({results['dim']}-d, normalised) of real short medical texts by "
        + ENCODERS[results["encoder"]] + ": "
        + ", ".join(f"{name} {count:,}" for name, count in results["sources"].items())
        + " (MedQuAD and OpenStax from ../shared/data, ICD-10-CM 2026 from the PyPI package simple-icd-10-cm). "
        f"Filter: k=5, n=1. Baselines run on the first {results['baseline_rows']:,} rows (they are quadratic), "
        "in the same run; the batched filter is timed on that prefix too, so ratios compare like with like.",
        "",
        "| threshold | rows | kept | batched rows/s | brute-force 1-by-1 rows/s | FAISS 1-by-1 rows/s "
        "| speed-up vs brute force | same rows as brute force |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        prefix = results["baseline_rows"]
        same = "yes" if row["prefix_identical_to_brute"] else f"no ({row['prefix_mismatches']} differ)"
        lines.append(
            f"| {row['threshold']} ({row['kind']}) | {prefix:,} (prefix) | {row['prefix_kept']:,} "
            f"| {prefix / row['prefix_batched_seconds']:,.0f} | {prefix / row['prefix_brute_seconds']:,.0f} "
            f"| {prefix / row['prefix_faiss_one_by_one_seconds']:,.0f} "
            f"| {row['prefix_brute_seconds'] / row['prefix_batched_seconds']:.1f}x | {same} |"
        )
        lines.append(
            f"| {row['threshold']} ({row['kind']}) | {row['full_rows']:,} (all) | {row['full_kept']:,} "
            f"| {row['full_rows'] / row['full_seconds']:,.0f} | - | - | - | "
            f"{'prefix identical' if row['full_prefix_consistent'] else 'prefix differs'} |"
        )
    lines += ["", "![diversify throughput](bench/diversify_throughput.png)"]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prefix = results["baseline_rows"]
    fig, axes = plt.subplots(1, len(results["rows"]), figsize=(10, 4), sharey=True)
    for axis, row in zip(np.atleast_1d(axes), results["rows"]):
        names = ["brute force\n1-by-1", "FAISS\n1-by-1", "batched\n(prefix)", f"batched\n(all {row['full_rows']:,})"]
        speeds = [prefix / row["prefix_brute_seconds"], prefix / row["prefix_faiss_one_by_one_seconds"],
                  prefix / row["prefix_batched_seconds"], row["full_rows"] / row["full_seconds"]]
        axis.bar(names, speeds, color=["#999999", "#bbbbbb", "#3a7dc9", "#1f4e8c"])
        axis.set_yscale("log")
        axis.set_title(f"t={row['threshold']} ({row['kind']}), k=5, n=1")
        for x, speed in enumerate(speeds):
            axis.text(x, speed, f"{speed:,.0f}", ha="center", va="bottom", fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("rows / second (log)")
    fig.suptitle(f"diversify on {results['encoder']} MiniLM embeddings of {results['n_texts']:,} medical texts "
                 f"(baselines on first {prefix:,}); 2 shared CPU cores")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_benchmarks(section_body: str) -> None:
    path = REPO / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8")
    start = text.index(SECTION) + len(SECTION)
    end = text.find("\n## ", start)
    end = len(text) if end < 0 else end
    path.write_text(text[:start] + "\n\n" + section_body + "\n" + text[end:], encoding="utf-8")


def main_embed_only(cache: Path) -> None:
    texts, counts = load_texts()
    start = time.perf_counter()
    embeddings = embed(texts, cache)
    print(f"embedded {embeddings.shape} from {counts} in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sbert_med_bench"))
    parser.add_argument("--baseline-rows", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--embed-only", action="store_true")
    parser.add_argument("--encoder", choices=("static", "minilm"), default="static")
    parser.add_argument("--max-rows", type=int, help="use only the first rows (default: all ~136k)")
    parser.add_argument("--kinds", nargs="+", choices=("query", "document"), default=["query", "document"])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md and the plot")
    cli = parser.parse_args()
    if cli.embed_only:
        main_embed_only(cli.cache)
    else:
        outcome = run(cli.cache, cli.baseline_rows, cli.batch_size, cli.encoder, cli.max_rows, tuple(cli.kinds))
        (cli.cache / "diversify_results.json").write_text(json.dumps(outcome, indent=2))
        threads = os.environ.get("OMP_NUM_THREADS")
        command = " ".join([f"OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads}" if threads else "",
                            "python bench/bench_diversify.py", f"--batch-size {cli.batch_size}",
                            f"--encoder {cli.encoder}",
                            f"--baseline-rows {cli.baseline_rows}",
                            f"--max-rows {cli.max_rows}" if cli.max_rows else "",
                            f"--kinds {' '.join(cli.kinds)}", "--write"]).replace("  ", " ").strip()
        body = markdown(outcome, command)
        print(body)
        if cli.write:
            plot(outcome, REPO / "bench" / "diversify_throughput.png")
            write_benchmarks(body)
