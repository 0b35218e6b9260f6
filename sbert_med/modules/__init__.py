"""Builders of towers and asymmetric models (EOS pooling, Matryoshka bridging, LoRA on one tower, freezing, checks,
long-context backbones).

Every model built here is made only of sentence-transformers' built-in modules, so it reloads with plain
``SentenceTransformer(path)``.
"""

from __future__ import annotations

from sbert_med.modules.asymmetric import build_asymmetric_model, common_width
from sbert_med.modules.checks import CheckResult, ModelCheckReport, check_model
from sbert_med.modules.eos import appends_eos, ensure_eos_appended, ensure_pad_token, eos_tower
from sbert_med.modules.freezing import freeze_route, frozen_routes, is_frozen, keep_in_eval, unfreeze_route
from sbert_med.modules.long_context import long_context_model, max_positions
from sbert_med.modules.lora import DEFAULT_LORA, add_lora, has_lora, lora_transformers, merge_lora
from sbert_med.modules.query_head import attach_query_head, fit_linear_head, head_input_width
from sbert_med.modules.routes import (
    find_transformer,
    get_route,
    get_router,
    get_routes,
    output_widths,
    route_transformer,
    route_width,
)
from sbert_med.modules.towers import encoder_tower

__all__ = [
    "DEFAULT_LORA",
    "CheckResult",
    "ModelCheckReport",
    "add_lora",
    "appends_eos",
    "attach_query_head",
    "build_asymmetric_model",
    "check_model",
    "common_width",
    "encoder_tower",
    "ensure_eos_appended",
    "ensure_pad_token",
    "eos_tower",
    "find_transformer",
    "fit_linear_head",
    "freeze_route",
    "frozen_routes",
    "get_route",
    "get_router",
    "get_routes",
    "has_lora",
    "head_input_width",
    "is_frozen",
    "keep_in_eval",
    "long_context_model",
    "lora_transformers",
    "max_positions",
    "merge_lora",
    "output_widths",
    "route_transformer",
    "route_width",
    "unfreeze_route",
]
