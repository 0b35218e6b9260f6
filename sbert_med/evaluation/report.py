"""Reports of a suite run: the results JSON, a Markdown table and PNG plots."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

Results = dict[str, dict[str, dict[str, float]]]

EFFICIENCY_TASK = "efficiency"
#: The headline metric of each kind of task in the results JSON.
MAIN_METRICS = ("ndcg_at_10", "spearman", "main_score")


def main_metric(scores: dict[str, float]) -> str | None:
    """The headline metric present in ``scores`` (``ndcg_at_10`` for retrieval, ``spearman`` for STS)."""
    return next((metric for metric in MAIN_METRICS if metric in scores), None)


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
    values = [tasks.get(name, {}).get("ndcg_at_10") for name in names]
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def write_results_json(results: Results, path: str | Path) -> None:
    """Write ``{model: {task: {metric: value}}}`` atomically."""
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


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
    retrieval = [t for t in tasks if any("ndcg_at_10" in results[m].get(t, {}) for m in results)]
    if reference is None:
        reference = next((m for m in results if m != "bm25" and EFFICIENCY_TASK in results[m]), None)
    ref_speed = results.get(reference, {}).get(EFFICIENCY_TASK, {}).get("query_batched_per_s") if reference else None

    header = ["model"]
    for task in tasks:
        metric = next((main_metric(results[m][task]) for m in results if task in results[m]), None)
        header.append(f"{task} {metric.replace('ndcg_at_10', 'nDCG@10') if metric else ''}".strip())
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = quality_tasks(results)
    retrieval = [t for t in tasks if all("ndcg_at_10" in results[m].get(t, {}) for m in results)]
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
    if retrieval or note:
        text = ("tasks: " + ", ".join(retrieval)) + (f"\n{textwrap.fill(note, 125)}" if note else "")
        fig.text(0.01, 0.01, text, fontsize=7.5, va="bottom")
        fig.subplots_adjust(bottom=0.22)
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def matryoshka_curves(results: Results, full_dims: dict[str, int] | None = None) -> dict[str, dict[int, float]]:
    """{model: {dim: mean nDCG@10}} from the ``task@dim`` entries (plus the full size from ``full_dims``)."""
    swept = {model: {task.rsplit("@", 1)[0] for task, scores in model_tasks.items()
                     if "@" in task and "ndcg_at_10" in scores} for model, model_tasks in results.items()}
    swept = {model: bases for model, bases in swept.items() if bases}
    common = set.intersection(*swept.values()) if swept else set()  # the same tasks for every curve
    curves: dict[str, dict[int, float]] = {}
    for model in swept:
        model_tasks = results[model]
        by_dim: dict[int, list[float]] = {}
        for task, scores in model_tasks.items():
            if "@" in task and task.rsplit("@", 1)[0] in common and "ndcg_at_10" in scores:
                by_dim.setdefault(int(task.rsplit("@", 1)[1]), []).append(scores["ndcg_at_10"])
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    text = f"tasks: {', '.join(sorted(common))}" + (f"\n{textwrap.fill(note, 125)}" if note else "")
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
    files["markdown"].write_text(markdown_table(results, **table_kwargs))
    speed_plot = plot_quality_vs_speed(results, out_dir / "quality_vs_speed.png", note=note)
    if speed_plot:
        files["quality_vs_speed"] = speed_plot
    mrl_plot = plot_matryoshka(results, out_dir / "matryoshka.png", full_dims=full_dims, note=note)
    if mrl_plot:
        files["matryoshka"] = mrl_plot
    return files
