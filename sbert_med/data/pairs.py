"""Read training pairs and triplets (JSONL, TSV/CSV, BEIR folders); bad rows are reported with file and line."""

from __future__ import annotations

import csv
import io
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset

from sbert_med.data.beir import load_beir
from sbert_med.data.jsonl import iter_numbered_jsonl, read_text, string_list

logger = logging.getLogger(__name__)

__all__ = ["load_training_pairs", "truncate_to_tokens"]

csv.field_size_limit(2**31 - 1)


@dataclass
class TrainingExample:
    """One training example before it becomes a row: the texts and where it came from (for error messages)."""

    anchor: str
    positive: str
    negatives: list[str]
    where: str


# ---------------------------------------------------------------------------------------------------- reading
def _read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header of a TSV/CSV file and its ``(line number, row)`` pairs; a byte that is not UTF-8 is an error
    naming the file and line."""
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""), delimiter="\t" if path.suffix == ".tsv" else ",")
    return list(reader.fieldnames or []), enumerate(reader, start=2)


def _read_beir_examples(path: Path, split: str) -> list[TrainingExample]:
    """Pairs (query, relevant document) of a BEIR folder's ``qrels/<split>.tsv``."""
    data = load_beir(path, split)
    return [TrainingExample(data.queries[qid], data.corpus[cid], [], f"{path} qid {qid}")
            for qid in sorted(data.queries) for cid in sorted(data.relevant_docs[qid])]


# --------------------------------------------------------------------------------------------- column mapping
def _as_list(value, *, path: Path, line_no: int, key: str) -> list[str]:
    return [] if value is None else string_list(value, where=f"{path}: line {line_no}", key=key)


def _jsonl_examples(path: Path) -> list[TrainingExample]:
    """MedEmbed / FlagEmbedding rows ``{"query", "pos", "neg"}`` (or ``anchor / positive / negative``), one
    example per positive."""
    examples = []
    for line_no, row in iter_numbered_jsonl(path):
        anchor = row.get("query", row.get("anchor"))
        if not isinstance(anchor, str) or not anchor.strip():
            raise ValueError(f"{path}: line {line_no}: missing or empty 'query'")
        positives = _as_list(row.get("pos", row.get("positive")), path=path, line_no=line_no, key="pos")
        if not positives:
            raise ValueError(f"{path}: line {line_no}: missing 'pos'")
        negatives = _as_list(row.get("neg", row.get("negative")), path=path, line_no=line_no, key="neg")
        examples.extend(TrainingExample(anchor, pos, negatives, f"{path}: line {line_no}") for pos in positives)
    return examples


def _table_examples(path: Path) -> list[TrainingExample]:
    """TSV/CSV rows with ``query`` (or ``anchor``), ``document`` (or ``positive``/``pos``) and ``negative*``."""
    fields, rows = _read_table(path)
    query_key = next((k for k in ("query", "anchor") if k in fields), None)
    doc_key = next((k for k in ("document", "positive", "pos") if k in fields), None)
    if query_key is None or doc_key is None:
        raise ValueError(f"{path}: line 1: the header needs 'query' and 'document' columns, got {fields}")
    neg_keys = [k for k in fields if k.startswith("neg")]
    examples = []
    for line_no, row in rows:
        if not (row.get(query_key) or "").strip() or not (row.get(doc_key) or "").strip():
            raise ValueError(f"{path}: line {line_no}: empty {query_key!r} or {doc_key!r}")
        negatives = [row[k] for k in neg_keys if row.get(k)]
        examples.append(TrainingExample(row[query_key], row[doc_key], negatives, f"{path}: line {line_no}"))
    return examples


# -------------------------------------------------------------------------------------------------- negatives
def _to_dataset(examples: list[TrainingExample], num_negatives: int) -> Dataset:
    """Columns ``anchor``, ``positive`` and ``negative_1..num_negatives``; an example with fewer negatives is an
    error naming where it came from."""
    columns: dict[str, list[str]] = {"anchor": [e.anchor for e in examples],
                                     "positive": [e.positive for e in examples]}
    if num_negatives > 0:
        for example in examples:
            if len(example.negatives) < num_negatives:
                raise ValueError(f"{example.where}: num_negatives={num_negatives} but the row has "
                                 f"{len(example.negatives)} negatives")
    for i in range(num_negatives):
        columns[f"negative_{i + 1}"] = [e.negatives[i] for e in examples]
    return Dataset.from_dict(columns)


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
    if path.is_dir():
        examples = _read_beir_examples(path, split)
    elif path.suffix == ".jsonl":
        examples = _jsonl_examples(path)
    elif path.suffix in (".tsv", ".csv"):
        examples = _table_examples(path)
    else:
        raise ValueError(f"{path}: training data must be .jsonl, .tsv, .csv or a BEIR folder, got {path.suffix!r}")
    if not examples:
        raise ValueError(f"{path}: no training examples")
    if 0 < max_examples < len(examples):
        examples = random.Random(seed).sample(examples, max_examples)
    return _to_dataset(examples, num_negatives)


def truncate_to_tokens(texts: list[str], tokenizer, max_tokens: int) -> list[str]:
    """Cut each text at the character end of its ``max_tokens``-th token (special tokens excluded)."""
    if max_tokens <= 0:
        return list(texts)
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False)
    out = []
    for text, offsets in zip(texts, encoded["offset_mapping"]):
        out.append(text if len(offsets) <= max_tokens else text[: offsets[max_tokens - 1][1]])
    return out
