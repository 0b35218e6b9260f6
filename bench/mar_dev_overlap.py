"""How much of the MAR CPU probe's dev proxy its alignment texts already contain (a leakage check).

Usage (after ``bench/bench_mar_linear_head.py``, which writes the alignment texts it used):
    python bench/mar_dev_overlap.py --data-dir ../shared/data \\
        --alignment bench/_work/mar_linear_head/alignment_3000.jsonl

Counts MedQuAD dev queries identical to an alignment text, and dev-judged documents that begin with one (alignment
texts are cut to 48 MiniLM tokens, so a shared answer shows as a prefix), after lower-casing and collapsing
punctuation. Stage I sees no relevance labels, only texts and EmbeddingGemma's vectors of them. Prints the counts.
"""

from __future__ import annotations

import argparse
import csv
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
    medquad = args.data_dir / "medquad"
    with args.alignment.open(encoding="utf-8") as handle:
        aligned = {_normalised(json.loads(line)["text"]) for line in handle if line.strip()}
    with (medquad / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = {row["_id"]: row["text"] for row in map(json.loads, handle)}
    dev_queries, dev_docs = set(), set()
    with (medquad / "qrels" / "dev.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            dev_queries.add(row["query-id"])
            dev_docs.add(row["corpus-id"])
    with (medquad / "corpus.jsonl").open(encoding="utf-8") as handle:
        corpus = {row["_id"]: _normalised(row["text"]) for row in map(json.loads, handle) if row["_id"] in dev_docs}
    prefixes = [text for text in aligned if len(text) > args.min_chars]
    same_queries = sum(_normalised(queries[q]) in aligned for q in dev_queries)
    shared_docs = sum(any(corpus[d].startswith(p) for p in prefixes) for d in dev_docs)
    print(f"{len(aligned)} alignment texts; dev queries identical to one: {same_queries} / {len(dev_queries)}; "
          f"dev documents beginning with one (> {args.min_chars} characters): {shared_docs} / {len(dev_docs)}")


if __name__ == "__main__":
    main()
