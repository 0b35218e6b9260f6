"""Freeze or unfreeze one tower; a frozen tower stays in eval mode (no dropout) while the rest trains."""

from __future__ import annotations

import logging
import types

import torch
from sentence_transformers import SentenceTransformer
from torch import nn

from sbert_med.modules.routes import get_route, get_router

logger = logging.getLogger(__name__)

_SAVED_FLAGS = "_sbert_med_requires_grad"


def _stay_in_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    """Replacement ``train`` of a frozen tower: whatever mode is asked, the sub-tree stays in eval mode."""
    return nn.Module.train(self, False)


def _route_module(model: SentenceTransformer, route: str) -> nn.Module:
    if get_router(model) is None:
        raise ValueError("freeze_route/unfreeze_route need a Router model (query/document towers)")
    modules = get_route(model, route)
    if not isinstance(modules, nn.Module):
        raise ValueError(f"route {route!r} is not a module container")
    return modules


def is_frozen(module: nn.Module) -> bool:
    """Whether ``module`` was frozen with :func:`freeze_route` (pinned in eval mode)."""
    return "train" in vars(module)


def keep_in_eval(module: nn.Module) -> None:
    """Pin ``module`` in eval mode: the trainer's per-step ``model.train()`` no longer reaches it."""
    module.train = types.MethodType(_stay_in_eval, module)
    module.eval()


def freeze_route(model: SentenceTransformer, route: str) -> SentenceTransformer:
    """Freeze one tower of a Router model, in place.

    Its parameters stop requiring gradients (the optimizer of a trainer created afterwards skips them) and the
    tower is pinned in eval mode, so dropout stays off even though the trainer calls ``model.train()`` every step.
    Create a new trainer after freezing: an existing optimizer keeps its parameter groups.

    Args:
        model: A model whose first module is a ``Router``.
        route: The tower to freeze, e.g. ``"document"``.

    Returns:
        The same model.
    """
    module = _route_module(model, route)
    if not is_frozen(module):
        setattr(module, _SAVED_FLAGS, {name: p.requires_grad for name, p in module.named_parameters()})
    module.requires_grad_(False)
    keep_in_eval(module)
    logger.info("froze the %s tower (eval mode pinned)", route)
    return model


def unfreeze_route(model: SentenceTransformer, route: str) -> SentenceTransformer:
    """Undo :func:`freeze_route`: restore the tower's ``requires_grad`` flags and let it follow ``model.train()``.

    Flags are restored as they were before freezing, so the base weights under a LoRA adapter stay frozen. A tower
    that was never frozen with :func:`freeze_route` is made fully trainable.
    """
    module = _route_module(model, route)
    saved = vars(module).pop(_SAVED_FLAGS, None)
    if saved is None:
        module.requires_grad_(True)
    else:
        for name, param in module.named_parameters():
            param.requires_grad_(saved.get(name, True))
    vars(module).pop("train", None)
    module.train(model.training)
    logger.info("unfroze the %s tower", route)
    return model


@torch.no_grad()
def frozen_routes(model: SentenceTransformer) -> list[str]:
    """Names of the Router's towers that have no trainable parameter (frozen by any means)."""
    router = get_router(model)
    if router is None:
        return []
    return [
        name for name, seq in router.sub_modules.items()
        if any(True for _ in seq.parameters()) and not any(p.requires_grad for p in seq.parameters())
    ]
