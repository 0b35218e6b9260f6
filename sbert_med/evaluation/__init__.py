"""Evaluation: local BEIR data, MTEB-comparable retrieval, STS, paraphrase Acc@K, efficiency, reports and plots."""

from __future__ import annotations

from sbert_med.evaluation.beir_data import BeirData, load_beir
from sbert_med.evaluation.cached_encoder import CachedSentenceTransformerEncoder, EmbeddingStore
from sbert_med.evaluation.efficiency import measure_efficiency, measure_route_speed
from sbert_med.evaluation.ir_evaluator import ir_evaluator
from sbert_med.evaluation.mteb_tasks import MTEBDataUnavailableError, beir_retrieval_task, mteb_tasks_by_name
from sbert_med.evaluation.paraphrase import paraphrase_accuracy
from sbert_med.evaluation.report import markdown_table, plot_matryoshka, plot_quality_vs_speed, write_report
from sbert_med.evaluation.retrieval import evaluate_retrieval
from sbert_med.evaluation.sts import STSData, evaluate_sts, load_sts_tsv
from sbert_med.evaluation.suite import evaluate_models
from sbert_med.evaluation.task_spec import TaskSpec

__all__ = [
    "BeirData",
    "CachedSentenceTransformerEncoder",
    "EmbeddingStore",
    "MTEBDataUnavailableError",
    "STSData",
    "TaskSpec",
    "beir_retrieval_task",
    "evaluate_models",
    "evaluate_retrieval",
    "evaluate_sts",
    "ir_evaluator",
    "load_beir",
    "load_sts_tsv",
    "markdown_table",
    "measure_efficiency",
    "measure_route_speed",
    "mteb_tasks_by_name",
    "paraphrase_accuracy",
    "plot_matryoshka",
    "plot_quality_vs_speed",
    "write_report",
]
