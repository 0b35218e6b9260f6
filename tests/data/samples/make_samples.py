#!/usr/bin/env python3
"""Cut the small test samples in this folder from the full datasets (MedQuAD, PubMedQA PQA-L, OpenStax A&P 2e).

    python tests/data/samples/make_samples.py --data-dir /path/to/data [--out tests/data/samples]

``--data-dir`` holds the full datasets in the layout described in README.md (``medquad/``, ``pubmedqa_pqal/``,
``openstax_ap2e/``). The cut is deterministic (fixed seeds, file order kept), so running it again reproduces the
committed files byte for byte. Only openly licensed sets are sampled; NFCorpus and BIOSSES stay out.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
from collections import defaultdict
from pathlib import Path

# Sizes (ours): large enough for the tests that use them (150 test queries: the MAR CPU test's evaluation; 50 dev
# queries: the MedEmbed CPU config's dev_max_queries; >= 120 distinct-question train rows plus >= 30 questions asked
# on several pages: the mining test), small enough to keep the repository light (about 2 MB in all).
MEDQUAD_TEST_QUERIES = 150
MEDQUAD_DEV_QUERIES = 50  # at least; whole pages are taken
MEDQUAD_DISTRACTORS = 100
MEDQUAD_TRAIN_STRIDE = 43  # every 43rd of the 12,826 train pairs: ~300 rows spread over sources and topics
MEDQUAD_DUPLICATE_GROUPS = 40  # questions asked, in other wording or case, on several train pages
PUBMEDQA_ITEMS = 20
OPENSTAX_CHAPTERS = ("1", "5", "18", "19")  # introduction, integumentary system, blood, the heart
CARDIOVASCULAR_CHAPTERS = {"18", "19"}
SEED = 13


def normalize_question(text: str) -> str:
    return " ".join(text.lower().replace("?", " ").split())


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_qrels(path: Path) -> list[tuple[str, str, str]]:
    with open(path, encoding="utf-8") as handle:
        next(handle)
        return [tuple(line.rstrip("\n").split("\t")) for line in handle if line.strip()]


class Writer:
    """Writes each file under a temporary name, then moves it into place."""

    def __init__(self, out: Path):
        self.out = out
        self.sizes: dict[str, int] = {}

    def text(self, relative: str, text: str) -> None:
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        self.sizes[relative] = path.stat().st_size

    def jsonl(self, relative: str, rows: list[dict]) -> None:
        self.text(relative, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))

    def qrels(self, relative: str, rows: list[tuple[str, str, str]]) -> None:
        self.text(relative, "query-id\tcorpus-id\tscore\n" + "".join("\t".join(row) + "\n" for row in rows))


def sample_medquad(source: Path, writer: Writer) -> None:
    rng = random.Random(SEED)
    test_mini = [row for row in read_qrels(source / "qrels" / "test_mini.tsv") if int(row[2]) > 0]
    test_ids = sorted({row[0] for row in test_mini})
    test_ids = set(rng.sample(test_ids, MEDQUAD_TEST_QUERIES))
    dev = [row for row in read_qrels(source / "qrels" / "dev.tsv") if int(row[2]) > 0]
    # whole topic pages (all their questions), so that answers about the same topic compete as in the full corpus
    pages = defaultdict(set)
    for row in dev:
        pages[row[0].rsplit("_Q", 1)[0]].add(row[0])
    dev_ids: set[str] = set()
    for page in rng.sample(sorted(pages), len(pages)):
        if len(dev_ids) >= MEDQUAD_DEV_QUERIES:
            break
        dev_ids |= pages[page]
    test_qrels = [row for row in test_mini if row[0] in test_ids]
    dev_qrels = [row for row in dev if row[0] in dev_ids]
    relevant = {row[1] for row in test_qrels + dev_qrels}
    mini_ids = [row["_id"] for row in read_jsonl(source / "corpus_mini.jsonl")]
    distractors = set(rng.sample(sorted(set(mini_ids) - relevant), MEDQUAD_DISTRACTORS))
    keep_docs = relevant | distractors
    corpus = [row for row in read_jsonl(source / "corpus.jsonl") if row["_id"] in keep_docs]

    csv.field_size_limit(1 << 30)
    with open(source / "train_pairs.tsv", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        fields, pairs = reader.fieldnames, list(reader)
    groups = defaultdict(list)
    for index, row in enumerate(pairs):
        groups[normalize_question(row["query"])].append(index)
    duplicated = sorted(key for key, rows in groups.items() if len({pairs[i]["query_id"] for i in rows}) > 1)
    chosen = rng.sample(duplicated, MEDQUAD_DUPLICATE_GROUPS)
    keep_pairs = set(range(0, len(pairs), MEDQUAD_TRAIN_STRIDE)) | {i for key in chosen for i in groups[key]}
    train_rows = [pairs[i] for i in sorted(keep_pairs)]
    train_query_ids = {row["query_id"] for row in train_rows}

    queries = [row for row in read_jsonl(source / "queries.jsonl")
               if row["_id"] in test_ids or row["_id"] in dev_ids or row["_id"] in train_query_ids]
    writer.jsonl("medquad/corpus.jsonl", corpus)
    writer.jsonl("medquad/queries.jsonl", queries)
    writer.qrels("medquad/qrels/test.tsv", test_qrels)
    writer.qrels("medquad/qrels/dev.tsv", dev_qrels)
    lines = ["\t".join(fields)] + ["\t".join(row[field] for field in fields) for row in train_rows]
    if any("\t" in row[field] or "\n" in row[field] for row in train_rows for field in fields):
        sys.exit("medquad/train_pairs.tsv: a field holds a tab or newline; the plain TSV writer cannot keep it")
    writer.text("medquad/train_pairs.tsv", "\n".join(lines) + "\n")


def sample_pubmedqa(source: Path, writer: Writer) -> None:
    qrels = read_qrels(source / "qrels" / "test_official500.tsv")[:PUBMEDQA_ITEMS]
    ids = {row[0] for row in qrels} | {row[1] for row in qrels}
    writer.jsonl("pubmedqa_pqal/corpus.jsonl", [r for r in read_jsonl(source / "corpus.jsonl") if r["_id"] in ids])
    writer.jsonl("pubmedqa_pqal/queries.jsonl", [r for r in read_jsonl(source / "queries.jsonl") if r["_id"] in ids])
    writer.qrels("pubmedqa_pqal/qrels/test.tsv", qrels)


def sample_openstax(source: Path, writer: Writer) -> None:
    paragraphs = [row for row in read_jsonl(source / "paragraphs.jsonl") if str(row["chapter"]) in OPENSTAX_CHAPTERS]
    writer.jsonl("openstax_ap2e/paragraphs.jsonl", paragraphs)
    # the reference sentence split of those paragraphs: the reference sentences found inside them
    text = "\n".join(row["text"] for row in paragraphs)
    cardio_text = "\n".join(row["text"] for row in paragraphs if str(row["chapter"]) in CARDIOVASCULAR_CHAPTERS)
    sentences = (source / "sentences_all.txt").read_text(encoding="utf-8").splitlines()
    writer.text("openstax_ap2e/sentences_all.txt", "".join(s + "\n" for s in sentences if s and s in text))
    cardio = (source / "sentences_cardiovascular.txt").read_text(encoding="utf-8").splitlines()
    writer.text("openstax_ap2e/sentences_cardiovascular.txt",
                "".join(s + "\n" for s in cardio if s and s in cardio_text))
    with open(source / "glossary.tsv", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    kept = [line for i, line in enumerate(lines) if i == 0 or line.split("\t")[0] in OPENSTAX_CHAPTERS]
    writer.text("openstax_ap2e/glossary.tsv", "".join(line + "\n" for line in kept))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, type=Path,
                        help="folder holding medquad/, pubmedqa_pqal/, openstax_ap2e/")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    for name in ("medquad", "pubmedqa_pqal", "openstax_ap2e"):
        if not (args.data_dir / name).is_dir():
            sys.exit(f"{args.data_dir / name}: not a folder "
                     "(--data-dir must hold medquad/, pubmedqa_pqal/, openstax_ap2e/)")
    writer = Writer(args.out)
    sample_medquad(args.data_dir / "medquad", writer)
    sample_pubmedqa(args.data_dir / "pubmedqa_pqal", writer)
    sample_openstax(args.data_dir / "openstax_ap2e", writer)
    for relative, size in sorted(writer.sizes.items()):
        print(f"{size:>9,d}  {relative}")
    print(f"{sum(writer.sizes.values()):>9,d}  in all")


if __name__ == "__main__":
    main()
