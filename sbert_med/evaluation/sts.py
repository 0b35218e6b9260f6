"""Semantic textual similarity (Spearman of cosine similarity vs gold scores) from a TSV such as BIOSSES."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class STSData:
    """Sentence pairs with gold similarity scores."""

    name: str
    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]

    def __len__(self) -> int:
        return len(self.scores)


def load_sts_tsv(
    path: str | Path, *, sentence1_column: str = "sentence1", sentence2_column: str = "sentence2",
    score_column: str = "score",
) -> STSData:
    """Read a tab-separated STS file with a header naming the two sentence columns and the score column.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: A missing column, a non-numeric score or a non-UTF-8 byte, naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"STS file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line_no = raw[: exc.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line_no}: not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    needed = (sentence1_column, sentence2_column, score_column)
    if header is None or any(column not in header for column in needed):
        raise ValueError(f"{path}, line 1: the header must name the columns {list(needed)}, got {header}")
    i1, i2, i_score = (header.index(column) for column in needed)
    data = STSData(name=path.parent.name if path.stem == path.parent.name else path.stem,
                   sentences1=[], sentences2=[], scores=[])
    for line_no, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(i1, i2, i_score):
            raise ValueError(f"{path}, line {line_no}: expected {len(header)} tab-separated columns, got {len(row)}")
        try:
            score = float(row[i_score])
        except ValueError:
            raise ValueError(
                f"{path}, line {line_no}, column {i_score + 1}: score must be a number, got {row[i_score]!r}"
            ) from None
        data.sentences1.append(row[i1])
        data.sentences2.append(row[i2])
        data.scores.append(score)
    if len(data) < 2:
        raise ValueError(f"{path}: an STS set needs at least 2 pairs, got {len(data)}")
    return data


def sts_prompt(model: Any, task_name: str | None = None) -> str | None:
    """The prompt MTEB would use for an STS task: the model's ``prompts[task_name]`` or ``prompts["STS"]``."""
    prompts = getattr(model, "prompts", None) or {}
    for key in (task_name, "STS"):
        if key and prompts.get(key):
            return prompts[key]
    return None


def sts_evaluator(data: STSData, *, name: str | None = None, prompt: str | None = None, **kwargs: Any):
    """An :class:`~sbert_med.evaluation.sts_evaluator.STSEvaluator` over ``data`` (usable as a trainer's
    ``evaluator=``); ``prompt`` defaults to none, pass ``sts_prompt(model)`` to encode like MTEB."""
    from sbert_med.evaluation.sts_evaluator import STSEvaluator

    return STSEvaluator(data.sentences1, data.sentences2, data.scores, prompt=prompt,
                        name=data.name if name is None else name, **kwargs)


def evaluate_sts(
    model: Any, data: STSData, *, batch_size: int = 32, truncate_dim: int | None = None,
    show_progress_bar: bool = True,
) -> dict[str, float]:
    """Spearman and Pearson correlation between the cosine similarity of each pair's embeddings and the gold score
    (a thin function over :class:`~sbert_med.evaluation.sts_evaluator.STSEvaluator`).

    Both sentences are encoded with ``model.encode`` and the prompt MTEB uses for STS (:func:`sts_prompt`), as MTEB
    does for BIOSSES; a Router model uses its default route. A correlation that is undefined (e.g. every pair gets
    the same similarity) is ``nan``.
    """
    evaluator = sts_evaluator(data, prompt=sts_prompt(model), batch_size=batch_size, truncate_dim=truncate_dim,
                              show_progress_bar=show_progress_bar, write_csv=False)
    metrics = evaluator(model)
    prefix = f"{evaluator.name}_" if evaluator.name else ""
    return {"spearman": float(metrics[f"{prefix}spearman_cosine"]),
            "pearson": float(metrics[f"{prefix}pearson_cosine"])}
