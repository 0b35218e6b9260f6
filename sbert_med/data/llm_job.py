"""Run a prompt over many items with a generator, journaling every result so a killed job resumes cleanly."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sbert_med.data.jsonl import ResumableJsonlWriter
from sbert_med.data.llm.base import GenerationFailure, LLMGenerator
from sbert_med.data.templates import OutputRejected, PromptTemplate

logger = logging.getLogger(__name__)

FINISHED = ("ok", "rejected")
#: what makes two outputs interchangeable (not e.g. the server address, which may change between runs)
IDENTITY_FIELDS = ("generator", "seed", "temperature", "max_new_tokens", "top_p")
#: identity fields that count only when set (so journals written before they existed keep their keys)
OPTIONAL_IDENTITY_FIELDS = ("repetition_penalty",)


def _reparse(record: dict, parse: Callable[[str], object]) -> dict:
    if record.get("output") is None:
        return record
    record = dict(record)
    try:
        record.update(status="ok", parsed=parse(record["output"]), reason=None)
    except OutputRejected as exc:
        record.update(status="rejected", parsed=None, reason=str(exc))
    return record


@dataclass(frozen=True)
class WorkItem:
    """One prompt to run: ``fields`` fill the template; ``source_id`` is recorded in the row's provenance."""

    source_id: str
    fields: dict[str, str]


def work_key(item: WorkItem, template: PromptTemplate, generator: LLMGenerator) -> str:
    """Content address of a work item: the same prompt, inputs, generator and seed give the same key."""
    provenance = generator.provenance()
    identity = {name: provenance.get(name) for name in IDENTITY_FIELDS}
    identity.update({name: provenance[name] for name in OPTIONAL_IDENTITY_FIELDS
                     if provenance.get(name) not in (None, 1.0)})
    payload = json.dumps([template.name, template.version, identity, item.source_id, item.fields],
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def run_llm_job(
    items: list[WorkItem],
    *,
    generator: LLMGenerator,
    template: PromptTemplate,
    journal_path: str | os.PathLike | None = None,
    parse: Callable[[str], object] | None = None,
    reparse: bool = False,
) -> list[dict]:
    """Run ``template`` over ``items``; one journal record per item, in input order.

    Each record: ``key, source_id, status, output (raw text), parsed, reason`` and the provenance (``generator``,
    ``prompt_name``, ``prompt_version``, ``seed``, ...). ``status`` is ``"ok"``; ``"rejected"`` (the output failed
    the template's validation: a finished verdict on the model's output); ``"failed"`` (no output: transport error,
    out of memory); or ``"error"`` (the parser itself raised something other than :class:`OutputRejected`, i.e. a
    bug in our code, not a verdict on the output). Records are appended to ``journal_path`` (JSONL, flushed) the
    moment they arrive; a rerun with the same journal skips the items already ``ok`` or ``rejected`` and redoes the
    ``failed``, ``error`` and missing ones (a fixed parser then gets its chance). Without a journal a temporary one
    is used (no resume).

    With ``reparse``, the outputs already in the journal are parsed again with today's parser (a parser that got
    better salvages old outputs without generating them again); the journal itself is not rewritten.
    """
    parse = parse or template.parse
    own_tmp = None
    if journal_path is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="sbert_med_job_")
        journal_path = Path(own_tmp.name) / "journal.jsonl"
    provenance = {**generator.provenance(), "prompt_name": template.name, "prompt_version": template.version}
    keys = [work_key(item, template, generator) for item in items]
    failures: dict[str, str] = {}
    try:
        finished = lambda record: record.get("status") in FINISHED  # noqa: E731
        with ResumableJsonlWriter(journal_path, is_finished=finished) as journal:
            todo = [index for index, key in enumerate(keys) if key not in journal]
            if len(todo) < len(items):
                logger.info("%s: %d of %d items already done, %d to run", journal_path, len(items) - len(todo),
                            len(items), len(todo))
            seen: set[str] = set()
            unique = [index for index in todo if not (keys[index] in seen or seen.add(keys[index]))]
            conversations = [template.format(**items[index].fields) for index in unique]
            for position, output in generator.stream(conversations) if conversations else ():
                index = unique[position]
                record = {"key": keys[index], "source_id": items[index].source_id, **provenance}
                if isinstance(output, GenerationFailure):
                    record.update(status="failed", output=None, parsed=None, reason=output.reason)
                    failures[record["key"]] = output.reason
                else:
                    try:
                        record.update(status="ok", output=output, parsed=parse(output), reason=None)
                    except OutputRejected as exc:
                        record.update(status="rejected", output=output, parsed=None, reason=str(exc))
                    except Exception as exc:  # a parser bug must not kill a long job: record it, retry on resume
                        record.update(status="error", output=output, parsed=None,
                                      reason=f"parser error {type(exc).__name__}: {exc}")
                        failures[record["key"]] = record["reason"]
                journal.write(record)
            results = [journal.records.get(key) for key in keys]
        if reparse:
            results = [_reparse(record, parse) if record is not None else None for record in results]
        failed = sum(record is None for record in results)
        rejected = sum(record is not None and record["status"] == "rejected" for record in results)
        logger.info("%s v%d with %s: %d ok, %d rejected, %d failed or errored (rerun to retry)", template.name,
                    template.version, generator.model_name, len(items) - failed - rejected, rejected, failed)
        return [record or {"key": key, "source_id": item.source_id, **provenance,
                           "status": "error" if failures.get(key, "").startswith("parser error") else "failed",
                           "output": None, "parsed": None, "reason": failures.get(key, "not run")}
                for record, key, item in zip(results, keys, items)]
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()
