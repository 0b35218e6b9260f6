"""JSON Lines input/output: strict reading with file:line errors, and an append-only, flushed, resumable writer."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from datasets import Dataset

logger = logging.getLogger(__name__)


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the JSON objects of a JSONL file; a bad line raises ``ValueError`` naming the file, line and column."""
    for _, record in iter_numbered_jsonl(path):
        yield record


def iter_text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, line)`` without its line ending; a byte that is not UTF-8 raises ``ValueError``
    naming the file, line and column (a leading byte-order mark is dropped)."""
    path = Path(path)
    with open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(
                    f"{path}, line {line_number}, column {exc.start + 1}: not valid UTF-8 "
                    f"(byte 0x{raw[exc.start]:02x}); re-encode the file as UTF-8"
                ) from None
            if line_number == 1:
                line = line.removeprefix("\ufeff")
            yield line_number, line.rstrip("\r\n")


def read_text(path: str | os.PathLike) -> str:
    """The text of a UTF-8 file (newlines as with ``Path.read_text``); a byte that is not UTF-8 raises ``ValueError``
    naming the file, line and column."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValueError(f"{path}, line {line}, column {column}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                         f"re-encode the file as UTF-8") from None
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def iter_numbered_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSONL file (1-based line numbers, for errors).

    Raises:
        FileNotFoundError: No such file.
        ValueError: A line is not UTF-8, not JSON or not a JSON object; the message names the file, line and column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such JSONL file: {path}")
    for line_number, line in iter_text_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {line_number}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {line_number}: expected a JSON object, got {type(record).__name__}")
        yield line_number, record


def string_list(value, *, where: str, key: str) -> list[str]:
    """A JSON field that holds one text or a list of texts (``"pos": "..."`` or ``"pos": ["...", "..."]``), as a
    list; anything else raises ``ValueError`` naming ``where`` (file and line) and ``key``."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ValueError(f"{where}: {key!r} must be a string or a list of strings, got {value!r}")


def read_jsonl(
    path: str | os.PathLike, *, required_columns: Iterable[str] = (), text_columns: Iterable[str] = ()
) -> Dataset:
    """Load a JSONL file as a :class:`~datasets.Dataset`, checking that every row has ``required_columns`` and a
    non-empty string in each of ``text_columns``.

    The columns are those of *all* rows, in order of first appearance: a key that first appears after row 1 is
    kept, and rows without it get ``None``. A column whose values mix JSON types (e.g. a number in a text column)
    is an error naming the file, line and column.
    """
    required = list(required_columns)
    text_columns = list(text_columns)
    rows, line_numbers = [], []
    for line_number, record in iter_numbered_jsonl(path):
        missing = [name for name in required if name not in record]
        if missing:
            raise ValueError(f"{path}: row {len(rows) + 1} lacks column(s) {missing}; it has {sorted(record)}")
        for name in text_columns:
            value = record.get(name)
            if not isinstance(value, str) or not value.strip():
                got = "no such key" if name not in record else f"{json.dumps(value, ensure_ascii=False):.60}"
                raise ValueError(f"{path}, line {line_number}, column {name!r}: expected a non-empty text, got {got}")
        rows.append(record)
        line_numbers.append(line_number)
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows_to_dataset(rows, source=path, line_numbers=line_numbers)


_JSON_KINDS = {bool: "boolean", int: "number", float: "number", str: "string", list: "list", dict: "object"}


def _kind(value) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _check_column_types(rows: list[dict], columns: list[str], source, line_numbers: list[int]) -> None:
    """Raise ``ValueError`` at the first value whose JSON type differs from its column's first non-null value."""
    first: dict[str, tuple[str, int]] = {}
    for row, line_number in zip(rows, line_numbers):
        for column in columns:
            value = row.get(column)
            if value is None:
                continue
            kind = _kind(value)
            seen = first.setdefault(column, (kind, line_number))
            if seen[0] != kind:
                raise ValueError(
                    f"{source}, line {line_number}, column {column!r}: expected a {seen[0]} (as on line {seen[1]}), "
                    f"got a {kind}: {value!r:.60}"
                )


def rows_to_dataset(rows: list[dict], *, source: str | os.PathLike = "rows",
                    line_numbers: list[int] | None = None) -> Dataset:
    """A :class:`~datasets.Dataset` of JSON-like rows whose schema comes from every row (a key missing from a row
    is ``None`` there); values that Arrow cannot put in one column raise ``ValueError`` naming ``source``, the line
    (``line_numbers``, default the row number) and the column."""
    line_numbers = line_numbers or list(range(1, len(rows) + 1))
    columns = list(dict.fromkeys(key for row in rows for key in row))
    _check_column_types(rows, columns, source, line_numbers)
    import pyarrow as pa

    try:
        return Dataset.from_dict({column: [row.get(column) for row in rows] for column in columns})
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        # nested values of mixed types inside lists/objects: find the first row that fails on its own column
        for column in columns:
            try:
                pa.array([row.get(column) for row in rows])
            except (pa.ArrowInvalid, pa.ArrowTypeError) as column_exc:
                line = _first_bad_line(rows, column, line_numbers)
                raise ValueError(f"{source}, line {line}, column {column!r}: values of mixed types "
                                 f"({column_exc})") from None
        raise ValueError(f"{source}: cannot build a table from the rows ({exc})") from None


def _first_bad_line(rows: list[dict], column: str, line_numbers: list[int]) -> int:
    import pyarrow as pa

    low, high = 1, len(rows)  # smallest prefix that fails
    while low < high:
        middle = (low + high) // 2
        try:
            pa.array([row.get(column) for row in rows[:middle]])
            low = middle + 1
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            high = middle
    return line_numbers[low - 1]


def write_jsonl(dataset: Dataset | Iterable[dict], path: str | os.PathLike) -> Path:
    """Write rows to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in dataset:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


class ResumableJsonlWriter:
    """Append-only JSONL journal of finished work items, keyed by ``record[key_field]``.

    Each record is written as one line and flushed (and fsynced) at once, so a job killed at any moment keeps every
    finished item. Reopening the file loads the finished keys; a last line cut short by the kill is dropped (and
    trimmed from the file) and a corrupt line elsewhere raises an error naming the file and line. Thread-safe.

    Args:
        path: the journal file (created with its parent folders).
        key_field: the field of each record that identifies its work item.
        is_finished: which stored records count as finished work (default: all). Unfinished ones, e.g. transport
            errors, are redone by a rerun.
    """

    def __init__(self, path: str | os.PathLike, *, key_field: str = "key", is_finished=None) -> None:
        self.path = Path(path)
        self.key_field = key_field
        self.is_finished = is_finished or (lambda record: True)
        self.records: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        self._handle = open(self.path, "a", encoding="utf-8")

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good_end = 0
        lines = data.split(b"\n")
        for line_number, raw in enumerate(lines, start=1):
            is_last = line_number == len(lines)
            if is_last and raw.strip():
                # no trailing newline: the write was cut off by a crash
                logger.warning("%s:%d: dropping an incomplete last line left by an interrupted run", self.path,
                               line_number)
                break
            if raw.strip():
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise ValueError(
                        f"{self.path}:{line_number}:{exc.colno}: corrupt journal line ({exc.msg})"
                    ) from None
                if not isinstance(record, dict) or self.key_field not in record:
                    raise ValueError(f"{self.path}:{line_number}: journal record lacks {self.key_field!r}")
                if self.is_finished(record):
                    self.records[record[self.key_field]] = record
                else:
                    self.records.pop(record[self.key_field], None)
            good_end += len(raw) + (0 if is_last else 1)
        if good_end < len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def write(self, record: dict) -> None:
        """Append ``record`` and flush it to disk before returning."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self._handle.write(line)
            self._handle.flush()
            os.fsync(self._handle.fileno())
            if self.is_finished(record):
                self.records[record[self.key_field]] = record

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ResumableJsonlWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
