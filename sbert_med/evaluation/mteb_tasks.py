"""MTEB tasks: a retrieval task built from a local :class:`BeirData`, and MTEB's own tasks by name (Hub needed)."""

from __future__ import annotations

import logging
import re

from sbert_med.data.beir import BeirData

logger = logging.getLogger(__name__)

#: The medical MTEB tasks named in sbert_med's docs (all need the Hugging Face Hub for their data).
MEDICAL_MTEB_TASKS = ("BIOSSES", "SciFact", "ArguAna", "CmedqaRetrieval", "CMedQAv2-reranking")
MEDICAL_MTEB_BENCHMARK = "MTEB(Medical, v1)"


class MTEBDataUnavailableError(ValueError):
    """An MTEB task was asked for by name but its data cannot be fetched (the Hugging Face Hub is unreachable)."""


def _task_class_name(name: str) -> str:
    words = re.split(r"[^0-9a-zA-Z]+", name)
    return "Local" + "".join(word[:1].upper() + word[1:] for word in words if word) + "Retrieval"


def beir_retrieval_task(data: BeirData, *, task_name: str | None = None):
    """An MTEB ``AbsTaskRetrieval`` whose data are ``data`` (no download), so that ``mteb.evaluate`` scores a local
    BEIR folder with MTEB's own retrieval evaluation (graded nDCG through pytrec_eval) and the numbers are
    comparable with MTEB's.

    Args:
        data: The split to evaluate.
        task_name: The task name in MTEB's results (default: ``Local<Name>Retrieval``). Custom names are not valid
            keys of a model's ``prompts``: a model's ``"query"``/``"document"`` (or ``"Retrieval-query"``) prompts
            apply.
    """
    from datasets import Dataset
    from mteb import TaskMetadata
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    name = task_name or _task_class_name(data.name)
    metadata = TaskMetadata(
        name=name,
        description=f"Local BEIR folder {data.name!r}, split {data.split!r} ({len(data.queries)} queries, "
        f"{len(data.corpus)} documents), loaded by sbert_med.evaluation.load_beir",
        reference=None,
        dataset={"path": f"local/{data.name}", "revision": "local"},  # never fetched: load_data is overridden
        type="Retrieval",
        category="t2t",
        modalities=["text"],
        eval_splits=[data.split],
        eval_langs=["eng-Latn"],
        main_score="ndcg_at_10",
        date=None,
        domains=["Medical"],
        task_subtypes=[],
        license="not specified",
        annotations_creators="expert-annotated",
        dialect=[],
        sample_creation="found",
        bibtex_citation="",
    )

    def load_data(self, num_proc=None, **kwargs) -> None:
        if self.data_loaded:
            return
        corpus = Dataset.from_dict({
            "id": list(data.corpus),
            "title": [data.titles.get(cid, "") for cid in data.corpus],
            "text": [data.texts.get(cid, data.corpus[cid]) for cid in data.corpus],
        })
        queries = Dataset.from_dict({"id": list(data.queries), "text": list(data.queries.values())})
        relevant = {qid: dict(docs) for qid, docs in data.qrels.items()}
        split = RetrievalSplitData(queries=queries, corpus=corpus, relevant_docs=relevant, top_ranked=None)
        self.dataset = {"default": {data.split: split}}
        self.data_loaded = True

    task_class = type(_task_class_name(data.name), (AbsTaskRetrieval,), {"metadata": metadata, "load_data": load_data})
    return task_class()


def mteb_tasks_by_name(name: str) -> list:
    """MTEB's own task(s) called ``name`` (a task such as ``"BIOSSES"``, or the benchmark ``"MTEB(Medical, v1)"``),
    with their data loaded.

    Raises:
        ValueError: ``name`` is neither an MTEB task nor an MTEB benchmark.
        MTEBDataUnavailableError: The task's data cannot be downloaded (the Hugging Face Hub is unreachable).
            Nothing is faked: evaluate a local BEIR folder instead.
    """
    import mteb

    try:
        tasks = list(mteb.get_benchmark(name).tasks) if name.startswith("MTEB(") else [mteb.get_task(name)]
    except (KeyError, ValueError) as exc:
        raise ValueError(
            f"{name!r} is neither a local task folder nor an MTEB task or benchmark "
            f"(medical MTEB tasks: {list(MEDICAL_MTEB_TASKS)}, benchmark: {MEDICAL_MTEB_BENCHMARK!r}): {exc}"
        ) from None
    for task in tasks:
        try:
            task.load_data()
        except (ConnectionError, OSError) as exc:
            path = task.metadata.dataset.get("path", "?")
            raise MTEBDataUnavailableError(
                f"MTEB task {task.metadata.name!r} needs its data from the Hugging Face Hub ({path!r}), which is "
                f"unreachable here ({type(exc).__name__}: {exc}). Run with Hub access, or put the data in a local "
                f"BEIR folder and pass its name with --data-dir."
            ) from exc
    return tasks
