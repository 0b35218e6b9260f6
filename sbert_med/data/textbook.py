"""Textbooks (plain text, Markdown, PDF or JSONL blocks) to clean, deduplicated sentences with chapter/section ids."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from datasets import Dataset
from tqdm.auto import tqdm

from sbert_med.data.jsonl import read_text
from sbert_med.data.near_duplicates import NearDuplicateIndex
from sbert_med.data.report import StepReport
from sbert_med.data.sentences import fragment_reason, split_sentences
from sbert_med.data.text_normalize import normalize_for_match

logger = logging.getLogger(__name__)

_CHAPTER_LINE = re.compile(r"^\s*(?:chapter|CHAPTER|Chapter)\s+(\d+|[IVXLC]+)\b[.:]?\s*(.*)$")
_SECTION_LINE = re.compile(r"^\s*(\d+\.\d+(?:\.\d+)?)\s+([A-Z].{0,120})$")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MARKDOWN_NOISE = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links -> their text
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"(\*\*|__|\*|_)(\S(?:.*?\S)?)\1"), r"\2"),  # emphasis
]
TEXTBOOK_SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".jsonl")


def load_textbook(path: str | os.PathLike, *, book: str | None = None) -> Dataset:
    """Read a textbook file into text blocks with ``book, chapter, section, text`` columns.

    * ``.txt``: paragraphs are separated by blank lines; lines like ``Chapter 19 The Heart`` start a chapter and
      lines like ``19.2 Cardiac Muscle`` a section.
    * ``.md``: ``#`` headings start chapters, deeper headings sections; images, links and emphasis are unwrapped;
      code blocks and tables are skipped.
    * ``.pdf``: text extracted with pypdf page by page, hyphenation at line ends undone, then as plain text.
    * ``.jsonl``: one block per row with ``text`` and optional ``chapter`` and ``section`` fields (e.g. OpenStax's
      ``paragraphs.jsonl``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such textbook file: {path}")
    suffix = path.suffix.lower()
    if suffix not in TEXTBOOK_SUFFIXES:
        raise ValueError(f"textbook file type must be one of {TEXTBOOK_SUFFIXES}, got {suffix!r} ({path})")
    book = book or path.stem
    if suffix == ".jsonl":
        from sbert_med.data.jsonl import iter_jsonl

        blocks = []
        for line_number, row in enumerate(iter_jsonl(path), start=1):
            if not isinstance(row.get("text"), str):
                raise ValueError(f"{path}: row {line_number} needs a string 'text' field")
            blocks.append({"book": book, "chapter": str(row.get("chapter", "")),
                           "section": str(row.get("section", "")), "text": row["text"]})
    elif suffix == ".pdf":
        blocks = _plain_text_blocks(_pdf_text(path), book)
    elif suffix in (".md", ".markdown"):
        blocks = _markdown_blocks(read_text(path), book)
    else:
        blocks = _plain_text_blocks(read_text(path), book)
    if not blocks:
        raise ValueError(f"{path}: no text found")
    return Dataset.from_list(blocks)


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as exc:
        raise ValueError(f"{path}: not a readable PDF ({exc})") from None
    text = "\n\n".join(pages)
    return re.sub(r"(\w)-\n(\w)", r"\1\2", text)  # undo hyphenation at line ends


def _plain_text_blocks(text: str, book: str) -> list[dict]:
    blocks, chapter, section, lines = [], "", "", []

    def flush() -> None:
        if lines:
            blocks.append({"book": book, "chapter": chapter, "section": section, "text": " ".join(lines)})
            lines.clear()

    for line in text.splitlines():
        chapter_match, section_match = _CHAPTER_LINE.match(line), _SECTION_LINE.match(line.strip())
        if chapter_match:
            flush()
            chapter, section = chapter_match.group(1), ""
        elif section_match and not line.strip().endswith("."):
            flush()
            section = section_match.group(1)
        elif not line.strip():
            flush()
        else:
            lines.append(line.strip())
    flush()
    return blocks


def _markdown_blocks(text: str, book: str) -> list[dict]:
    blocks, chapter, section, lines, in_code = [], "", "", [], False
    chapters = sections = 0

    def flush() -> None:
        if lines:
            blocks.append({"book": book, "chapter": chapter, "section": section, "text": " ".join(lines)})
            lines.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            flush()
            in_code = not in_code
            continue
        heading = _MD_HEADING.match(line)
        if in_code or line.startswith("|") or line.startswith(">") and not line[1:].strip():
            continue
        if heading:
            flush()
            if len(heading.group(1)) == 1:
                chapters, sections = chapters + 1, 0
                chapter, section = str(chapters), ""
            else:
                sections += 1
                section = f"{chapter or 0}.{sections}"
            continue
        if not line:
            flush()
            continue
        line = re.sub(r"^(?:[-*+]|\d+\.)\s+", "", line.lstrip("> "))
        for pattern, replacement in _MARKDOWN_NOISE:
            line = pattern.sub(replacement, line)
        lines.append(line)
    flush()
    return blocks


def ingest_textbook(
    dataset: Dataset,
    *,
    text_column: str = "text",
    chapter_column: str | None = "chapter",
    section_column: str | None = "section",
    book_column: str | None = "book",
    min_words: int = 5,
    max_words: int = 80,
    near_duplicate_threshold: float | None = 0.8,
    show_progress_bar: bool = True,
    return_report: bool = False,
) -> Dataset | tuple[Dataset, StepReport]:
    """Text blocks -> clean sentences: split, drop fragments, drop exact and near duplicates, keep the place.

    Args:
        dataset: text blocks, e.g. from :func:`load_textbook`.
        text_column, chapter_column, section_column, book_column: the block's text and where it is (the last three
            are optional; missing columns give empty ids).
        min_words, max_words: sentences outside this length are fragments (lists, captions, tables).
        near_duplicate_threshold: drop a sentence whose word-trigram Jaccard similarity with an earlier kept one is
            at least this (``None``: exact duplicates only).
        return_report: also return a :class:`StepReport` with the drops per reason.

    Returns:
        ``sentence_id`` (``book/chapter/section/n``), ``book``, ``chapter``, ``section``, ``text``.
    """
    if text_column not in dataset.column_names:
        raise ValueError(f"text_column={text_column!r} is not a column of the dataset; it has {dataset.column_names}")
    if min_words < 1 or max_words < min_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got min_words={min_words}, max_words={max_words}")

    def column(name: str | None) -> list[str]:
        if name and name in dataset.column_names:
            return [str(value) if value is not None else "" for value in dataset[name]]
        return [""] * len(dataset)

    books, chapters, sections = column(book_column), column(chapter_column), column(section_column)
    seen: set[str] = set()
    near = NearDuplicateIndex(threshold=near_duplicate_threshold) if near_duplicate_threshold else None
    counters: dict[tuple[str, str, str], int] = {}
    report = StepReport("ingest_textbook", rows_in=len(dataset))
    rows = []
    blocks = zip(dataset[text_column], books, chapters, sections)
    for text, book, chapter, section in tqdm(blocks, total=len(dataset), desc="Sentences",
                                             disable=not show_progress_bar):
        for sentence in split_sentences(text or ""):
            report.count("sentences_split")
            reason = fragment_reason(sentence, min_words=min_words, max_words=max_words)
            if reason:
                report.drop(reason)
                continue
            key = normalize_for_match(sentence)
            if key in seen:
                report.drop("exact_duplicate")
                continue
            if near is not None and near.query(sentence):
                report.drop("near_duplicate")
                continue
            seen.add(key)
            if near is not None:
                near.add(len(rows), sentence)
            place = (book, chapter, section)
            counters[place] = counters.get(place, 0) + 1
            rows.append({"sentence_id": "/".join([*place, str(counters[place])]), "book": book, "chapter": chapter,
                         "section": section, "text": sentence})
    report.rows_out = len(rows)
    report.log(logger)
    output = Dataset.from_list(rows) if rows else Dataset.from_dict(
        {name: [] for name in ("sentence_id", "book", "chapter", "section", "text")})
    return (output, report) if return_report else output
