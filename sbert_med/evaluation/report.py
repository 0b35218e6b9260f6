"""The one results-table helper: ``sbert-med eval`` results (``{model: {task: {metric: value}}}``) as a JSON file,
Markdown tables (for ``results.md`` and for model cards) and PNG plots."""

from __future__ import annotations

import json
import logging
import math
import textwrap
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Results = dict[str, dict[str, dict[str, float | None]]]

EFFICIENCY_TASK = "efficiency"
#: The headline metric of each kind of task in the results JSON (retrieval, STS, paraphrase, MTEB's own).
MAIN_METRICS = ("ndcg@10", "spearman", "acc@1", "main_score")
EFFICIENCY_COLUMNS = ("query_batched_per_s", "query_b1_p50_ms", "document_batched_per_s")


def metric_key(name: str) -> str:
    """sbert_med's metric key of ``name``: MTEB-style ``ndcg_at_10`` -> ``ndcg@10`` (other names unchanged)."""
    return name.replace("_at_", "@") if "_at_" in name else name


def main_metric(scores: dict[str, float | None]) -> str | None:
    """The headline metric present in ``scores`` (``ndcg@10`` for retrieval, ``spearman`` for STS), else the first
    metric that holds a value (so a table never shows "–" for a task whose scores are there)."""
    found = next((metric for metric in MAIN_METRICS if metric in scores), None)
    return found or next((metric for metric, value in scores.items() if value is not None), None)


def quality_tasks(results: Results) -> list[str]:
    """Task names in first-seen order, without the efficiency entry and the Matryoshka ``task@dim`` entries."""
    seen: dict[str, None] = {}
    for tasks in results.values():
        for task in tasks:
            if task != EFFICIENCY_TASK and "@" not in task:
                seen.setdefault(task, None)
    return list(seen)


def mean_retrieval_score(tasks: dict[str, dict[str, float]], names: list[str]) -> float | None:
    """Mean nDCG@10 over ``names`` (None if one is missing)."""
    values = [tasks.get(name, {}).get("ndcg@10") for name in names]
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def undefined_values(results: Results) -> list[str]:
    """``model / task / metric`` of every value that is not a finite number (NaN, inf)."""
    return [f"{model} / {task} / {metric}" for model, tasks in results.items() for task, metrics in tasks.items()
            for metric, value in metrics.items()
            if isinstance(value, float) and not math.isfinite(value)]


def json_safe(results: Results) -> Results:
    """``results`` with every NaN / inf replaced by ``None`` (JSON has no NaN: ``null`` is written instead)."""
    return {model: {task: {metric: (None if isinstance(value, float) and not math.isfinite(value) else value)
                           for metric, value in metrics.items()} for task, metrics in tasks.items()}
            for model, tasks in results.items()}


def write_results_json(results: Results, path: str | Path) -> list[str]:
    """Write ``{model: {task: {metric: value}}}`` atomically as valid JSON; an undefined value (NaN, e.g. the
    Spearman correlation of constant similarities) is written as ``null`` and returned as a note."""
    path = Path(path)
    notes = [f"{where} is undefined (NaN): written as null" for where in undefined_values(results)]
    for note in notes:
        logger.warning("%s", note)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(json_safe(results), indent=2, sort_keys=False, allow_nan=False) + "\n")
    tmp.replace(path)
    return notes


def load_eval_results(results: Results | str | Path) -> Results:
    """Validate eval results given as a dict or as the path of ``sbert-med eval``'s ``results.json``; MTEB-style
    metric names (``ndcg_at_10``) are read as sbert_med's (``ndcg@10``)."""
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
    out: Results = {}
    for model, tasks in results.items():
        if not isinstance(tasks, dict):
            raise ValueError(f"{where}: results of model {model!r} must be a dict of tasks, got {tasks!r}")
        out[model] = {}
        for task, metrics in tasks.items():
            if not isinstance(metrics, dict):
                raise ValueError(f"{where}: {model!r} / {task!r} must be a dict of metrics, got {metrics!r}")
            for metric, value in metrics.items():
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise ValueError(f"{where}: {model!r} / {task!r} / {metric!r} must be a number, got {value!r}")
            out[model][task] = {metric_key(metric): value for metric, value in metrics.items()}
    return out


def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _fmt_speed(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def markdown_table(results: Results, *, reference: str | None = None) -> str:
    """A Markdown table: one row per model, the headline metric of each task, mean nDCG@10 over the retrieval tasks,
    and the speed of each route (batched texts/s, batch-1 p50 latency) with the query speed as a ratio to
    ``reference`` (default: the first model that is not ``bm25``)."""
    tasks = quality_tasks(results)
    retrieval = [t for t in tasks if any("ndcg@10" in results[m].get(t, {}) for m in results)]
    if reference is None:
        reference = next((m for m in results if m != "bm25" and EFFICIENCY_TASK in results[m]), None)
    ref_speed = results.get(reference, {}).get(EFFICIENCY_TASK, {}).get("query_batched_per_s") if reference else None

    header = ["model"]
    for task in tasks:
        metric = next((main_metric(results[m][task]) for m in results if task in results[m]), None)
        header.append(f"{task} {metric.replace('ndcg@10', 'nDCG@10') if metric else ''}".strip())
    if len(retrieval) > 1:
        header.append("mean nDCG@10")
    header += ["query/s (batched)", "query p50 ms (batch 1)", "doc/s (batched)", "doc p50 ms (batch 1)"]
    if ref_speed:
        header.append(f"query speed × {reference}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, model_tasks in results.items():
        row = [model]
        for task in tasks:
            scores = model_tasks.get(task, {})
            metric = main_metric(scores)
            row.append(_fmt(scores.get(metric)) if metric else "–")
        if len(retrieval) > 1:
            row.append(_fmt(mean_retrieval_score(model_tasks, retrieval)))
        speed = model_tasks.get(EFFICIENCY_TASK, {})
        row += [_fmt_speed(speed.get("query_batched_per_s")), _fmt(speed.get("query_b1_p50_ms"), 1),
                _fmt_speed(speed.get("document_batched_per_s")), _fmt(speed.get("document_b1_p50_ms"), 1)]
        if ref_speed:
            q = speed.get("query_batched_per_s")
            row.append("–" if q is None else f"{q / ref_speed:.2f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot_quality_vs_speed(results: Results, path: str | Path, *, note: str = "") -> Path | None:
    """Mean nDCG@10 (y) against query-route throughput (x, log scale): one labelled point per model."""
    plt = _pyplot()

    tasks = quality_tasks(results)
    retrieval = [t for t in tasks if all("ndcg@10" in results[m].get(t, {}) for m in results)]
    points = []
    for model, model_tasks in results.items():
        speed = model_tasks.get(EFFICIENCY_TASK, {}).get("query_batched_per_s")
        quality = mean_retrieval_score(model_tasks, retrieval)
        if speed and quality is not None:
            points.append((model, speed, quality, model_tasks[EFFICIENCY_TASK].get("query_b1_p50_ms")))
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5))
    colors = plt.cm.tab10.colors
    fastest = max(p[1] for p in points)
    for i, (model, speed, quality, p50) in enumerate(points):
        ax.scatter(speed, quality, s=140, color=colors[i % 10], edgecolor="black", zorder=3)
        latency = None if p50 is None else f"{p50:,.0f}" if p50 >= 10 else f"{p50:.2g}"
        label = model if latency is None else f"{model}\n({latency} ms/query at batch 1)"
        left = speed == fastest and len(points) > 1  # keep the right-most label inside the axes
        ax.annotate(label, (speed, quality), textcoords="offset points", xytext=(-9 if left else 9, 6),
                    ha="right" if left else "left", fontsize=9)
    ax.set_xscale("log")
    xs = [p[1] for p in points]
    ax.set_xlim(min(xs) / 2.5, max(xs) * 6)
    ys = [p[2] for p in points]
    pad = max(0.02, (max(ys) - min(ys)) * 0.15)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.set_xlabel("query throughput (queries/s, query route, batched) — log scale")
    ax.set_ylabel(f"mean nDCG@10 over {len(retrieval)} retrieval task(s)")
    ax.set_title("Quality vs query speed (up and right is better)")
    ax.grid(True, which="both", alpha=0.3)
    return _save_figure(fig, path, retrieval, note) if retrieval or note else _save_figure(fig, path)


def matryoshka_curves(results: Results, full_dims: dict[str, int] | None = None) -> dict[str, dict[int, float]]:
    """{model: {dim: mean nDCG@10}} from the ``task@dim`` entries (plus the full size from ``full_dims``)."""
    swept = {model: {task.rsplit("@", 1)[0] for task, scores in model_tasks.items()
                     if "@" in task and "ndcg@10" in scores} for model, model_tasks in results.items()}
    swept = {model: bases for model, bases in swept.items() if bases}
    common = set.intersection(*swept.values()) if swept else set()  # the same tasks for every curve
    curves: dict[str, dict[int, float]] = {}
    for model in swept:
        model_tasks = results[model]
        by_dim: dict[int, list[float]] = {}
        for task, scores in model_tasks.items():
            if "@" in task and task.rsplit("@", 1)[0] in common and "ndcg@10" in scores:
                by_dim.setdefault(int(task.rsplit("@", 1)[1]), []).append(scores["ndcg@10"])
        bases = common
        n = len(bases)
        curve = {dim: sum(v) / n for dim, v in by_dim.items() if n and len(v) == n}
        if not curve:
            continue
        full = (full_dims or {}).get(model)
        full_score = mean_retrieval_score(model_tasks, sorted(bases))
        if full and full_score is not None:
            curve[full] = full_score
        curves[model] = dict(sorted(curve.items()))
    return curves


def plot_matryoshka(
    results: Results, path: str | Path, *, full_dims: dict[str, int] | None = None, note: str = ""
) -> Path | None:
    """Mean nDCG@10 against the embedding size kept (``truncate_dim``), one line per model."""
    plt = _pyplot()

    curves = matryoshka_curves(results, full_dims)
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for model, curve in curves.items():
        dims = list(curve)
        ax.plot(dims, [curve[d] for d in dims], marker="o", label=model)
        ax.annotate(f"{curve[dims[-1]]:.3f}", (dims[-1], curve[dims[-1]]), textcoords="offset points",
                    xytext=(5, -3), fontsize=8)
    all_dims = sorted({d for curve in curves.values() for d in curve})
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_dims)
    ax.set_xticklabels([str(d) for d in all_dims])
    ax.set_xlabel("embedding dimensions kept (truncate_dim)")
    common = set.intersection(*({t.rsplit("@", 1)[0] for t in results[m] if "@" in t} for m in curves))
    ax.set_ylabel(f"mean nDCG@10 over {len(common)} retrieval task(s)")
    ax.set_title("Matryoshka: quality vs embedding size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save_figure(fig, path, sorted(common), note)


def _pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend (plots are written to files, never shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path, tasks=None, note: str | None = None) -> Path:
    """Write ``fig`` to ``path`` (PNG) with a footer naming the tasks and the note, when given, and close it."""
    plt = _pyplot()

    if tasks is not None:
        text = ("tasks: " + ", ".join(tasks)) + (f"\n{textwrap.fill(note, 125)}" if note else "")
        fig.text(0.01, 0.01, text, fontsize=7.5, va="bottom")
        fig.subplots_adjust(bottom=0.22)
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def write_report(results: Results, out_dir: str | Path, *, full_dims: dict[str, int] | None = None,
                 note: str = "", **table_kwargs: Any) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and the PNG plots into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": out_dir / "results.json", "markdown": out_dir / "results.md"}
    write_results_json(results, files["json"])
    files["markdown"].write_text(markdown_table(json_safe(results), **table_kwargs))
    results = json_safe(results)
    speed_plot = plot_quality_vs_speed(results, out_dir / "quality_vs_speed.png", note=note)
    if speed_plot:
        files["quality_vs_speed"] = speed_plot
    mrl_plot = plot_matryoshka(results, out_dir / "matryoshka.png", full_dims=full_dims, note=note)
    if mrl_plot:
        files["matryoshka"] = mrl_plot
    return files


# ---- tables for model cards ------------------------------------------------------------------------------------
def _card_metric(results: Results, task: str) -> str | None:
    for model_tasks in results.values():
        metric = main_metric(model_tasks.get(task, {}))
        if metric is not None:
            return metric
    return None


def _card_fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"


def _card_table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    align = "|".join(":---" if i < text_columns else "---:" for i in range(len(header)))
    lines = ["| " + " | ".join(header) + " |", "|" + align + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def eval_tables(results: Results) -> dict[str, str]:
    """``{"quality": ..., "matryoshka": ..., "efficiency": ...}`` Markdown tables for a model card (empty strings when
    there is no data).

    ``quality``: one row per model, the headline metric of each task (nDCG@10 for retrieval, Spearman for STS, else
    the first metric the task holds). ``matryoshka``: the ``task@dim`` entries. ``efficiency``: the speed entry.
    """
    results = json_safe(load_eval_results(results))
    tasks: dict[str, None] = {}
    dims: dict[str, None] = {}
    for model_tasks in results.values():
        for task in model_tasks:
            if task == EFFICIENCY_TASK:
                continue
            (dims if "@" in task else tasks).setdefault(task, None)
    out = {"quality": "", "matryoshka": "", "efficiency": ""}
    if tasks:
        metrics = {task: _card_metric(results, task) for task in tasks}
        header = ["Model"] + [f"{task} ({metrics[task] or '?'})" for task in tasks]
        rows = [[model] + [_card_fmt(results[model].get(task, {}).get(metrics[task])) for task in tasks]
                for model in results]
        out["quality"] = _card_table(header, rows)
    if dims:
        rows = []
        for model in results:
            for entry in dims:
                if entry in results[model]:
                    metric = _card_metric(results, entry)
                    task, dim = entry.split("@", 1)
                    rows.append([model, task, dim, _card_fmt(results[model][entry].get(metric))])
        out["matryoshka"] = _card_table(["Model", "Task", "Dimensions", "Score"], rows, text_columns=2)
    speed = {model: tasks[EFFICIENCY_TASK] for model, tasks in results.items() if EFFICIENCY_TASK in tasks}
    if speed:
        header = ["Model", "Queries/s (batched)", "Query latency p50 (ms, batch 1)", "Documents/s (batched)"]
        rows = [[model] + [_card_fmt(values.get(col)) for col in EFFICIENCY_COLUMNS]
                for model, values in speed.items()]
        out["efficiency"] = _card_table(header, rows)
    return out
