"""Find the Hugging Face ``Transformer`` module of a SentenceTransformer (plain or inside a ``Router`` route)."""

from __future__ import annotations

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Router, Transformer


def find_transformer(model: SentenceTransformer, *, route: str | None = None) -> Transformer:
    """The first module of ``model`` (or of its ``Router`` route ``route``), which must be a ``Transformer``."""
    first = model[0]
    if isinstance(first, Router):
        routes = sorted(first.sub_modules)
        if route not in first.sub_modules:
            raise ValueError(f"route must be one of {routes} for a model with a Router, got {route!r}")
        first = first.sub_modules[route][0]
    elif route is not None:
        raise ValueError(f"route={route!r} was given but the model has no Router")
    if not isinstance(first, Transformer):
        raise ValueError(f"expected a Transformer as first module, got {type(first).__name__}")
    return first
