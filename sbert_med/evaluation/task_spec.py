"""What a task name means: a local BEIR folder, a local STS TSV, or an MTEB task by name."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class TaskSpec:
    """One task of a suite.

    Args:
        name: A folder under the data dir (BEIR retrieval, or an STS TSV with ``sentence1 sentence2 score``), or an
            MTEB task / benchmark name.
        split: The qrels split of a BEIR folder.
        corpus_file: Another corpus file of a BEIR folder (e.g. ``corpus_mini.jsonl``).
        max_queries: Evaluate a seeded sample of this many queries (BEIR folders only; state it beside the numbers).
        max_corpus: Keep the judged documents of those queries plus random distractors up to this many documents.
        label: The task's name in results (default: ``name``).
    """

    name: str
    split: str = "test"
    corpus_file: str | None = None
    max_queries: int | None = None
    max_corpus: int | None = None
    label: str | None = None

    @property
    def key(self) -> str:
        return self.label or self.name

    @classmethod
    def parse(cls, text: str) -> TaskSpec:
        """``NAME[:SPLIT[:CORPUS_FILE]]``, e.g. ``medquad:test_mini:corpus_mini.jsonl`` or ``nfcorpus``."""
        if text.startswith("MTEB("):
            return cls(name=text)
        parts = text.split(":")
        if len(parts) > 3 or not all(parts):
            raise ValueError(f"a task is NAME[:SPLIT[:CORPUS_FILE]], got {text!r}")
        return cls(name=parts[0], split=parts[1] if len(parts) > 1 else "test",
                   corpus_file=parts[2] if len(parts) > 2 else None)

    def kind(self, data_dir: str | Path | None) -> Literal["beir", "sts", "mteb"]:
        """``"beir"`` or ``"sts"`` for a folder under ``data_dir``, else ``"mteb"``."""
        folder = self.folder(data_dir)
        if folder is None:
            return "mteb"
        if (folder / "queries.jsonl").exists() or (folder / "qrels").is_dir():
            return "beir"
        if self.sts_file(data_dir) is not None:
            return "sts"
        raise ValueError(
            f"{folder} is neither a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) nor holds an STS TSV "
            f"(columns sentence1, sentence2, score)"
        )

    def folder(self, data_dir: str | Path | None) -> Path | None:
        if data_dir is None:
            return None
        folder = Path(data_dir) / self.name
        return folder if folder.is_dir() else None

    def sts_file(self, data_dir: str | Path | None) -> Path | None:
        folder = self.folder(data_dir)
        if folder is None:
            return None
        candidates = [folder / f"{self.name}.tsv", *sorted(folder.glob("*.tsv"))]
        for path in candidates:
            if path.is_file():
                with open(path, encoding="utf-8", errors="replace") as handle:
                    header = next(csv.reader(handle, delimiter="\t"), [])
                if {"sentence1", "sentence2", "score"} <= set(header):
                    return path
        return None
