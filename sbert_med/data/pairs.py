"""Read training pairs and triplets (JSONL, TSV/CSV, BEIR folders); bad rows are reported with file and line."""

from __future__ import annotations

import csv
import logging
import random
from pathlib import Path

from datasets import Dataset

from sbert_med.data.beir import load_beir
from sbert_med.data.jsonl import iter_numbered_jsonl

logger = logging.getLogger(__name__)

__all__ = ["load_training_pairs", "truncate_to_tokens"]

csv.field_size_limit(2**31 - 1)


def _as_list(value, *, path: Path, line_no: int, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ValueError(f"{path}: line {line_no}: {key!r} must be a string or a list of strings, got {value!r}")


def load_training_pairs(
    path: str | Path,
    *,
    split: str = "train",
    num_negatives: int = 0,
    max_examples: int = 0,
    seed: int = 42,
) -> Dataset:
    """Training examples as a ``Dataset`` with columns ``anchor``, ``positive`` and ``negative_1..n``.

    Accepted inputs:

    * ``.jsonl`` in MedEmbed / FlagEmbedding form: ``{"query": str, "pos": str | [str], "neg": [str]}`` (one row
      per positive); ``anchor`` / ``positive`` / ``negative`` are accepted as key names too.
    * ``.tsv`` / ``.csv`` with a header holding ``query`` (or ``anchor``), ``document`` (or ``positive``) and
      optional ``negative*`` columns (e.g. MedQuAD's ``train_pairs.tsv``).
    * a BEIR folder: pairs (query, relevant document) from ``qrels/<split>.tsv``.

    Args:
        path: The file or folder.
        split: The qrels split of a BEIR folder.
        num_negatives: How many ``negative_i`` columns to keep; rows with fewer negatives are an error.
        max_examples: If > 0, keep a seeded random sample of this many examples.
        seed: Seed of the sample.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"training data not found: {path}")
    rows: list[tuple[str, str, list[str], str]] = []  # anchor, positive, negatives, where
    if path.is_dir():
        data = load_beir(path, split)
        for qid in sorted(data.queries):
            for cid in sorted(data.relevant_docs[qid]):
                rows.append((data.queries[qid], data.corpus[cid], [], f"{path} qid {qid}"))
    elif path.suffix == ".jsonl":
        for line_no, row in iter_numbered_jsonl(path):
            anchor = row.get("query", row.get("anchor"))
            if not isinstance(anchor, str) or not anchor.strip():
                raise ValueError(f"{path}: line {line_no}: missing or empty 'query'")
            positives = _as_list(row.get("pos", row.get("positive")), path=path, line_no=line_no, key="pos")
            if not positives:
                raise ValueError(f"{path}: line {line_no}: missing 'pos'")
            negatives = _as_list(row.get("neg", row.get("negative")), path=path, line_no=line_no, key="neg")
            rows.extend((anchor, pos, negatives, f"{path}: line {line_no}") for pos in positives)
    elif path.suffix in (".tsv", ".csv"):
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ",")
            fields = reader.fieldnames or []
            query_key = next((k for k in ("query", "anchor") if k in fields), None)
            doc_key = next((k for k in ("document", "positive", "pos") if k in fields), None)
            if query_key is None or doc_key is None:
                raise ValueError(f"{path}: line 1: the header needs 'query' and 'document' columns, got {fields}")
            neg_keys = [k for k in fields if k.startswith("neg")]
            for line_no, row in enumerate(reader, start=2):
                if not (row.get(query_key) or "").strip() or not (row.get(doc_key) or "").strip():
                    raise ValueError(f"{path}: line {line_no}: empty {query_key!r} or {doc_key!r}")
                negatives = [row[k] for k in neg_keys if row.get(k)]
                rows.append((row[query_key], row[doc_key], negatives, f"{path}: line {line_no}"))
    else:
        raise ValueError(f"{path}: training data must be .jsonl, .tsv, .csv or a BEIR folder, got {path.suffix!r}")
    if not rows:
        raise ValueError(f"{path}: no training examples")
    if 0 < max_examples < len(rows):
        rows = random.Random(seed).sample(rows, max_examples)
    columns: dict[str, list[str]] = {"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows]}
    for i in range(num_negatives):
        for anchor, _, negatives, where in rows:
            if len(negatives) < num_negatives:
                raise ValueError(f"{where}: num_negatives={num_negatives} but the row has {len(negatives)} negatives")
        columns[f"negative_{i + 1}"] = [r[2][i] for r in rows]
    return Dataset.from_dict(columns)


def truncate_to_tokens(texts: list[str], tokenizer, max_tokens: int) -> list[str]:
    """Cut each text at the character end of its ``max_tokens``-th token (special tokens excluded)."""
    if max_tokens <= 0:
        return list(texts)
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False)
    out = []
    for text, offsets in zip(texts, encoded["offset_mapping"]):
        out.append(text if len(offsets) <= max_tokens else text[: offsets[max_tokens - 1][1]])
    return out
