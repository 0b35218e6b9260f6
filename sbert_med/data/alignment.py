"""Read an alignment corpus: plain texts (no labels) from JSONL, text, TSV/CSV files and BEIR folders, many at once.

MAR's Stage I aligns the query tower to the document tower on self-pairs ``(text, text)``; its texts need no
relevance labels, so any medical text will do (the paper aligns on 2.8M queries and 5.6M documents of its own).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

from sbert_med.data.jsonl import iter_numbered_jsonl, iter_text_lines, read_text, string_list

logger = logging.getLogger(__name__)

__all__ = ["load_alignment_texts"]

csv.field_size_limit(2**31 - 1)

_PAIR_KEYS = ("query", "anchor", "pos", "positive", "document")


def _jsonl_texts(path: Path) -> Iterator[str]:
    """``{"text": ...}`` rows (a non-empty ``title`` joined in front by a space, as in a BEIR corpus), or training
    rows ``{"query", "pos", "neg"}`` (every text of the row)."""
    for line, row in iter_numbered_jsonl(path):
        if "text" in row:
            if not isinstance(row["text"], str):
                raise ValueError(f"{path}, line {line}: 'text' must be a string, got {row['text']!r}")
            title = row.get("title")
            yield f"{title} {row['text']}" if isinstance(title, str) and title.strip() else row["text"]
        elif any(key in row for key in _PAIR_KEYS):
            for key in (*_PAIR_KEYS, "neg", "negative"):
                if row.get(key) is not None:
                    yield from string_list(row[key], where=f"{path}, line {line}", key=key)
        else:
            raise ValueError(
                f"{path}, line {line}: expected a 'text' field (or 'query' / 'pos' of a training row), got keys "
                f"{sorted(row)}"
            )


def _table_texts(path: Path) -> Iterator[str]:
    """A header with a ``text`` column, or the ``query`` / ``document`` columns of training pairs (both read)."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter="\t" if path.suffix == ".tsv" else ",")
    header = next(reader, None) or []
    columns = [name for name in ("text",) if name in header] or [
        name for name in ("query", "anchor", "document", "positive", "pos") if name in header
    ]
    if not columns:
        raise ValueError(f"{path}, line 1: the header needs a 'text' column (or 'query' / 'document'), got {header}")
    indices = [header.index(name) for name in columns]
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) <= max(indices):
            raise ValueError(f"{path}, line {line}: expected {len(header)} columns, got {len(row)}")
        yield from (row[i] for i in indices)


def _txt_texts(path: Path) -> Iterator[str]:
    for _, line in iter_text_lines(path):
        yield line


def _beir_texts(path: Path) -> Iterator[str]:
    """Every document of ``corpus.jsonl`` (title and text joined by a space) and every query of ``queries.jsonl``."""
    corpus, queries = path / "corpus.jsonl", path / "queries.jsonl"
    if not corpus.is_file() and not queries.is_file():
        raise ValueError(f"{path}: a folder must be a BEIR folder with corpus.jsonl and/or queries.jsonl")
    for file in (corpus, queries):
        if file.is_file():
            yield from _jsonl_texts(file)


_READERS = {".jsonl": _jsonl_texts, ".tsv": _table_texts, ".csv": _table_texts, ".txt": _txt_texts}


def load_alignment_texts(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    max_texts: int = 0,
    seed: int = 42,
) -> list[str]:
    """The distinct, non-empty texts of one or more alignment sources, in a seeded sample when asked.

    Accepted sources (any number, mixed):

    * ``.jsonl``: a ``text`` field per line (a non-empty ``title`` is joined in front, as MTEB joins a BEIR corpus),
      or training rows ``{"query", "pos", "neg"}`` whose texts are all taken;
    * ``.txt``: one text per line;
    * ``.tsv`` / ``.csv``: a header with a ``text`` column, or training pairs' ``query`` and ``document`` columns;
    * a BEIR folder: its ``corpus.jsonl`` documents and ``queries.jsonl`` queries (every query, judged or not).

    Args:
        paths: A file or folder, or a list of them.
        max_texts: If > 0, a seeded random sample of at most this many distinct texts.
        seed: Seed of the sample.

    Raises:
        FileNotFoundError: A source does not exist.
        ValueError: An unknown file type, a line that is not UTF-8 / JSON / a row of the expected shape (naming the
            file and line), or no text at all.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ValueError("no alignment sources given")
    if max_texts < 0:
        raise ValueError(f"max_texts must be >= 0, got {max_texts!r}")
    texts: dict[str, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"alignment data not found: {path}")
        if path.is_dir():
            reader = _beir_texts
        elif path.suffix in _READERS:
            reader = _READERS[path.suffix]
        else:
            raise ValueError(
                f"{path}: alignment data must be {', '.join(sorted(_READERS))} or a BEIR folder, got {path.suffix!r}"
            )
        before = len(texts)
        for text in reader(path):
            text = text.strip()
            if text:
                texts.setdefault(text)
        logger.info("alignment data: %d new distinct texts from %s", len(texts) - before, path)
    if not texts:
        raise ValueError(f"no alignment text in {', '.join(str(p) for p in paths)}")
    out = list(texts)
    if 0 < max_texts < len(out):
        out = random.Random(seed).sample(out, max_texts)
    return out
