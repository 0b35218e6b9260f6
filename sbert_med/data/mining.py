"""Hard-negative mining with false-negative control, on top of sentence-transformers' ``mine_hard_negatives``."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from datasets import Dataset
from sentence_transformers.util import mine_hard_negatives

from sbert_med.data.report import StepReport
from sbert_med.data.text_normalize import normalize_for_match

logger = logging.getLogger(__name__)

#: ``judge(pairs) -> [is_relevant, ...]`` for (query, candidate) pairs
JudgeFn = Callable[[list[tuple[str, str]]], list[bool]]


def mine_negatives(
    dataset: Dataset,
    *,
    model,
    anchor_column: str = "query",
    positive_column: str = "document",
    corpus: Sequence[str] | None = None,
    group_column: str | None = None,
    known_positives: Mapping[str, Iterable[str]] | None = None,
    num_negatives: int = 3,
    candidates_per_query: int | None = None,
    range_min: int = 0,
    relative_margin: float | None = 0.05,
    absolute_margin: float | None = None,
    max_score: float | None = None,
    judge=None,
    judge_threshold: float = 0.5,
    judge_relevant_grades: Sequence[str] = ("S", "A", "B"),
    output_format: Literal["n-tuple", "triplet"] = "n-tuple",
    batch_size: int = 32,
    use_faiss: bool = True,
    cache_folder: str | os.PathLike | None = None,
    return_report: bool = False,
) -> Dataset | tuple[Dataset, StepReport]:
    """Add hard negatives to (anchor, positive) rows, dropping candidates that are likely false negatives.

    Candidates come from :func:`sentence_transformers.util.mine_hard_negatives` (FAISS search, ``encode_query`` for
    anchors and ``encode_document`` for the corpus, so asymmetric Router models work). Then, in this order, a
    candidate is dropped when

    1. ``known_positive``: it is a positive of the same query. Rows are grouped by ``group_column`` if given, else by
       the normalised anchor text (case, spaces and punctuation ignored), so duplicate questions with several answers
       (e.g. MedQuAD's "What is (are) Q fever ?" from CDC and GARD) pool their answers; ``known_positives`` adds
       more (group key -> positive texts, e.g. from qrels). Texts are compared normalised too.
    2. ``absolute_margin`` / ``relative_margin``: its score is too close to the group's weakest positive
       (``score > pos - margin`` or ``score > pos - |pos| * relative_margin``), or above ``max_score``.
    3. ``judge``: a judge grades it relevant. ``judge`` is a CrossEncoder (relevant if its score exceeds
       ``judge_threshold``), an LLM generator or a list of them (MAR grading, relevant if any grade is in
       ``judge_relevant_grades``), or a function ``judge(pairs) -> [bool]``.

    The first ``num_negatives`` surviving candidates (highest scores first, after skipping ``range_min``) are kept.

    Args:
        dataset: rows with ``anchor_column`` and ``positive_column``; other columns are carried over.
        model: the SentenceTransformer that retrieves candidates.
        corpus: extra candidate documents (the positives are always included).
        candidates_per_query: candidates retrieved per query before filtering (default ``4 * num_negatives + 10``).
        output_format: ``"n-tuple"`` (``negative_1..N`` columns; rows with fewer survivors are dropped and counted)
            or ``"triplet"`` (one row per negative).
        cache_folder: embedding cache of ``mine_hard_negatives`` (one folder per model).
        return_report: also return a :class:`StepReport` with the candidates dropped per reason.
    """
    for option, column in (("anchor_column", anchor_column), ("positive_column", positive_column)):
        if column not in dataset.column_names:
            raise ValueError(f"{option}={column!r} is not a column of the dataset; it has {dataset.column_names}")
    if group_column is not None and group_column not in dataset.column_names:
        raise ValueError(f"group_column={group_column!r} is not a column of the dataset; it has "
                         f"{dataset.column_names}")
    valid_formats = ("n-tuple", "triplet")
    if output_format not in valid_formats:
        raise ValueError(f"output_format must be one of {valid_formats}, got {output_format!r}")
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be >= 1, got {num_negatives!r}")
    if relative_margin is not None and not 0 <= relative_margin < 1:
        raise ValueError(f"relative_margin must be in [0, 1), got {relative_margin!r}")
    candidates_per_query = candidates_per_query or 4 * num_negatives + 10
    if candidates_per_query < num_negatives:
        raise ValueError(f"candidates_per_query ({candidates_per_query}) must be >= num_negatives ({num_negatives})")

    anchors, positives = dataset[anchor_column], dataset[positive_column]
    groups = dataset[group_column] if group_column else [normalize_for_match(text) for text in anchors]
    group_positives: dict[str, set[str]] = defaultdict(set)
    for group, positive in zip(groups, positives):
        group_positives[group].add(normalize_for_match(positive))
    for group, texts in (known_positives or {}).items():
        key = group if group_column else normalize_for_match(group)
        group_positives[key].update(normalize_for_match(text) for text in texts)

    pairs = Dataset.from_dict({"anchor": anchors, "positive": positives})
    extra_corpus = list(corpus) if corpus is not None else None
    mined = mine_hard_negatives(
        pairs, model, anchor_column_name="anchor", positive_column_name="positive", corpus=extra_corpus,
        num_negatives=candidates_per_query, range_min=range_min, output_format="labeled-list", output_scores=True,
        batch_size=batch_size, use_faiss=use_faiss, verbose=False,
        cache_folder=str(cache_folder) if cache_folder else None,
    )
    candidates: dict[tuple[str, str], tuple[float, list[tuple[str, float]]]] = {}
    for anchor, documents, scores in zip(mined["anchor"], mined["positive"], mined["scores"]):
        candidates[(anchor, documents[0])] = (scores[0], list(zip(documents[1:], scores[1:])))

    report = StepReport("mine_negatives", rows_in=len(dataset))
    weakest_positive: dict[str, float] = {}
    for anchor, positive, group in zip(anchors, positives, groups):
        if (anchor, positive) in candidates:
            score = candidates[(anchor, positive)][0]
            weakest_positive[group] = min(score, weakest_positive.get(group, score))

    survivors: list[list[tuple[str, float]]] = []
    for anchor, positive, group in zip(anchors, positives, groups):
        row_candidates = candidates.get((anchor, positive), (None, []))[1]
        report.count("candidates", len(row_candidates))
        kept = []
        for text, score in row_candidates:
            reason = _rule_reason(text, score, group_positives[group], weakest_positive.get(group),
                                  relative_margin, absolute_margin, max_score)
            if reason:
                report.drop(reason)
            else:
                kept.append((text, score))
        survivors.append(kept)

    if judge is not None:
        survivors = _apply_judge(judge, anchors, survivors, num_negatives, report, judge_threshold,
                                 judge_relevant_grades)

    rows = []
    carried = {name: dataset[name] for name in dataset.column_names if name not in (anchor_column, positive_column)}
    for row_index, kept in enumerate(survivors):
        base = {anchor_column: anchors[row_index], positive_column: positives[row_index]}
        extra = {name: values[row_index] for name, values in carried.items()}
        negatives = kept[:num_negatives]
        if output_format == "n-tuple":
            if len(negatives) < num_negatives:
                report.count("rows_without_enough_negatives")
                continue
            rows.append({**base, **{f"negative_{i}": text for i, (text, _) in enumerate(negatives, start=1)},
                         **extra})
        else:
            if not negatives:
                report.count("rows_without_enough_negatives")
            rows.extend({**base, "negative": text, **extra} for text, _ in negatives)
    report.rows_out = len(rows)
    report.log(logger)
    output = Dataset.from_list(rows) if rows else Dataset.from_dict({anchor_column: [], positive_column: []})
    return (output, report) if return_report else output


def _rule_reason(text, score, positives, weakest, relative_margin, absolute_margin, max_score) -> str | None:
    if normalize_for_match(text) in positives:
        return "known_positive"
    if weakest is not None:
        if absolute_margin is not None and score > weakest - absolute_margin:
            return "absolute_margin"
        if relative_margin is not None and score > weakest - abs(weakest) * relative_margin:
            return "relative_margin"
    if max_score is not None and score > max_score:
        return "max_score"
    return None


def _apply_judge(judge, anchors, survivors, num_negatives, report, threshold, relevant_grades):
    """Ask the judge about the candidates that could still be used, best first, and drop those it finds relevant."""
    is_relevant = _judge_function(judge, threshold, relevant_grades)
    # judge only as many candidates as could end up in the output: num_negatives per row, then refill
    judged = [[] for _ in survivors]
    pending = [list(kept) for kept in survivors]
    while True:
        batch = []
        for row_index, queue in enumerate(pending):
            missing = num_negatives - len(judged[row_index])
            batch.extend((row_index, candidate) for candidate in queue[:missing])
            del queue[: max(missing, 0)]
        if not batch:
            break
        verdicts = is_relevant([(anchors[row_index], text) for row_index, (text, _) in batch])
        report.count("judged", len(batch))
        for (row_index, candidate), relevant in zip(batch, verdicts):
            if relevant:
                report.drop("judge_relevant")
            else:
                judged[row_index].append(candidate)
    return judged


def _judge_function(judge, threshold, relevant_grades) -> JudgeFn:
    from sbert_med.data.llm.base import LLMGenerator

    generators = judge if isinstance(judge, list | tuple) else [judge]
    if all(isinstance(g, LLMGenerator) for g in generators):
        from sbert_med.data.label import label_relevance

        def by_llm(pairs):
            rows = Dataset.from_dict({"query": [q for q, _ in pairs], "document": [d for _, d in pairs]})
            graded = label_relevance(rows, generators=list(generators))
            return [any(grade in relevant_grades for grade in grades if grade) for grades in graded["grades"]]

        return by_llm
    if hasattr(judge, "predict"):  # a sentence-transformers CrossEncoder

        def by_cross_encoder(pairs):
            return [float(score) > threshold for score in judge.predict(pairs, show_progress_bar=False)]

        return by_cross_encoder
    if callable(judge):
        return judge
    raise ValueError(f"judge must be a CrossEncoder, an LLM generator (or a list of them) or a function, "
                     f"got {judge!r}")
