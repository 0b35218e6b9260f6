"""Benchmark of :func:`sbert_med.data.diversify` (MAR's dynamic vector-index filter) on 100k+ real embeddings.

Usage:
    python bench/bench_diversify.py [--cache /tmp/sbert_med_bench] [--baseline-rows 20000] [--write]

1. Embed ~136k short medical texts with all-MiniLM-L6-v2 (MedQuAD questions, OpenStax A&P 2e sentences and glossary
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


def embed(texts: list[str], cache: Path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    from sbert_med.data.embedding_cache import encode_with_cache
    from sbert_med.resources import packaged_minilm_path

    model = SentenceTransformer(packaged_minilm_path(), device="cpu")
    model.max_seq_length = 128
    return encode_with_cache(model, texts, cache_dir=cache / "minilm_diversify", chunk_size=8192, batch_size=128)


def main_embed_only(cache: Path) -> None:
    texts, counts = load_texts()
    start = time.perf_counter()
    embeddings = embed(texts, cache)
    print(f"embedded {embeddings.shape} from {counts} in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sbert_med_bench"))
    parser.add_argument("--embed-only", action="store_true")
    cli = parser.parse_args()
    if cli.embed_only:
        main_embed_only(cli.cache)
