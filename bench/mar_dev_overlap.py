"""How much of the MAR CPU probe's dev proxy its alignment texts already contain (a leakage check).

Usage (after ``bench/bench_mar_linear_head.py``, which writes the alignment texts it used):
    python bench/mar_dev_overlap.py --data-dir ../shared/data \\
        --alignment bench/_work/mar_linear_head/alignment_3000.jsonl

Counts MedQuAD dev queries identical to an alignment text, and documents judged relevant in dev (the probe's pool,
read with ``load_beir`` as the probe reads it) that begin with one (alignment texts are cut to 48 MiniLM tokens, so a
shared answer shows as a prefix), after lower-casing and collapsing punctuation. Stage I sees no relevance labels,
only texts and EmbeddingGemma's vectors of them. Prints the counts.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def _normalised(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--alignment", type=Path, required=True, help="JSONL with a 'text' field per line")
    parser.add_argument("--min-chars", type=int, default=40, help="shortest alignment text counted as a prefix")
    args = parser.parse_args()
    from sbert_med.data.beir import load_beir

    data = load_beir(args.data_dir / "medquad", "dev", corpus_file="corpus.jsonl")  # the probe's split
    with args.alignment.open(encoding="utf-8") as handle:
        aligned = {_normalised(json.loads(line)["text"]) for line in handle if line.strip()}
    pool = {doc for relevant in data.relevant_docs.values() for doc in relevant}
    corpus = {doc: _normalised(data.corpus[doc]) for doc in pool}
    prefixes = [text for text in aligned if len(text) > args.min_chars]
    same_queries = sum(_normalised(text) in aligned for text in data.queries.values())
    shared_docs = sum(any(text.startswith(p) for p in prefixes) for text in corpus.values())
    print(f"{len(aligned)} alignment texts; dev queries identical to one: {same_queries} / {len(data.queries)}; "
          f"dev documents beginning with one (> {args.min_chars} characters): {shared_docs} / {len(corpus)}")


if __name__ == "__main__":
    main()
