"""Drop training rows that overlap evaluation queries or documents: by id, exact or near-duplicate text, shared long
n-grams, or (with a model) embeddings."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from datasets import Dataset
from tqdm.auto import tqdm

from sbert_med.data.beir import BeirData
from sbert_med.data.near_duplicates import NearDuplicateIndex
from sbert_med.data.report import StepReport
from sbert_med.data.text_normalize import normalize_for_match

logger = logging.getLogger(__name__)


#: training columns that may hold ids of evaluation queries or documents (BEIR's and MedQuAD's names)
DEFAULT_ID_COLUMNS = ("_id", "id", "query_id", "query-id", "corpus_id", "corpus-id", "doc_id", "source_id")


@dataclass
class EvalSet:
    """What training data must not overlap: evaluation texts (queries and documents) and their ids."""

    texts: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)

    def add(self, other: EvalSet) -> EvalSet:
        self.texts.extend(other.texts)
        self.ids.update(other.ids)
        return self


def beir_eval_set(data: BeirData, *, corpus: Literal["judged", "all", "none"] = "judged") -> EvalSet:
    """The queries of a BEIR split and its documents, as texts and ids.

    Args:
        data: A split from :func:`~sbert_med.data.load_beir`.
        corpus: Which documents: ``"judged"`` (default, ours: the documents judged for the split's queries; BEIR
            splits share one corpus, so a training pair whose document is only a distractor of the evaluation leaks
            no label), ``"all"`` (every corpus document: for an evaluation corpus that is a separate dataset) or
            ``"none"``.
    """
    valid = ("judged", "all", "none")
    if corpus not in valid:
        raise ValueError(f"corpus must be one of {valid}, got {corpus!r}")
    texts, ids = list(data.queries.values()), set(data.queries)
    if corpus == "all":
        doc_ids = list(data.corpus)
    elif corpus == "judged":
        doc_ids = sorted({cid for docs in data.qrels.values() for cid in docs})
    else:
        doc_ids = []
    for cid in doc_ids:
        texts.append(data.corpus[cid])
        if data.texts.get(cid) and data.texts[cid] != data.corpus[cid]:
            texts.append(data.texts[cid])  # the text without its title, as training data may hold it
    ids.update(doc_ids)
    return EvalSet(texts=texts, ids=ids)


def decontaminate(
    dataset: Dataset,
    *,
    eval_texts: Iterable[str] | EvalSet = (),
    eval_ids: Iterable[str] = (),
    columns: str | list[str] | None = None,
    id_columns: str | list[str] | None = None,
    near_duplicate_threshold: float | None = 0.8,
    ngram_overlap: int | None = 13,
    model=None,
    embedding_threshold: float = 0.95,
    batch_size: int = 64,
    show_progress_bar: bool = True,
    return_report: bool = False,
) -> Dataset | tuple[Dataset, StepReport]:
    """Remove every row that overlaps an evaluation set: its queries and its documents, by id and by text.

    A row overlaps when, checked in this order:

    * ``eval_id``: a value of an ``id_columns`` column is one of ``eval_ids`` (a query or document id of the
      evaluation);
    * ``exact``: a text equals an eval text after normalisation (case, spaces, punctuation);
    * ``near_duplicate``: its word-trigram Jaccard similarity with an eval text is >= ``near_duplicate_threshold``;
    * ``ngram_overlap``: it shares a run of ``ngram_overlap`` words with an eval text (the GPT-3 style 13-gram check,
      which catches a training passage that contains an eval passage or the reverse);
    * ``embedding``: with a ``model``, its cosine similarity with an eval text is >= ``embedding_threshold``
      (paraphrased queries).

    Args:
        dataset: training rows.
        eval_texts: the evaluation queries and documents, or an :class:`EvalSet` of texts and ids (e.g.
            :func:`beir_eval_set` of a BEIR split).
        eval_ids: further evaluation ids (query and document ids).
        columns: text columns to check, string or list-of-strings columns (default: every string column).
        id_columns: columns holding ids (default when there are eval ids: those of :data:`DEFAULT_ID_COLUMNS` the
            dataset has).
        return_report: also return a :class:`StepReport` with the rows dropped per reason (and a few examples).
    """
    eval_set = eval_texts if isinstance(eval_texts, EvalSet) else EvalSet(texts=list(eval_texts))
    ids = {str(value) for value in [*eval_set.ids, *eval_ids]}
    texts = [text for text in eval_set.texts if isinstance(text, str) and text.strip()]
    if not texts and not ids:
        raise ValueError("eval_texts is empty")
    if ngram_overlap is not None and ngram_overlap < 0:
        raise ValueError(f"ngram_overlap must be >= 1 (or 0/None to disable), got {ngram_overlap!r}")
    if not -1.0 <= embedding_threshold <= 1.0:
        raise ValueError(f"embedding_threshold must be a cosine similarity in [-1, 1], got {embedding_threshold!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    columns = _text_columns(dataset, columns)
    id_columns = _id_columns(dataset, id_columns, ids)
    report = StepReport("decontaminate", rows_in=len(dataset))
    report.count("eval_texts", len(texts))
    report.count("eval_ids", len(ids))
    if id_columns:
        report.reason("id_columns", ", ".join(id_columns))

    checks = _TextChecks(texts, near_duplicate_threshold, ngram_overlap)
    reasons: list[str | None] = []
    for row in tqdm(dataset.select_columns(list(dict.fromkeys(columns + id_columns))), total=len(dataset),
                    desc="Decontaminating", disable=not show_progress_bar):
        if any(str(row[name]) in ids for name in id_columns if row[name] is not None):
            reasons.append("eval_id")
        else:
            reasons.append(checks.reason(_texts(row, columns)) if texts else None)
    if model is not None and texts:
        _embedding_overlap(model, dataset, columns, texts, reasons, embedding_threshold, batch_size,
                           show_progress_bar)
    for index, reason in enumerate(reasons):
        if reason:
            report.drop(reason, detail=f"row {index + 1}")
    output = dataset.select([index for index, reason in enumerate(reasons) if reason is None])
    report.rows_out = len(output)
    report.log(logger)
    return (output, report) if return_report else output


def _text_columns(dataset: Dataset, columns: str | list[str] | None) -> list[str]:
    if columns is None:
        columns = [name for name, feature in dataset.features.items() if _is_text_feature(feature)]
    columns = [columns] if isinstance(columns, str) else list(columns)
    missing = [name for name in columns if name not in dataset.column_names]
    if missing or not columns:
        raise ValueError(f"columns {missing or columns} are not text columns of the dataset; it has "
                         f"{dataset.column_names}")
    return columns


def _is_text_feature(feature) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def _id_columns(dataset: Dataset, id_columns: str | list[str] | None, ids: set[str]) -> list[str]:
    if id_columns is None:
        return [name for name in DEFAULT_ID_COLUMNS if name in dataset.column_names] if ids else []
    id_columns = [id_columns] if isinstance(id_columns, str) else list(id_columns)
    missing = [name for name in id_columns if name not in dataset.column_names]
    if missing:
        raise ValueError(f"id_columns {missing} are not columns of the dataset; it has {dataset.column_names}")
    return id_columns


class _TextChecks:
    """The text rules in order: exact (normalised), near duplicate (MinHash + Jaccard), shared long n-gram."""

    def __init__(self, texts: list[str], near_duplicate_threshold: float | None, ngram_overlap: int | None) -> None:
        self.exact = {normalize_for_match(text) for text in texts}
        self.near = None
        if near_duplicate_threshold:
            self.near = NearDuplicateIndex(threshold=near_duplicate_threshold)
            for position, text in enumerate(texts):
                self.near.add(position, text)
        self.n = ngram_overlap
        self.grams: set[int] = set()
        if ngram_overlap:
            for text in texts:
                self.grams.update(_long_grams(text, ngram_overlap))

    def reason(self, texts: list[str]) -> str | None:
        if any(normalize_for_match(text) in self.exact for text in texts):
            return "exact"
        if self.near is not None and any(self.near.query(text) for text in texts):
            return "near_duplicate"
        if self.grams and any(_long_grams(text, self.n) & self.grams for text in texts):
            return "ngram_overlap"
        return None


def _long_grams(text: str, n: int) -> set[int]:
    words = normalize_for_match(text).split()
    return {hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)}


def _texts(row: dict, columns: list[str]) -> list[str]:
    texts = []
    for name in columns:
        value = row[name]
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):
            texts.extend(item for item in value if isinstance(item, str))
    return texts


def _embedding_overlap(model, dataset, columns, eval_texts, reasons, threshold, batch_size, show_progress_bar):
    import faiss

    eval_embeddings = model.encode(eval_texts, batch_size=batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=show_progress_bar)
    index = faiss.IndexFlatIP(eval_embeddings.shape[1])
    index.add(np.ascontiguousarray(eval_embeddings, dtype=np.float32))
    pending = [(index_, text) for index_, row in enumerate(dataset.select_columns(columns))
               if reasons[index_] is None for text in _texts(row, columns)]
    if not pending:
        return
    embeddings = model.encode([text for _, text in pending], batch_size=batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=show_progress_bar)
    scores, _ = index.search(np.ascontiguousarray(embeddings, dtype=np.float32), 1)
    for (row_index, _), score in zip(pending, scores[:, 0]):
        if score >= threshold:
            reasons[row_index] = "embedding"
