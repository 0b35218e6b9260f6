"""Builders of towers and asymmetric models (EOS pooling, Matryoshka bridging, LoRA on one tower, freezing, checks).

Every model built here is made only of sentence-transformers' built-in modules, so it reloads with plain
``SentenceTransformer(path)``.
"""

from __future__ import annotations

from sbert_med.modules.asymmetric import build_asymmetric_model
from sbert_med.modules.checks import CheckResult, ModelCheckReport, check_model
from sbert_med.modules.eos import appends_eos, ensure_eos_appended, ensure_pad_token, eos_tower
from sbert_med.modules.freezing import freeze_route, frozen_routes, is_frozen, keep_in_eval, unfreeze_route
from sbert_med.modules.lora import DEFAULT_LORA, add_lora, has_lora, lora_transformers, merge_lora
from sbert_med.modules.routes import get_route, get_router, get_routes, output_widths, route_transformer, route_width
from sbert_med.modules.towers import encoder_tower

__all__ = [
    "DEFAULT_LORA",
    "CheckResult",
    "ModelCheckReport",
    "add_lora",
    "appends_eos",
    "build_asymmetric_model",
    "check_model",
    "encoder_tower",
    "ensure_eos_appended",
    "ensure_pad_token",
    "eos_tower",
    "freeze_route",
    "frozen_routes",
    "get_route",
    "get_router",
    "get_routes",
    "has_lora",
    "is_frozen",
    "keep_in_eval",
    "lora_transformers",
    "merge_lora",
    "output_widths",
    "route_transformer",
    "route_width",
    "unfreeze_route",
]
