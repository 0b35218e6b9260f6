"""The recipes' dev-set retrieval evaluator and its metric names (used by the recipes, the demo and the benchmarks)."""

from __future__ import annotations

from typing import Any

__all__ = ["ir_evaluator", "last_logged_metrics", "short_metrics"]


def ir_evaluator(split, *, name: str, batch_size: int = 32, show_progress_bar: bool = False, **kwargs: Any):
    """:func:`sbert_med.evaluation.ir_evaluator` with the recipes' metric set (nDCG/MRR@10, Acc@1/5/10, P/R@10/100,
    MAP@100) for a :class:`~sbert_med.data.beir.BeirData`."""
    from sbert_med.evaluation import ir_evaluator as beir_ir_evaluator

    kwargs.setdefault("mrr_at_k", [10])
    kwargs.setdefault("ndcg_at_k", [10])
    kwargs.setdefault("accuracy_at_k", [1, 5, 10])
    kwargs.setdefault("precision_recall_at_k", [10, 100])
    kwargs.setdefault("map_at_k", [100])
    return beir_ir_evaluator(split, name=name, batch_size=batch_size, show_progress_bar=show_progress_bar, **kwargs)


def short_metrics(results: dict[str, float], name: str) -> dict[str, float]:
    """Strip ``{name}_{score_fn}_`` from evaluator keys: ``{"ndcg@10": ..., "mrr@10": ...}``."""
    out = {}
    for key, value in results.items():
        rest = key[len(name) + 1 :] if key.startswith(name + "_") else key
        metric = rest.split("_", 1)[1] if "_" in rest else rest
        out[metric] = float(value)
    return out


def last_logged_metrics(trainer, name: str) -> dict[str, float] | None:
    """The evaluator ``name``'s metrics logged at the trainer's last step, if it evaluated there (saves a pass)."""
    prefix = f"eval_{name}_"
    for entry in reversed(trainer.state.log_history):
        if any(key.startswith(prefix) for key in entry):
            if entry.get("step") != trainer.state.global_step:
                return None
            return short_metrics({k[len("eval_") :]: v for k, v in entry.items() if k.startswith(prefix)}, name)
    return None
