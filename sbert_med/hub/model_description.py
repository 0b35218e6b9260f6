"""What a model card says about the towers of a model: base model, pooling, EOS, padding, projections, adapters."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sentence_transformers.base.modules import Dense, Normalize, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling

from sbert_med.hub.base_model import resolve_base_model
from sbert_med.modules import appends_eos, get_router, get_routes, lora_transformers, route_transformer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


def _inner_model(transformer: Transformer):
    model = transformer.model
    get_base = getattr(model, "get_base_model", None)  # a peft model: describe the model under the adapter
    return get_base() if callable(get_base) else model


#: What the card says for a base model whose Hub id is not known (never its local path).
UNKNOWN_BASE = "unknown (a local model; name it with --base-model)"


def base_model_of(transformer: Transformer, route: str, base_models: dict[str, str]) -> tuple[str, str | None]:
    """The Hub id (else :data:`UNKNOWN_BASE`) and licence of a tower's base model: ``base_models[route]`` (or
    ``base_models["*"]``) when given, else its ``_name_or_path`` mapped by
    :func:`~sbert_med.hub.base_model.resolve_base_model`."""
    given = base_models.get(route) or base_models.get("*")
    if given:
        return given, None
    name_or_path = getattr(_inner_model(transformer).config, "_name_or_path", "")
    base = resolve_base_model(name_or_path)
    return base.hub_id or UNKNOWN_BASE, base.license


def describe_towers(model: SentenceTransformer, base_models: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One dict per route (``query``/``document`` of a Router, ``default`` for a symmetric model); base models are
    Hub ids, never local paths."""
    base_models = base_models or {}
    towers = []
    for route, modules in get_routes(model).items():
        transformer = route_transformer(modules)
        tower: dict[str, Any] = {"route": route}
        if transformer is not None:
            inner = _inner_model(transformer)
            config = inner.config
            architectures = getattr(config, "architectures", None) or [type(inner).__name__]
            base, base_license = base_model_of(transformer, route, base_models)
            tower.update(
                base_model=base,
                base_license=base_license,
                architecture=architectures[0],
                hidden_size=getattr(config, "hidden_size", None),
                layers=getattr(config, "num_hidden_layers", None),
                max_seq_length=transformer.max_seq_length,
                padding_side=getattr(transformer.tokenizer, "padding_side", None),
            )
        pooling = next((m for m in modules if isinstance(m, Pooling)), None)
        if pooling is not None:
            tower["pooling"] = pooling.pooling_mode
            if pooling.pooling_mode == "lasttoken" and transformer is not None:
                tokenizer = transformer.tokenizer
                tower["eos"] = (
                    f"appended ({tokenizer.eos_token})" if appends_eos(tokenizer) else "NOT appended"
                )
        tower["projections"] = [
            f"Dense({m.in_features}→{m.out_features})" for m in modules if isinstance(m, Dense)
        ]
        tower["normalized"] = any(isinstance(m, Normalize) for m in modules) or any(
            isinstance(m, Normalize) for m in list(model)[1:]
        )
        towers.append(tower)
    return towers


def describe_adapters(model: SentenceTransformer) -> list[dict[str, Any]]:
    """LoRA adapters currently attached (before :func:`~sbert_med.modules.merge_lora`)."""
    adapters = []
    for route, transformer in lora_transformers(model).items():
        for name, config in transformer.model.peft_config.items():
            targets = config.target_modules
            adapters.append({
                "route": route,
                "name": name,
                "type": str(getattr(config, "peft_type", "LORA")).split(".")[-1],
                "r": getattr(config, "r", None),
                "alpha": getattr(config, "lora_alpha", None),
                "dropout": getattr(config, "lora_dropout", None),
                "target_modules": sorted(targets) if isinstance(targets, (set, list, tuple)) else targets,
                "merged": False,
            })
    return adapters


def is_asymmetric(model: SentenceTransformer) -> bool:
    return get_router(model) is not None
