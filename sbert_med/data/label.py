"""LLM relevance labelling of (query, document) pairs with MAR's 5-point scale and a consensus of several LLMs."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from datasets import Dataset

from sbert_med.data.generate import _check_column, source_ids
from sbert_med.data.llm.base import LLMGenerator
from sbert_med.data.llm_job import WorkItem, run_llm_job
from sbert_med.data.report import StepReport
from sbert_med.data.templates import GRADES, load_prompt

logger = logging.getLogger(__name__)


def label_relevance(
    dataset: Dataset,
    *,
    generators: LLMGenerator | Sequence[LLMGenerator],
    query_column: str = "query",
    document_column: str = "document",
    id_column: str | None = None,
    positive_grades: Sequence[str] = ("S", "A"),
    negative_grades: Sequence[str] = ("C", "D"),
    prompt: str = "mar_relevance",
    prompt_version: int | None = None,
    journal_path: str | os.PathLike | None = None,
    return_report: bool = False,
) -> Dataset | tuple[Dataset, StepReport]:
    """Grade every (query, document) row with one or several LLMs on MAR's S/A/B/C/D scale and take a consensus.

    The consensus rule is MAR's: a pair is ``"positive"`` only if *every* LLM gives a grade in ``positive_grades``,
    ``"negative"`` only if every LLM gives a grade in ``negative_grades``, and ``"mixed"`` otherwise (including when
    an LLM's output was rejected or failed). Use ``"negative"`` rows as safe hard negatives and drop ``"mixed"`` ones.

    Args:
        dataset: rows with a query and a document column (e.g. the top-50 candidates of each query).
        generators: one generator or several (each grades every row; the journal keeps them apart).
        query_column, document_column: the text columns.
        id_column: a unique row id recorded as ``source_id`` (row numbers when absent).
        positive_grades, negative_grades: disjoint subsets of ``("S", "A", "B", "C", "D")``.
        prompt, prompt_version: the packaged grading template (default: latest ``mar_relevance``).
        journal_path: JSONL journal of every output; a rerun skips graded rows.
        return_report: also return a :class:`StepReport`.

    Returns:
        The input rows plus ``grades`` (one per generator, ``None`` where its output was unusable), ``graders``,
        ``consensus`` (``"positive" | "negative" | "mixed"``), ``label`` (1 for positive, else 0), ``prompt_name``,
        ``prompt_version`` and ``label_seeds``.
    """
    generators = [generators] if isinstance(generators, LLMGenerator) else list(generators)
    if not generators:
        raise ValueError("generators must hold at least one generator")
    _check_column(dataset, query_column, "query_column")
    _check_column(dataset, document_column, "document_column")
    for name, grades in (("positive_grades", positive_grades), ("negative_grades", negative_grades)):
        bad = [grade for grade in grades if grade not in GRADES]
        if bad:
            raise ValueError(f"{name} must be a subset of {GRADES}, got {list(grades)!r}")
    if set(positive_grades) & set(negative_grades):
        raise ValueError(
            f"positive_grades {list(positive_grades)} and negative_grades {list(negative_grades)} overlap"
        )
    template = load_prompt(prompt, prompt_version)
    ids = source_ids(dataset, id_column)
    items = [WorkItem(source_id, {"query": query, "document": document})
             for source_id, query, document in zip(ids, dataset[query_column], dataset[document_column])]
    report = StepReport("label_relevance", rows_in=len(dataset))
    per_generator = []
    for generator in generators:
        records = run_llm_job(items, generator=generator, template=template, journal_path=journal_path)
        for record in records:
            report.count(f"{generator.model_name}:{record['status']}")
            if record["status"] != "ok":
                report.reason(record["status"], record.get("reason") or "")
        per_generator.append([record["parsed"]["grade"] if record["status"] == "ok" else None for record in records])
    grades = [list(row) for row in zip(*per_generator)]
    consensus = [_consensus(row, positive_grades, negative_grades) for row in grades]
    for value in consensus:
        report.count(value)
    output = dataset.add_column("grades", grades)
    output = output.add_column("graders", [[g.model_name for g in generators]] * len(dataset))
    output = output.add_column("consensus", consensus)
    output = output.add_column("label", [int(value == "positive") for value in consensus])
    output = output.add_column("prompt_name", [template.name] * len(dataset))
    output = output.add_column("prompt_version", [template.version] * len(dataset))
    output = output.add_column("label_seeds", [[g.seed for g in generators]] * len(dataset))
    report.rows_out = len(output)
    report.log(logger)
    return (output, report) if return_report else output


def _consensus(grades: list[str | None], positive: Sequence[str], negative: Sequence[str]) -> str:
    if all(grade in positive for grade in grades):
        return "positive"
    if all(grade in negative for grade in grades):
        return "negative"
    return "mixed"
