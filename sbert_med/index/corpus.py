"""Read a corpus to index from a JSONL file, a BEIR folder or a ``datasets.Dataset``."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sbert_med.data.jsonl import iter_numbered_jsonl

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

ID_FIELDS = ("_id", "id", "doc_id", "corpus_id")
TEXT_FIELDS = ("text", "document", "passage", "contents")


@dataclass
class IndexCorpus:
    """Documents to index, in a fixed order: ``ids[i]`` is the id of ``texts[i]``.

    ``texts`` is what the document route encodes (``title + " " + text`` when a title is present, like BEIR/MTEB).
    """

    ids: list[str]
    texts: list[str]
    source: str = ""
    checksum: str = field(default="")

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.texts):
            raise ValueError(f"ids and texts must have the same length, got {len(self.ids)} and {len(self.texts)}")
        seen: set[str] = set()
        for doc_id in self.ids:
            if doc_id in seen:
                raise ValueError(f"duplicate document id {doc_id!r} in corpus {self.source or '<in memory>'}")
            seen.add(doc_id)
        if not self.checksum:
            self.checksum = corpus_checksum(self.ids, self.texts)

    def __len__(self) -> int:
        return len(self.ids)


def corpus_checksum(ids: list[str], texts: list[str]) -> str:
    """SHA-256 of the ordered ``(id, text)`` pairs: two corpora with the same checksum index identically."""
    digest = hashlib.sha256()
    for doc_id, text in zip(ids, texts):
        digest.update(doc_id.encode("utf-8"))
        digest.update(b"\x1f")
        digest.update(text.encode("utf-8"))
        digest.update(b"\x1e")
    return "sha256:" + digest.hexdigest()


def _join_title(title: str | None, text: str) -> str:
    title = (title or "").strip()
    return f"{title} {text}".strip() if title else text


def _pick(row: dict, names: tuple[str, ...], what: str, where: str) -> str:
    for name in names:
        if name in row and row[name] is not None:
            return str(row[name])
    raise ValueError(f"{where}: no {what} field; expected one of {list(names)}, got keys {sorted(row)}")


def _read_jsonl(path: Path, *, with_title: bool) -> IndexCorpus:
    ids: list[str] = []
    texts: list[str] = []
    for line_number, row in iter_numbered_jsonl(path):
        where = f"{path}, line {line_number}"
        text = _pick(row, TEXT_FIELDS, "text", where)
        if not text.strip() and not (with_title and row.get("title")):
            raise ValueError(f"{where}: empty text for document {row.get('_id', row.get('id'))!r}")
        ids.append(_pick(row, ID_FIELDS, "id", where))
        texts.append(_join_title(row.get("title"), text) if with_title else text)
    if not ids:
        raise ValueError(f"{path}: the corpus is empty")
    return IndexCorpus(ids=ids, texts=texts, source=str(path))


def _from_dataset(dataset: Dataset, *, with_title: bool) -> IndexCorpus:
    columns = dataset.column_names
    id_column = next((name for name in ID_FIELDS if name in columns), None)
    text_column = next((name for name in TEXT_FIELDS if name in columns), None)
    if id_column is None or text_column is None:
        raise ValueError(
            f"the dataset needs an id column (one of {list(ID_FIELDS)}) and a text column "
            f"(one of {list(TEXT_FIELDS)}), got columns {columns}"
        )
    ids = [str(value) for value in dataset[id_column]]
    texts = [str(value) for value in dataset[text_column]]
    if with_title and "title" in columns:
        texts = [_join_title(title, text) for title, text in zip(dataset["title"], texts)]
    return IndexCorpus(ids=ids, texts=texts, source=f"datasets.Dataset({len(ids)} rows)")


def load_corpus(source: str | Path | Dataset | IndexCorpus, *, with_title: bool = True) -> IndexCorpus:
    """Load the documents to index.

    Args:
        source: a JSONL file (one object per line with ``_id``/``id`` and ``text``, optional ``title``), a BEIR folder
            (its ``corpus.jsonl`` is read), a ``datasets.Dataset`` with the same columns, or an :class:`IndexCorpus`.
        with_title: prepend the title to the text (``title + " " + text``, as BEIR and MTEB do).

    Returns:
        An :class:`IndexCorpus` with ids, texts and a checksum of both.
    """
    if isinstance(source, IndexCorpus):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            path = path / "corpus.jsonl"
            if not path.is_file():
                raise FileNotFoundError(f"{source} is a folder without corpus.jsonl (expected a BEIR folder)")
        elif not path.is_file():
            raise FileNotFoundError(f"corpus not found: {source}")
        return _read_jsonl(path, with_title=with_title)
    from datasets import Dataset

    if isinstance(source, Dataset):
        return _from_dataset(source, with_title=with_title)
    raise ValueError(f"source must be a path, a datasets.Dataset or an IndexCorpus, got {type(source).__name__}")
