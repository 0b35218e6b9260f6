"""LLM-generated training pairs: MedEmbed queries for clinical texts, CardioEmbed paraphrases of textbook sentences."""

from __future__ import annotations

import logging
import os
from collections import Counter

from datasets import Dataset

from sbert_med.data.llm.base import LLMGenerator
from sbert_med.data.llm_job import WorkItem, run_llm_job
from sbert_med.data.report import StepReport
from sbert_med.data.templates import load_prompt

logger = logging.getLogger(__name__)

PROVENANCE_COLUMNS = ("source_id", "generator", "prompt_name", "prompt_version", "seed")


def _check_column(dataset: Dataset, column: str, option: str) -> None:
    if column not in dataset.column_names:
        raise ValueError(f"{option}={column!r} is not a column of the dataset; it has {dataset.column_names}")


def source_ids(dataset: Dataset, id_column: str | None) -> list[str]:
    """The ``id_column`` values as strings, or ``row-<n>`` when there is no such column."""
    if id_column and id_column in dataset.column_names:
        ids = [str(value) for value in dataset[id_column]]
        duplicates = [value for value, count in Counter(ids).items() if count > 1]
        if duplicates:
            raise ValueError(f"id_column {id_column!r} must be unique; repeated: {duplicates[:5]}")
        return ids
    return [f"row-{index}" for index in range(len(dataset))]


def _tally(records: list[dict], report: StepReport) -> None:
    for record in records:
        report.count(record["status"])
        if record["status"] != "ok":
            report.reason(record["status"], record.get("reason") or "")


def generate_queries(
    dataset: Dataset,
    *,
    generator: LLMGenerator,
    text_column: str = "text",
    document_column: str | None = None,
    id_column: str | None = "_id",
    prompt: str = "medembed_queries",
    prompt_version: int | None = None,
    min_relevance: float = 0.5,
    scrub_phi: bool = True,
    journal_path: str | os.PathLike | None = None,
    reparse: bool = False,
    return_report: bool = False,
) -> Dataset | tuple[Dataset, StepReport]:
    """MedEmbed's synthetic queries: the LLM writes 6 queries per text (2 keyword, 2 questions, 2 treatment) with a
    relevance score; queries scored below ``min_relevance`` are dropped.

    Personal health information is scrubbed (:func:`sbert_med.data.scrub_phi`) from the prompt text **and** from the
    ``document`` kept in every output row, so a training set never carries identifiers that scrubbing removed (the
    raw text stays only in the caller's input). Pass ``scrub_phi=False`` only for texts already scrubbed (or public,
    such as MEDLINE abstracts run through the pipeline's own scrub step).

    Args:
        dataset: source texts (e.g. clinical notes).
        generator: a :class:`~sbert_med.data.llm.TransformersGenerator` or
            :class:`~sbert_med.data.llm.OpenAICompatibleGenerator`.
        text_column: the column holding the text the LLM reads.
        document_column: the column kept as each row's ``document`` (default: ``text_column``); e.g. a whole
            abstract while the prompt shows its first words.
        id_column: a unique id column recorded as ``source_id`` (row numbers when absent).
        prompt, prompt_version: the packaged prompt template (default: latest ``medembed_queries``).
        min_relevance: keep queries whose ``relevance_score`` is at least this (MedEmbed: 0.5); a prompt that asks
            for no score (``medline_queries``) gives ``None``, which this filter keeps.
        scrub_phi: scrub PHI from ``text_column`` and ``document_column`` first (default True).
        journal_path: JSONL journal of every LLM output (accepted, rejected with its reason, failed); rerunning
            with the same journal skips finished texts.
        reparse: parse the journal's outputs again with today's parser (see :func:`run_llm_job`).
        return_report: also return a :class:`StepReport` (its ``counts`` hold ``replies_per_min`` and
            ``queries_per_min`` when the generator measures its own time).

    Returns:
        One row per kept query: ``query, document, query_type, relevance_score`` and the provenance columns
        ``source_id, generator, prompt_name, prompt_version, seed``.
    """
    _check_column(dataset, text_column, "text_column")
    document_column = document_column or text_column
    _check_column(dataset, document_column, "document_column")
    if not 0.0 <= min_relevance <= 1.0:
        raise ValueError(f"min_relevance must be in [0, 1], got {min_relevance!r}")
    template = load_prompt(prompt, prompt_version)
    ids = source_ids(dataset, id_column)
    if scrub_phi:
        from sbert_med.data.phi import scrub_phi as scrub

        dataset = scrub(dataset, columns=sorted({text_column, document_column}))
    texts = dataset[text_column]
    documents = dataset[document_column]
    items = [WorkItem(source_id, {"text": text}) for source_id, text in zip(ids, texts)]
    stats_before = dict(getattr(generator, "stats", {}) or {})
    records = run_llm_job(items, generator=generator, template=template, journal_path=journal_path,
                          reparse=reparse)
    report = StepReport("generate_queries", rows_in=len(dataset))
    _tally(records, report)
    rows = []
    for record, document in zip(records, documents):
        if record["status"] != "ok":
            continue
        for invalid in record["parsed"].get("invalid", []):
            report.drop("invalid_item", detail=invalid["reason"])
        for query in record["parsed"]["queries"]:
            if query["relevance_score"] is not None and query["relevance_score"] < min_relevance:
                report.drop("low_relevance")
                continue
            rows.append({**query, "document": document, **{name: record[name] for name in PROVENANCE_COLUMNS}})
    _throughput(generator, stats_before, records, report)
    report.rows_out = len(rows)
    report.log(logger)
    output = Dataset.from_list(rows) if rows else _empty(["query", "query_type", "relevance_score", "document"])
    return (output, report) if return_report else output


def generate_paraphrases(
    dataset: Dataset,
    *,
    generator: LLMGenerator,
    text_column: str = "text",
    id_column: str | None = "_id",
    prompt: str = "cardioembed_paraphrase",
    prompt_version: int | None = None,
    journal_path: str | os.PathLike | None = None,
    return_report: bool = False,
) -> Dataset | tuple[Dataset, StepReport]:
    """CardioEmbed's positives: one LLM paraphrase per sentence, giving ``(anchor, positive)`` pairs.

    A paraphrase equal to its sentence (ignoring case, spaces and punctuation) is rejected. The other columns of
    ``dataset`` (e.g. ``chapter``, ``section``) are carried over. Options as in :func:`generate_queries`.

    Returns:
        ``anchor, positive``, the source's other columns, and ``source_id, generator, prompt_name, prompt_version,
        seed``.
    """
    from sbert_med.data.text_normalize import normalize_for_match

    _check_column(dataset, text_column, "text_column")
    template = load_prompt(prompt, prompt_version)
    ids = source_ids(dataset, id_column)
    items = [WorkItem(source_id, {"text": text}) for source_id, text in zip(ids, dataset[text_column])]
    records = run_llm_job(items, generator=generator, template=template, journal_path=journal_path)
    report = StepReport("generate_paraphrases", rows_in=len(dataset))
    _tally(records, report)
    rows = []
    carried = [name for name in dataset.column_names if name not in (text_column, *PROVENANCE_COLUMNS)]
    for record, row in zip(records, dataset):
        if record["status"] != "ok":
            continue
        paraphrase = record["parsed"]["paraphrase"]
        if normalize_for_match(paraphrase) == normalize_for_match(row[text_column]):
            report.drop("copy_of_anchor")
            continue
        rows.append({"anchor": row[text_column], "positive": paraphrase, **{name: row[name] for name in carried},
                     **{name: record[name] for name in PROVENANCE_COLUMNS}})
    report.rows_out = len(rows)
    report.log(logger)
    output = Dataset.from_list(rows) if rows else _empty(["anchor", "positive"])
    return (output, report) if return_report else output


def _throughput(generator: LLMGenerator, before: dict, records: list[dict], report: StepReport) -> None:
    """Replies and queries per minute of this call's generation time (only what was generated now, not resumed)."""
    after = getattr(generator, "stats", None) or {}
    seconds = after.get("seconds", 0.0) - before.get("seconds", 0.0)
    replies = after.get("replies", 0) - before.get("replies", 0)
    if seconds <= 0 or replies <= 0:
        return
    ok = [record for record in records if record["status"] == "ok"]
    queries_per_reply = (sum(len(record["parsed"]["queries"]) for record in ok) / len(ok)) if ok else 0.0
    report.counts["generated_replies"] = replies
    report.counts["generation_seconds"] = round(seconds, 1)
    report.counts["replies_per_min"] = round(60.0 * replies / seconds, 2)
    report.counts["queries_per_min"] = round(60.0 * replies * queries_per_reply / seconds, 2)
    logger.info("generation: %d replies in %.0fs (%.1f replies/min, %.1f parsed queries/min)", replies, seconds,
                report.counts["replies_per_min"], report.counts["queries_per_min"])


def _empty(columns: list[str]) -> Dataset:
    return Dataset.from_dict({name: [] for name in [*columns, *PROVENANCE_COLUMNS]})
