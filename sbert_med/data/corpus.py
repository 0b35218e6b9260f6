"""Read medical text for tokenizer analysis, tokenizer extension and masked language modelling."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path

from sbert_med.data.jsonl import iter_numbered_jsonl, iter_text_lines

logger = logging.getLogger(__name__)


def read_texts(path: str | Path, *, column: str | None = None, limit: int | None = None) -> list[str]:
    """Read texts from a corpus file.

    * ``.txt``: one text per non-empty line.
    * ``.jsonl``: one JSON object per line; ``column`` (default ``"text"``) is read, and a non-empty ``"title"`` is
      prepended (BEIR ``corpus.jsonl``, OpenStax ``sections.jsonl``/``paragraphs.jsonl``).
    * ``.tsv``: a header line; ``column`` (default ``"text"``) is read (e.g. ``column="term"`` for a glossary).

    Args:
        path: The corpus file.
        column: The field or column holding the text.
        limit: Read at most this many texts.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: On an unknown suffix, a line that is not UTF-8, a bad JSON line or a missing field/column
            (naming file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus file not found: {path}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit!r}")
    readers = {".txt": _read_txt, ".jsonl": _read_jsonl, ".tsv": _read_tsv}
    if path.suffix not in readers:
        raise ValueError(f"corpus file suffix must be one of {sorted(readers)}, got {path.suffix!r} ({path})")
    texts = []
    for text in readers[path.suffix](path, column):
        texts.append(text)
        if limit is not None and len(texts) >= limit:
            break
    logger.info("Read %d texts from %s", len(texts), path)
    return texts


def read_glossary_terms(path: str | Path, *, column: str = "term") -> list[str]:
    """The distinct terms of a glossary TSV (e.g. OpenStax ``glossary.tsv``), in file order."""
    return list(dict.fromkeys(term.strip() for term in read_texts(path, column=column) if term.strip()))


def _read_txt(path: Path, column: str | None) -> Iterator[str]:
    if column is not None:
        raise ValueError(f"column is only used for .jsonl and .tsv files, got column={column!r} for {path}")
    for _, line in iter_text_lines(path):
        if line.strip():
            yield line.strip()


def _read_jsonl(path: Path, column: str | None) -> Iterator[str]:
    column = column or "text"
    for line_number, row in iter_numbered_jsonl(path):
        if not isinstance(row.get(column), str):
            raise ValueError(f"{path}, line {line_number}: expected a JSON object with a string {column!r} field")
        title = row.get("title") if column == "text" else None
        yield f"{title}. {row[column]}" if isinstance(title, str) and title.strip() else row[column]


def _read_tsv(path: Path, column: str | None) -> Iterator[str]:
    column = column or "text"
    # QUOTE_NONE: a field never spans lines, so the reader's rows are the file's lines (non-UTF-8 bytes name one)
    reader = csv.reader((line for _, line in iter_text_lines(path)), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None or column not in header:
        raise ValueError(f"{path}, line 1: the header must name a {column!r} column, got {header!r}")
    index = header.index(column)
    for line_number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) <= index:
            raise ValueError(f"{path}, line {line_number}: expected {len(header)} columns, got {len(row)}")
        yield row[index]
