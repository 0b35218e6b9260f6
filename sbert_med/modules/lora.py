"""LoRA on one tower: attach with peft's ``get_peft_model`` on the tower's inner model, merge before release.

sentence-transformers' own ``model.add_adapter`` always targets the *first* ``Transformer`` (the query tower of a
Router), and a LoRA adapter saved inside a Router cannot be reloaded. Attaching the adapter to the document tower's
``PreTrainedModel`` and merging it before saving avoids both (see ``MedTrainer`` for checkpoints and resume).
"""

from __future__ import annotations

import logging
from typing import Any

from peft import LoraConfig, PeftModel, get_peft_model
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Transformer

from sbert_med.modules.routes import SYMMETRIC_ROUTE, get_route, get_router, get_routes, route_transformer

logger = logging.getLogger(__name__)

#: LoRA settings used when ``add_lora`` gets no config (CardioEmbed: r=16, alpha=32; MAR uses r=32, alpha=64).
DEFAULT_LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}


def _target_transformer(model: SentenceTransformer, route: str | None) -> Transformer:
    if get_router(model) is None:
        if route not in (None, "document", SYMMETRIC_ROUTE):
            raise ValueError(
                f"a symmetric model has one tower: route must be None or {SYMMETRIC_ROUTE!r}, got {route!r}"
            )
        modules = get_routes(model)[SYMMETRIC_ROUTE]
    else:
        if route is None:
            raise ValueError("route must name a tower of the Router model, e.g. 'document'")
        modules = get_route(model, route)
    transformer = route_transformer(modules)
    if transformer is None:
        raise ValueError(f"route {route!r} has no Transformer module to attach LoRA to")
    return transformer


def lora_transformers(model: SentenceTransformer) -> dict[str, Transformer]:
    """``{route: Transformer}`` for every tower carrying a peft LoRA model."""
    found = {}
    for name, modules in get_routes(model).items():
        transformer = route_transformer(modules)
        if transformer is not None and isinstance(transformer.model, PeftModel):
            found[name] = transformer
    return found


def has_lora(model: SentenceTransformer) -> bool:
    """Whether any tower of ``model`` carries an unmerged LoRA adapter."""
    return bool(lora_transformers(model))


def add_lora(
    model: SentenceTransformer,
    route: str | None = "document",
    config: LoraConfig | dict[str, Any] | None = None,
) -> SentenceTransformer:
    """Attach a LoRA adapter to one tower, in place; that tower's base weights are frozen, other towers untouched.

    Args:
        model: A Router model (``route`` picks the tower) or a symmetric one-tower model (``route`` is ignored
            when it is ``"document"``, ``"default"`` or ``None``).
        route: The tower to adapt.
        config: A :class:`peft.LoraConfig` or its keyword arguments; defaults to :data:`DEFAULT_LORA`.

    Returns:
        The same model.
    """
    transformer = _target_transformer(model, route)
    if isinstance(transformer.model, PeftModel) or getattr(transformer.model, "_hf_peft_config_loaded", False):
        raise ValueError(f"the {route!r} tower already carries an adapter; merge_lora(model) first")
    if config is None:
        config = LoraConfig(**DEFAULT_LORA)
    elif isinstance(config, dict):
        config = LoraConfig(**config)
    elif not isinstance(config, LoraConfig):
        raise ValueError(f"config must be a peft.LoraConfig, a dict of its arguments or None, got {type(config)!r}")
    transformer.model = get_peft_model(transformer.model, config)
    trainable = sum(p.numel() for p in transformer.model.parameters() if p.requires_grad)
    logger.info("LoRA on the %s tower: %d trainable parameters (r=%s)", route, trainable, config.r)
    return model


def merge_lora(model: SentenceTransformer) -> SentenceTransformer:
    """Merge every tower's LoRA adapter into its weights, in place, so the model saves self-contained.

    A model without adapters is returned unchanged. The merged weights keep their ``requires_grad`` flags (the base
    weights stay frozen); call :func:`unfreeze_route` to train the merged tower further.
    """
    for name, transformer in lora_transformers(model).items():
        transformer.model = transformer.model.merge_and_unload()
        logger.info("merged the LoRA adapter of the %s tower", name)
    for name, modules in get_routes(model).items():
        transformer = route_transformer(modules)
        if transformer is not None and getattr(transformer.model, "_hf_peft_config_loaded", False):
            raise ValueError(
                f"the {name} tower carries an adapter added with add_adapter(), which cannot be merged; "
                "attach adapters with sbert_med.modules.add_lora"
            )
    return model
