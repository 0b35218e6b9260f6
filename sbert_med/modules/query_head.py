"""A linear head at the end of a query route, fitted in closed form to a frozen tower's vectors.

A query encoder and a document tower trained apart put texts in unrelated spaces: before any alignment the query
route's vectors are a rotation (at best) away from the document tower's. Gradient descent on the whole encoder
finds that rotation slowly (see BENCHMARKS.md, "MAR"). A ``Dense`` head fitted by ridge regression on the query
route's own outputs against the document tower's cached vectors of the same texts finds the best linear map in
one solve; Stage I then fine-tunes the encoder and the head together from there. The head is sentence-transformers'
built-in ``Dense`` (identity activation), so the model still reloads with plain ``SentenceTransformer(path)``.

This head is ours: the MAR paper has no head on the query tower (its query and document widths meet by Matryoshka
truncation alone).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense

from sbert_med.modules.routes import get_router, route_width

logger = logging.getLogger(__name__)

__all__ = ["attach_query_head", "fit_linear_head", "head_input_width"]


def fit_linear_head(inputs: np.ndarray, targets: np.ndarray, *, ridge: float = 1e-3) -> Dense:
    """The ``Dense`` (with bias, identity activation) minimising ``||inputs @ W + b - targets||^2 + lam ||W||^2``.

    Args:
        inputs: ``(N, d_in)`` vectors the head will receive (the route's output before the head).
        targets: ``(N, d_out)`` vectors it should produce (the frozen tower's normalised vectors).
        ridge: ``lam`` relative to the mean squared norm of the centred inputs' dimensions (scale-free). Ours.

    Raises:
        ValueError: On mismatched rows, non-finite values, fewer texts than input dimensions, or a negative ridge.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if inputs.ndim != 2 or targets.ndim != 2 or len(inputs) != len(targets):
        raise ValueError(f"inputs and targets must be 2-d with the same rows, got {inputs.shape} and {targets.shape}")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    if len(inputs) <= inputs.shape[1]:
        raise ValueError(
            f"a linear head of {inputs.shape[1]} inputs needs more texts than that to fit, got {len(inputs)}"
        )
    if not (np.isfinite(inputs).all() and np.isfinite(targets).all()):
        raise ValueError("inputs or targets hold NaN or infinite values")
    in_mean, out_mean = inputs.mean(axis=0), targets.mean(axis=0)
    x, y = inputs - in_mean, targets - out_mean
    gram = x.T @ x
    lam = ridge * np.trace(gram) / gram.shape[0]
    weight = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), x.T @ y)  # (d_in, d_out)
    bias = out_mean - in_mean @ weight
    return Dense(
        inputs.shape[1],
        targets.shape[1],
        bias=True,
        activation_function=None,
        init_weight=torch.tensor(weight.T, dtype=torch.float32),
        init_bias=torch.tensor(bias, dtype=torch.float32),
    )


def _route_outputs(
    modules: Sequence[torch.nn.Module], texts: list[str], *, batch_size: int, show_progress_bar: bool = False
) -> np.ndarray:
    """The un-normalised output of ``modules`` for ``texts``, in inference mode."""
    modes = [(module, module.training) for route_module in modules for module in route_module.modules()]
    plain = SentenceTransformer(modules=list(modules), device=str(next(iter(modules[0].parameters())).device))
    plain.eval()
    try:
        return plain.encode(
            texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=False,
            show_progress_bar=show_progress_bar,
        )
    finally:  # the modules are shared with the caller's model: leave each in the mode it was in
        for module, training in modes:
            module.training = training


def _replaces_last_dense(modules: Sequence[torch.nn.Module], target_width: int | None) -> bool:
    """Whether a head fitted on this route replaces its final ``Dense`` (the ``project`` bridge) or is appended."""
    last = modules[-1]
    return (isinstance(last, Dense) and len(modules) > 1
            and (target_width is None or last.out_features == target_width))


def head_input_width(model: SentenceTransformer, route: str = "query", target_width: int | None = None) -> int | None:
    """The width of what a head fitted on ``route`` receives (:func:`attach_query_head`): the input width of the
    route's final ``Dense`` where the head replaces it, else the route's output width (``None`` when unknown).
    A fit needs more texts than this."""
    router = get_router(model)
    if router is None or route not in router.sub_modules:
        return None
    modules = list(router.sub_modules[route])
    if _replaces_last_dense(modules, target_width):
        return modules[-1].in_features
    return route_width(modules)


def attach_query_head(
    model: SentenceTransformer,
    texts: list[str],
    targets: np.ndarray,
    *,
    route: str = "query",
    ridge: float = 1e-3,
    batch_size: int = 64,
    show_progress_bar: bool = False,
) -> dict[str, float]:
    """Fit a linear head on ``route``'s outputs of ``texts`` against ``targets`` and put it at the end of the route.

    A route that already ends in a ``Dense`` of the target width (the ``project`` bridge) gets that layer's weights
    replaced; any other route gets a new ``Dense`` appended. Returns the fit's figures: the mean cosine between the
    head's outputs and the targets before (the route as it was, where widths agree) and after.

    Raises:
        ValueError: If ``model`` has no Router or no such route, or on the conditions of :func:`fit_linear_head`.
    """
    router = get_router(model)
    if router is None or route not in router.sub_modules:
        names = sorted(router.sub_modules) if router is not None else []
        raise ValueError(f"route must be one of {names} of an asymmetric (Router) model, got {route!r}")
    sequence = router.sub_modules[route]
    modules = list(sequence)
    targets = np.asarray(targets, dtype=np.float32)
    replace = _replaces_last_dense(modules, targets.shape[1])
    base = modules[:-1] if replace else modules
    inputs = _route_outputs(base, texts, batch_size=batch_size, show_progress_bar=show_progress_bar)
    if replace:  # the route's current output is the old Dense applied to the same inputs: no second pass
        before = _mean_cosine(_apply(modules[-1], inputs), targets)
    else:
        before = _mean_cosine(inputs, targets) if route_width(modules) == targets.shape[1] else float("nan")
    head = fit_linear_head(inputs, targets, ridge=ridge)
    after = _mean_cosine(_apply(head, inputs), targets)
    device = next(iter(modules[0].parameters())).device
    head.to(device)
    if replace:
        modules[-1].linear.load_state_dict(head.linear.state_dict())
    else:
        sequence.append(head)
    logger.info("linear query head (%s, %d texts): mean cosine to the targets %.4f -> %.4f",
                "replaced" if replace else "appended", len(texts), before, after)
    return {"texts": len(texts), "mean_cosine_before": before, "mean_cosine_after": after,
            "head": "replaced" if replace else "appended"}


def _apply(dense: Dense, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        features = {dense.module_input_name: torch.from_numpy(inputs).to(dense.linear.weight.device)}
        return dense(features)[dense.module_output_name].cpu().numpy()


def _mean_cosine(vectors: np.ndarray, targets: np.ndarray) -> float:
    vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    targets = targets / np.clip(np.linalg.norm(targets, axis=1, keepdims=True), 1e-12, None)
    return float((vectors * targets).sum(axis=1).mean())
