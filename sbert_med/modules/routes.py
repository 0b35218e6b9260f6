"""Look-ups shared by the builders and checks: the routes of a model, their input ``Transformer`` and their width."""

from __future__ import annotations

from collections.abc import Sequence

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Router, Transformer
from torch import nn

#: Name given to the single "route" of a symmetric (non-Router) model.
SYMMETRIC_ROUTE = "default"

#: Plain-text input only. A tokenizer with a chat template otherwise makes ``Transformer`` render every text
#: through that template (a "message" modality), so an instruct decoder would pool on the template's trailing
#: newline instead of EOS. Stored in ``sentence_bert_config.json``, so a plain reload keeps it.
TEXT_ONLY_MODALITY = {"text": {"method": "forward", "method_output_name": "last_hidden_state"}}


def get_router(model: SentenceTransformer) -> Router | None:
    """The model's top-level :class:`Router`, or ``None`` for a symmetric model."""
    first = model[0] if len(model) else None
    return first if isinstance(first, Router) else None


def get_routes(model: SentenceTransformer) -> dict[str, Sequence[nn.Module]]:
    """Every route of ``model`` as ``{name: modules}``.

    A Router model gives its sub-module lists (``query``, ``document``, ...); a symmetric model gives one route,
    ``"default"``, holding all its modules.
    """
    router = get_router(model)
    if router is None:
        return {SYMMETRIC_ROUTE: list(model)}
    return {name: seq for name, seq in router.sub_modules.items()}


def get_route(model: SentenceTransformer, route: str) -> Sequence[nn.Module]:
    """The modules of one route, with a clear error naming the valid routes."""
    routes = get_routes(model)
    if route not in routes:
        raise ValueError(f"route must be one of {sorted(routes)}, got {route!r}")
    return routes[route]


def route_transformer(modules: Sequence[nn.Module]) -> Transformer | None:
    """The first :class:`Transformer` of a route (its input module), or ``None``."""
    for module in modules:
        if isinstance(module, Transformer):
            return module
    return None


def find_transformer(model: SentenceTransformer, *, route: str | None = None) -> Transformer:
    """The input ``Transformer`` of ``model``: its first module, or the first module of its Router route ``route``.

    Raises:
        ValueError: If a Router model gets no valid ``route``, a plain model gets one, or the first module is not a
            ``Transformer``.
    """
    router = get_router(model)
    if router is not None:
        first = get_route(model, route)[0]
    elif route is not None:
        raise ValueError(f"route={route!r} was given but the model has no Router")
    else:
        first = model[0] if len(model) else None
    if not isinstance(first, Transformer):
        raise ValueError(f"expected a Transformer as first module, got {type(first).__name__}")
    return first


def route_width(modules: Sequence[nn.Module]) -> int | None:
    """Output width of a route: the last module that reports an embedding dimension."""
    for module in reversed(list(modules)):
        if isinstance(module, Transformer):
            # Token embeddings, not a sentence embedding: a route without pooling has no width of its own.
            return None
        get_dim = getattr(module, "get_embedding_dimension", None)
        if callable(get_dim):
            dim = get_dim()
            if dim is not None:
                return int(dim)
    return None


def output_widths(model: SentenceTransformer) -> dict[str, int | None]:
    """Width of every route *after* the model's ``truncate_dim`` is applied (what ``encode_*`` returns)."""
    truncate_dim = getattr(model, "truncate_dim", None)
    widths = {}
    for name, modules in get_routes(model).items():
        width = route_width(modules)
        if width is not None and truncate_dim is not None:
            width = min(width, truncate_dim)
        widths[name] = width
    return widths


def text_transformer(model_name_or_path: str, *, max_seq_length: int | None = None, **kwargs):
    """A sentence-transformers ``Transformer`` for text only that outputs token embeddings (the tower builders'
    common first module); ``kwargs`` go to ``Transformer`` and may override the modality settings."""
    if "modality_config" not in kwargs:
        kwargs.update(modality_config=TEXT_ONLY_MODALITY, module_output_name="token_embeddings")
    return Transformer(model_name_or_path, max_seq_length=max_seq_length, **kwargs)
