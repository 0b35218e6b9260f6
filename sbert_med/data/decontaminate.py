"""Drop training rows that overlap evaluation queries or documents (exact, near-duplicate, shared long n-grams)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
from datasets import Dataset
from tqdm.auto import tqdm

from sbert_med.data.near_duplicates import NearDuplicateIndex
from sbert_med.data.report import StepReport
from sbert_med.data.text_normalize import normalize_for_match

logger = logging.getLogger(__name__)


def decontaminate(
    dataset: Dataset,
    *,
    eval_texts: Iterable[str],
    columns: str | list[str] | None = None,
    near_duplicate_threshold: float | None = 0.8,
    ngram_overlap: int | None = 13,
    model=None,
    embedding_threshold: float = 0.95,
    batch_size: int = 64,
    show_progress_bar: bool = True,
    return_report: bool = False,
) -> Dataset | tuple[Dataset, StepReport]:
    """Remove every row where a text column overlaps an evaluation text (a query or a document of an eval set).

    A text overlaps when, checked in this order:

    * ``exact``: it equals an eval text after normalisation (case, spaces, punctuation);
    * ``near_duplicate``: its word-trigram Jaccard similarity with an eval text is >= ``near_duplicate_threshold``;
    * ``ngram_overlap``: it shares a run of ``ngram_overlap`` words with an eval text (the GPT-3 style 13-gram check,
      which catches a training passage that contains an eval passage or the reverse);
    * ``embedding``: with a ``model``, its cosine similarity with an eval text is >= ``embedding_threshold``
      (paraphrased queries).

    Args:
        dataset: training rows.
        eval_texts: the evaluation queries and/or documents (e.g. ``list(beir.queries.values())``).
        columns: text columns to check (default: every string column).
        return_report: also return a :class:`StepReport` with the rows dropped per reason.
    """
    if columns is None:
        columns = [name for name, feature in dataset.features.items()
                   if getattr(feature, "dtype", None) in ("string", "large_string")]
    columns = [columns] if isinstance(columns, str) else list(columns)
    missing = [name for name in columns if name not in dataset.column_names]
    if missing or not columns:
        raise ValueError(f"columns {missing or columns} are not text columns of the dataset; it has "
                         f"{dataset.column_names}")
    eval_texts = [text for text in eval_texts if isinstance(text, str) and text.strip()]
    if not eval_texts:
        raise ValueError("eval_texts is empty")
    exact = {normalize_for_match(text) for text in eval_texts}
    near = None
    if near_duplicate_threshold:
        near = NearDuplicateIndex(threshold=near_duplicate_threshold)
        for position, text in enumerate(eval_texts):
            near.add(position, text)
    grams: set[int] = set()
    if ngram_overlap:
        for text in eval_texts:
            grams.update(_long_grams(text, ngram_overlap))

    reasons: list[str | None] = []
    for row in tqdm(dataset.select_columns(columns), total=len(dataset), desc="Decontaminating",
                    disable=not show_progress_bar):
        reasons.append(_overlap_reason(row, columns, exact, near, grams, ngram_overlap))
    if model is not None:
        _embedding_overlap(model, dataset, columns, eval_texts, reasons, embedding_threshold, batch_size,
                           show_progress_bar)
    report = StepReport("decontaminate", rows_in=len(dataset))
    report.count("eval_texts", len(eval_texts))
    for reason in reasons:
        if reason:
            report.drop(reason)
    output = dataset.select([index for index, reason in enumerate(reasons) if reason is None])
    report.rows_out = len(output)
    report.log(logger)
    return (output, report) if return_report else output


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


def _overlap_reason(row, columns, exact, near, grams, n) -> str | None:
    texts = _texts(row, columns)
    if any(normalize_for_match(text) in exact for text in texts):
        return "exact"
    if near is not None and any(near.query(text) for text in texts):
        return "near_duplicate"
    if grams and any(_long_grams(text, n) & grams for text in texts):
        return "ngram_overlap"
    return None


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
