"""Evaluation: sentence-transformers evaluators for MTEB-comparable retrieval, STS and paraphrase Acc@K (usable as
``evaluator=`` in any trainer), the thin functions over them, the model suite, efficiency, reports and plots.

Names are imported on first use, so ``from sbert_med.evaluation import ir_evaluator`` does not import mteb.
Local BEIR folders are read with :func:`sbert_med.data.load_beir`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ir_evaluator": "ir_evaluator",
    "CachedSentenceTransformerEncoder": "cached_encoder",
    "measure_efficiency": "efficiency",
    "measure_route_speed": "efficiency",
    "MTEBDataUnavailableError": "mteb_tasks",
    "beir_retrieval_task": "mteb_tasks",
    "mteb_tasks_by_name": "mteb_tasks",
    "paraphrase_accuracy": "paraphrase",
    "ParaphraseAccuracyEvaluator": "paraphrase_evaluator",
    "paired_bootstrap": "paired",
    "paired_bootstrap_over_datasets": "paired",
    "per_query_ndcg": "paired",
    "RetrievalEvaluator": "retrieval_evaluator",
    "STSEvaluator": "sts_evaluator",
    "sts_evaluator": "sts",
    "markdown_table": "report",
    "plot_matryoshka": "report",
    "plot_quality_vs_speed": "report",
    "write_report": "report",
    "evaluate_retrieval": "retrieval",
    "STSData": "sts",
    "evaluate_sts": "sts",
    "load_sts_tsv": "sts",
    "evaluate_models": "suite",
    "TaskSpec": "task_spec",
}

__all__ = [
    "CachedSentenceTransformerEncoder",
    "ParaphraseAccuracyEvaluator",
    "RetrievalEvaluator",
    "STSEvaluator",
    "sts_evaluator",
    "MTEBDataUnavailableError",
    "STSData",
    "TaskSpec",
    "beir_retrieval_task",
    "evaluate_models",
    "evaluate_retrieval",
    "evaluate_sts",
    "ir_evaluator",
    "load_sts_tsv",
    "markdown_table",
    "measure_efficiency",
    "measure_route_speed",
    "mteb_tasks_by_name",
    "paired_bootstrap",
    "paired_bootstrap_over_datasets",
    "paraphrase_accuracy",
    "per_query_ndcg",
    "plot_matryoshka",
    "plot_quality_vs_speed",
    "write_report",
]

if TYPE_CHECKING:
    from sbert_med.evaluation.cached_encoder import CachedSentenceTransformerEncoder
    from sbert_med.evaluation.efficiency import measure_efficiency, measure_route_speed
    from sbert_med.evaluation.ir_evaluator import ir_evaluator
    from sbert_med.evaluation.mteb_tasks import MTEBDataUnavailableError, beir_retrieval_task, mteb_tasks_by_name
    from sbert_med.evaluation.paired import paired_bootstrap, per_query_ndcg
    from sbert_med.evaluation.paraphrase import paraphrase_accuracy
    from sbert_med.evaluation.paraphrase_evaluator import ParaphraseAccuracyEvaluator
    from sbert_med.evaluation.report import markdown_table, plot_matryoshka, plot_quality_vs_speed, write_report
    from sbert_med.evaluation.retrieval import evaluate_retrieval
    from sbert_med.evaluation.retrieval_evaluator import RetrievalEvaluator
    from sbert_med.evaluation.sts import STSData, evaluate_sts, load_sts_tsv, sts_evaluator
    from sbert_med.evaluation.sts_evaluator import STSEvaluator
    from sbert_med.evaluation.suite import evaluate_models
    from sbert_med.evaluation.task_spec import TaskSpec


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
