"""Markdown tables for a model card from ``sbert-med eval`` results (``{model: {task: {metric: value}}}``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EFFICIENCY_TASK = "efficiency"
MAIN_METRICS = ("ndcg_at_10", "spearman", "main_score")
EFFICIENCY_COLUMNS = ("query_batched_per_s", "query_b1_p50_ms", "document_batched_per_s")

Results = dict[str, dict[str, dict[str, float]]]


def load_eval_results(results: Results | str | Path) -> Results:
    """Validate eval results given as a dict or as the path of ``sbert-med eval``'s ``results.json``."""
    where = "eval_results"
    if isinstance(results, (str, Path)):
        path = Path(results)
        if path.is_dir():
            path = path / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"eval results not found: {results}")
        where = str(path)
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    if not isinstance(results, dict):
        raise ValueError(f"{where} must map model -> task -> metric -> value, got {type(results).__name__}")
    for model, tasks in results.items():
        if not isinstance(tasks, dict):
            raise ValueError(f"{where}: results of model {model!r} must be a dict of tasks, got {tasks!r}")
        for task, metrics in tasks.items():
            if not isinstance(metrics, dict):
                raise ValueError(f"{where}: {model!r} / {task!r} must be a dict of metrics, got {metrics!r}")
            for metric, value in metrics.items():
                if value is not None and not isinstance(value, (int, float)):
                    raise ValueError(f"{where}: {model!r} / {task!r} / {metric!r} must be a number, got {value!r}")
    return results


def _main_metric(results: Results, task: str) -> str | None:
    for metric in MAIN_METRICS:
        if any(metric in tasks.get(task, {}) for tasks in results.values()):
            return metric
    return None


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"


def _table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    align = "|".join(":---" if i < text_columns else "---:" for i in range(len(header)))
    lines = ["| " + " | ".join(header) + " |", "|" + align + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def eval_tables(results: Results) -> dict[str, str]:
    """``{"quality": ..., "matryoshka": ..., "efficiency": ...}`` Markdown tables (empty strings when no data).

    ``quality``: one row per model, the headline metric of each task (nDCG@10 for retrieval, Spearman for STS).
    ``matryoshka``: the ``task@dim`` entries. ``efficiency``: the speed entry of ``sbert-med eval``.
    """
    tasks: dict[str, None] = {}
    dims: dict[str, None] = {}
    for model_tasks in results.values():
        for task in model_tasks:
            if task == EFFICIENCY_TASK:
                continue
            (dims if "@" in task else tasks).setdefault(task, None)
    out = {"quality": "", "matryoshka": "", "efficiency": ""}
    if tasks:
        metrics = {task: _main_metric(results, task) for task in tasks}
        header = ["Model"] + [f"{task} ({metrics[task] or '?'})" for task in tasks]
        rows = [[model] + [_fmt(results[model].get(task, {}).get(metrics[task])) for task in tasks]
                for model in results]
        out["quality"] = _table(header, rows)
    if dims:
        rows = []
        for model in results:
            for entry in dims:
                if entry in results[model]:
                    metric = _main_metric(results, entry)
                    task, dim = entry.split("@", 1)
                    rows.append([model, task, dim, _fmt(results[model][entry].get(metric))])
        out["matryoshka"] = _table(["Model", "Task", "Dimensions", "Score"], rows, text_columns=2)
    speed = {model: tasks[EFFICIENCY_TASK] for model, tasks in results.items() if EFFICIENCY_TASK in tasks}
    if speed:
        header = ["Model", "Queries/s (batched)", "Query latency p50 (ms, batch 1)", "Documents/s (batched)"]
        rows = [[model] + [_fmt(values.get(col)) for col in EFFICIENCY_COLUMNS] for model, values in speed.items()]
        out["efficiency"] = _table(header, rows)
    return out
