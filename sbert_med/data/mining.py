"""Hard-negative mining with false-negative control: retrieve candidates, drop likely positives, keep the hardest.

The steps are small functions around one options dataclass, :class:`MiningOptions`:

1. :func:`retrieve_candidates`: encode the anchors (``encode_query``) and the corpus (``encode_document``) through the
   one encoding cache (:mod:`sbert_med.encoding`) and search them with FAISS, like sentence-transformers'
   ``mine_hard_negatives``;
2. :func:`filter_candidates`: drop known positives and candidates scoring too close to the positives;
3. an optional judge (CrossEncoder, LLM graders or a function) drops candidates it finds relevant;
4. :func:`format_rows`: ``n-tuple`` rows (``anchor, positive, negative_1..n``) or ``triplet`` rows.

With a ``cache_dir`` the run is resumable: encodings are stored as they are computed, LLM grades are journaled, and
the finished result is stored under a key of what produced it (model fingerprint, data, options), so a rerun with the
same inputs reads it back instead of mining again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Literal

import numpy as np
from datasets import Dataset

from sbert_med.data.report import StepReport
from sbert_med.data.text_normalize import normalize_for_match

logger = logging.getLogger(__name__)

__all__ = ["MiningOptions", "filter_candidates", "format_rows", "mine_negatives", "retrieve_candidates"]

#: ``judge(pairs) -> [is_relevant, ...]`` for (query, candidate) pairs
JudgeFn = Callable[[list[tuple[str, str]]], list[bool]]
#: per row: the candidates ``(text, score)``, best first
Candidates = list[list[tuple[str, float]]]
OUTPUT_FORMATS = ("n-tuple", "triplet")


@dataclass
class MiningOptions:
    """What :func:`mine_negatives` mines and how; every field is also accepted as a keyword of ``mine_negatives``.

    Args:
        anchor_column: The query column (ours: the column name of ``generate_queries``'s output).
        positive_column: The positive document column.
        group_column: Rows with the same value share their positives (e.g. a query id); default: rows whose anchors
            are equal after normalisation (case, spaces, punctuation) share them.
        num_negatives: Negatives kept per row (ours: 3, as sentence-transformers' ``mine_hard_negatives``).
        candidates_per_query: Candidates retrieved per query before filtering (ours: ``4 * num_negatives + 10``,
            room for the filters to drop most of them).
        range_min: Skip the top ``range_min`` candidates (after removing the positives), as
            ``mine_hard_negatives``'s ``range_min`` (default 0, theirs).
        relative_margin: Drop a candidate scoring above ``(1 - relative_margin)`` times the group's weakest positive
            (0.05 is NV-Retriever's "TopK-PercPos" 95% rule, Moreira et al. 2024); ``None`` disables.
        absolute_margin: Drop a candidate scoring above the weakest positive minus this; ``None`` disables (ours).
        max_score: Drop a candidate scoring above this; ``None`` disables (ours).
        judge_threshold: A CrossEncoder judge finds a candidate relevant above this score (ours: 0.5, the decision
            boundary of a sigmoid cross-encoder).
        judge_relevant_grades: LLM grades (MAR's S/A/B/C/D scale) that mean relevant (ours: S, A and B, so only a
            candidate graded clearly irrelevant, C or D, can become a negative).
        output_format: ``"n-tuple"`` (``negative_1..n`` columns; rows with fewer survivors are dropped and counted)
            or ``"triplet"`` (one row per negative, column ``negative``).
        query_prompt / document_prompt: Prompts for encoding anchors / corpus; ``None`` uses the model's own prompt
            for the route, as ``encode_query`` / ``encode_document`` do (sentence-transformers' default).
        batch_size: Encoding batch size (32, sentence-transformers' default).
        use_faiss: Search with a FAISS inner-product index (else exact search with torch, as
            ``sentence_transformers.util.semantic_search``); both return the same candidates.
    """

    anchor_column: str = "query"
    positive_column: str = "document"
    group_column: str | None = None
    num_negatives: int = 3
    candidates_per_query: int | None = None
    range_min: int = 0
    relative_margin: float | None = 0.05
    absolute_margin: float | None = None
    max_score: float | None = None
    judge_threshold: float = 0.5
    judge_relevant_grades: tuple[str, ...] = ("S", "A", "B")
    output_format: Literal["n-tuple", "triplet"] = "n-tuple"
    query_prompt: str | None = None
    document_prompt: str | None = None
    batch_size: int = 32
    use_faiss: bool = True

    def __post_init__(self) -> None:
        self.judge_relevant_grades = tuple(self.judge_relevant_grades)
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {self.output_format!r}")
        if self.num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, got {self.num_negatives!r}")
        if self.relative_margin is not None and not 0 <= self.relative_margin < 1:
            raise ValueError(f"relative_margin must be in [0, 1), got {self.relative_margin!r}")
        if self.range_min < 0:
            raise ValueError(f"range_min must be >= 0, got {self.range_min!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")
        if self.candidates_per_query is not None and self.candidates_per_query < self.num_negatives:
            raise ValueError(f"candidates_per_query ({self.candidates_per_query}) must be >= num_negatives "
                             f"({self.num_negatives})")

    @property
    def num_candidates(self) -> int:
        """``candidates_per_query``, or its default ``4 * num_negatives + 10``."""
        return self.candidates_per_query or 4 * self.num_negatives + 10

    def check_columns(self, column_names: Sequence[str]) -> None:
        """Raise ``ValueError`` naming the option whose column the dataset lacks."""
        for option in ("anchor_column", "positive_column", "group_column"):
            column = getattr(self, option)
            if column is not None and column not in column_names:
                raise ValueError(f"{option}={column!r} is not a column of the dataset; it has {list(column_names)}")

    def to_dict(self) -> dict:
        return {**asdict(self), "judge_relevant_grades": list(self.judge_relevant_grades)}


def mine_negatives(
    dataset: Dataset,
    model=None,
    *,
    options: MiningOptions | None = None,
    corpus: Sequence[str] | None = None,
    known_positives: Mapping[str, Iterable[str]] | None = None,
    judge=None,
    cache_dir: str | os.PathLike | None = None,
    show_progress_bar: bool = True,
    return_report: bool = False,
    **option_values,
) -> Dataset | tuple[Dataset, StepReport]:
    """Add hard negatives to (anchor, positive) rows, dropping candidates that are likely false negatives.

    Candidates are the corpus documents closest to each anchor (``encode_query`` for anchors, ``encode_document``
    for the corpus, so asymmetric Router models work), skipping the anchor itself and the exact positives of the
    same anchor, as sentence-transformers' ``mine_hard_negatives`` does. Then, in this order, a candidate is dropped
    when

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
        dataset: Rows with the anchor and positive columns; other columns are carried over.
        model: The ``SentenceTransformer`` that retrieves candidates.
        options: A :class:`MiningOptions`; keywords named like its fields (``num_negatives=2``, ...) override it.
        corpus: Extra candidate documents (the positives are always included).
        known_positives: Group key -> further positive texts that must never be negatives.
        judge: See step 3 above.
        cache_dir: Makes the run resumable: encodings go to ``cache_dir/encodings`` (:mod:`sbert_med.encoding`),
            LLM grades to ``cache_dir/judge.journal.jsonl``, and a finished result without a judge (or with LLM
            judges) to ``cache_dir/mined/<key>``, keyed by the model's fingerprint, the texts and the options.
        show_progress_bar: Show progress bars while encoding.
        return_report: Also return a :class:`StepReport` with the candidates dropped per reason.

    Returns:
        The mined rows (``anchor, positive, negative_1..n, <other columns>`` or ``anchor, positive, negative, ...``),
        and the report if ``return_report``.

    Example::

        mined = mine_negatives(pairs, model, num_negatives=3, cache_dir="runs/mining")
    """
    unknown = sorted(set(option_values) - {f.name for f in fields(MiningOptions)})
    if unknown:
        raise TypeError(f"mine_negatives() got unexpected keyword(s) {unknown}; options are the fields of "
                        f"MiningOptions: {[f.name for f in fields(MiningOptions)]}")
    options = replace(options or MiningOptions(), **option_values)
    if model is None:
        raise ValueError("mine_negatives needs a model (a SentenceTransformer) to retrieve candidates")
    options.check_columns(dataset.column_names)
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: nothing to mine")

    result_dir = judge_journal = fingerprint = None
    if cache_dir is not None:
        from sbert_med.encoding import model_fingerprint

        cache_dir = Path(cache_dir)
        judge_journal = cache_dir / "judge.journal.jsonl"
        fingerprint = model_fingerprint(model)
        if judge is None or _is_llm_judge(judge):
            key = _result_key(dataset, fingerprint, options, corpus, known_positives, judge)
            result_dir = cache_dir / "mined" / key
            cached = _load_result(result_dir)
            if cached is not None:
                logger.info("reusing mined negatives from %s", result_dir)
                return cached if return_report else cached[0]

    anchors = dataset[options.anchor_column]
    positives = dataset[options.positive_column]
    groups, group_positives = _group_positives(dataset, options, known_positives)
    report = StepReport("mine_negatives", rows_in=len(dataset))
    candidates, positive_scores = retrieve_candidates(
        model, anchors, positives, corpus=corpus, options=options,
        cache_dir=cache_dir / "encodings" if cache_dir is not None else None, fingerprint=fingerprint,
        show_progress_bar=show_progress_bar)
    survivors = filter_candidates(candidates, positive_scores, groups, group_positives, options, report)
    if judge is not None:
        survivors = _apply_judge(judge, anchors, survivors, options, report, judge_journal)
    output = format_rows(dataset, survivors, options, report)
    report.rows_out = len(output)
    report.log(logger)
    if result_dir is not None:
        _save_result(result_dir, output, report)
    return (output, report) if return_report else output


# ------------------------------------------------------------------------------------------------- grouping
def _group_positives(dataset: Dataset, options: MiningOptions, known_positives) -> tuple[list, dict[str, set[str]]]:
    """The group of each row, and each group's normalised positive texts."""
    anchors, positives = dataset[options.anchor_column], dataset[options.positive_column]
    if options.group_column:
        groups = dataset[options.group_column]
    else:
        groups = [normalize_for_match(text) for text in anchors]
    group_positives: dict[str, set[str]] = defaultdict(set)
    for group, positive in zip(groups, positives):
        group_positives[group].add(normalize_for_match(positive))
    for group, texts in (known_positives or {}).items():
        key = group if options.group_column else normalize_for_match(group)
        group_positives[key].update(normalize_for_match(text) for text in texts)
    return groups, group_positives


# ------------------------------------------------------------------------------------------------ retrieval
def retrieve_candidates(
    model,
    anchors: Sequence[str],
    positives: Sequence[str],
    *,
    corpus: Sequence[str] | None = None,
    options: MiningOptions | None = None,
    cache_dir: str | os.PathLike | None = None,
    fingerprint: str | None = None,
    show_progress_bar: bool = True,
) -> tuple[Candidates, list[float]]:
    """Per row, the ``options.num_candidates`` corpus documents closest to its anchor (after skipping the anchor's
    own text, its exact positives and the top ``range_min``), and the row's positive score.

    The corpus is ``corpus`` plus every positive, without duplicates; scores are cosine similarities. With a
    ``cache_dir``, encodings go through :func:`sbert_med.encoding.encode_cached` (``fingerprint``: the model's, if
    already computed).
    """
    from sbert_med.encoding import encode_cached, model_fingerprint

    options = options or MiningOptions()
    queries = list(dict.fromkeys(anchors))
    documents = list(dict.fromkeys([*(corpus or []), *positives]))
    query_index = {text: i for i, text in enumerate(queries)}
    document_index = {text: i for i, text in enumerate(documents)}
    excluded: list[set[int]] = [set() for _ in queries]
    for anchor, positive in zip(anchors, positives):
        excluded[query_index[anchor]].add(document_index[positive])
    for query, i in query_index.items():
        if query in document_index:
            excluded[i].add(document_index[query])

    if cache_dir is not None and fingerprint is None:
        fingerprint = model_fingerprint(model)
    encode = dict(cache_dir=cache_dir, batch_size=options.batch_size, show_progress_bar=show_progress_bar,
                  fingerprint=fingerprint)
    query_vectors = encode_cached(model, queries, route="query", prompt=options.query_prompt, **encode)
    document_vectors = encode_cached(model, documents, route="document", prompt=options.document_prompt, **encode)

    depth = min(len(documents), options.range_min + options.num_candidates + max(map(len, excluded)))
    scores, hits = _search(query_vectors, document_vectors, depth, use_faiss=options.use_faiss)
    per_query: Candidates = []
    for i in range(len(queries)):
        found = [(documents[j], float(s)) for j, s in zip(hits[i], scores[i]) if j >= 0 and j not in excluded[i]]
        per_query.append(found[options.range_min : options.range_min + options.num_candidates])
    candidates = [per_query[query_index[anchor]] for anchor in anchors]
    positive_scores = [float(query_vectors[query_index[a]] @ document_vectors[document_index[p]])
                       for a, p in zip(anchors, positives)]
    return candidates, positive_scores


def _search(queries: np.ndarray, documents: np.ndarray, k: int, *, use_faiss: bool) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` inner products of every query with the documents, best first: ``(scores, indices)``."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    documents = np.ascontiguousarray(documents, dtype=np.float32)
    if k <= 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    if use_faiss:
        import faiss

        index = faiss.IndexFlatIP(documents.shape[1])
        index.add(documents)
        return index.search(queries, k)
    import torch
    from sentence_transformers.util import dot_score

    scores, indices = [], []
    for start in range(0, len(queries), 16384):
        top = torch.topk(dot_score(queries[start : start + 16384], documents), k=k, dim=1)
        scores.append(top.values.numpy())
        indices.append(top.indices.numpy())
    return np.concatenate(scores), np.concatenate(indices)


# ------------------------------------------------------------------------------------------------ filtering
def filter_candidates(
    candidates: Candidates,
    positive_scores: Sequence[float],
    groups: Sequence,
    group_positives: Mapping[str, set[str]],
    options: MiningOptions,
    report: StepReport,
) -> Candidates:
    """Drop known positives and candidates too close to the group's weakest positive (or above ``max_score``),
    counting each drop in ``report`` under its reason."""
    weakest: dict = {}
    for group, score in zip(groups, positive_scores):
        weakest[group] = min(score, weakest.get(group, score))
    survivors: Candidates = []
    for row_candidates, group in zip(candidates, groups):
        report.count("candidates", len(row_candidates))
        kept = []
        for text, score in row_candidates:
            reason = _rule_reason(text, score, group_positives[group], weakest.get(group), options)
            if reason:
                report.drop(reason)
            else:
                kept.append((text, score))
        survivors.append(kept)
    return survivors


def _rule_reason(text: str, score: float, positives: set[str], weakest: float | None,
                 options: MiningOptions) -> str | None:
    if normalize_for_match(text) in positives:
        return "known_positive"
    if weakest is not None:
        if options.absolute_margin is not None and score > weakest - options.absolute_margin:
            return "absolute_margin"
        if options.relative_margin is not None and score > weakest - abs(weakest) * options.relative_margin:
            return "relative_margin"
    if options.max_score is not None and score > options.max_score:
        return "max_score"
    return None


# ---------------------------------------------------------------------------------------------------- judge
def _is_llm_judge(judge) -> bool:
    from sbert_med.data.llm.base import LLMGenerator

    generators = judge if isinstance(judge, list | tuple) else [judge]
    return bool(generators) and all(isinstance(g, LLMGenerator) for g in generators)


def _apply_judge(judge, anchors, survivors: Candidates, options: MiningOptions, report: StepReport,
                 journal: Path | None) -> Candidates:
    """Ask the judge about the candidates that could still be used, best first, and drop those it finds relevant."""
    is_relevant = _judge_function(judge, options, journal)
    # judge only as many candidates as could end up in the output: num_negatives per row, then refill
    judged = [[] for _ in survivors]
    pending = [list(kept) for kept in survivors]
    while True:
        batch = []
        for row_index, queue in enumerate(pending):
            missing = options.num_negatives - len(judged[row_index])
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


def _judge_function(judge, options: MiningOptions, journal: Path | None) -> JudgeFn:
    if _is_llm_judge(judge):
        from sbert_med.data.label import label_relevance

        generators = list(judge) if isinstance(judge, list | tuple) else [judge]

        def by_llm(pairs):
            rows = Dataset.from_dict({"query": [q for q, _ in pairs], "document": [d for _, d in pairs]})
            graded = label_relevance(rows, generators=generators, journal_path=journal)
            return [any(grade in options.judge_relevant_grades for grade in grades if grade)
                    for grades in graded["grades"]]

        return by_llm
    if hasattr(judge, "predict"):  # a sentence-transformers CrossEncoder

        def by_cross_encoder(pairs):
            scores = judge.predict(pairs, show_progress_bar=False)
            return [float(score) > options.judge_threshold for score in scores]

        return by_cross_encoder
    if callable(judge):
        return judge
    raise ValueError(f"judge must be a CrossEncoder, an LLM generator (or a list of them) or a function, "
                     f"got {judge!r}")


# ---------------------------------------------------------------------------------------------------- output
def format_rows(dataset: Dataset, survivors: Candidates, options: MiningOptions, report: StepReport) -> Dataset:
    """The output rows: anchor, positive, the negatives (``negative_1..n`` or one ``negative`` per row), then the
    dataset's other columns. An n-tuple row with fewer than ``num_negatives`` survivors is dropped and counted as
    ``rows_without_enough_negatives`` (a triplet row without any, too)."""
    anchor_column, positive_column = options.anchor_column, options.positive_column
    anchors, positives = dataset[anchor_column], dataset[positive_column]
    carried = {name: dataset[name] for name in dataset.column_names if name not in (anchor_column, positive_column)}
    rows = []
    for row_index, kept in enumerate(survivors):
        base = {anchor_column: anchors[row_index], positive_column: positives[row_index]}
        extra = {name: values[row_index] for name, values in carried.items()}
        negatives = kept[: options.num_negatives]
        if options.output_format == "n-tuple":
            if len(negatives) < options.num_negatives:
                report.count("rows_without_enough_negatives")
                continue
            rows.append({**base, **{f"negative_{i}": text for i, (text, _) in enumerate(negatives, start=1)},
                         **extra})
        else:
            if not negatives:
                report.count("rows_without_enough_negatives")
            rows.extend({**base, "negative": text, **extra} for text, _ in negatives)
    return Dataset.from_list(rows) if rows else Dataset.from_dict({anchor_column: [], positive_column: []})


# ------------------------------------------------------------------------------------------- result caching
def _texts_digest(digest, texts: Iterable) -> None:
    for text in texts:
        digest.update(str(text).encode("utf-8", "surrogatepass") + b"\0")
    digest.update(b"\1")


def _result_key(dataset: Dataset, fingerprint: str, options: MiningOptions, corpus, known_positives, judge) -> str:
    """Fingerprint of everything that shapes the mined rows: the model's (``fingerprint``: weights and settings),
    every column of the dataset, the corpus, the known positives, the options and the LLM judges (names, seeds)."""
    digest = hashlib.sha256()
    digest.update(fingerprint.encode())
    digest.update(json.dumps(options.to_dict(), sort_keys=True).encode())
    digest.update(json.dumps(dataset.column_names).encode())
    for name in dataset.column_names:
        _texts_digest(digest, (json.dumps(value, sort_keys=True, default=str) for value in dataset[name]))
    _texts_digest(digest, corpus or [])
    for group in sorted(known_positives or {}, key=str):
        _texts_digest(digest, [group, *sorted(known_positives[group])])
    if judge is not None:
        generators = judge if isinstance(judge, list | tuple) else [judge]
        _texts_digest(digest, (repr((getattr(g, "model_name", None), getattr(g, "seed", None))) for g in generators))
    return digest.hexdigest()[:16]


def _load_result(folder: Path) -> tuple[Dataset, StepReport] | None:
    if not (folder / "report.json").is_file():
        return None
    from datasets import load_from_disk

    saved = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    report = StepReport(saved["step"], rows_in=saved["rows_in"], rows_out=saved["rows_out"])
    report.counts.update(saved["counts"])
    report.dropped.update(saved["dropped"])
    report.details.update(saved["details"])
    return load_from_disk(str(folder / "rows")), report


def _save_result(folder: Path, output: Dataset, report: StepReport) -> None:
    """Rows first, then ``report.json``, which marks the result complete (each written under a temporary name)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "rows.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    output.save_to_disk(str(tmp))
    shutil.rmtree(folder / "rows", ignore_errors=True)
    os.replace(tmp, folder / "rows")
    (folder / "report.json.tmp").write_text(report.to_json(), encoding="utf-8")
    os.replace(folder / "report.json.tmp", folder / "report.json")
