"""Restore a checkpoint in place, module by module, including LoRA adapters inside a Router.

sentence-transformers reloads a checkpoint as a whole new ``SentenceTransformer``, which fails for a LoRA adapter
saved inside a Router (transformers applies the sub-folder to the base-model path). Here every tower is restored
into the *existing* parameters: adapter weights with peft's ``set_peft_model_state_dict``, full transformers with
``from_pretrained`` of their folder, other modules with their own ``load``. Parameters keep their identity, so an
optimizer built afterwards (resume) or already built (best model) still points at them.
"""

from __future__ import annotations

import json
import logging
import os

from peft import PeftModel, set_peft_model_state_dict
from peft.utils import load_peft_weights
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Transformer
from torch import nn

from sbert_med.modules.routes import get_router

logger = logging.getLogger(__name__)


def _module_folders(model: SentenceTransformer, checkpoint: str) -> list[tuple[nn.Module, str]]:
    """Pairs (module, folder in the checkpoint) for every module of ``model``."""
    router = get_router(model)
    if router is None:
        with open(os.path.join(checkpoint, "modules.json")) as f:
            entries = json.load(f)
        return [(model[int(entry["idx"])], os.path.join(checkpoint, entry["path"])) for entry in entries]
    with open(os.path.join(checkpoint, "router_config.json")) as f:
        structure = json.load(f)["structure"]
    pairs = []
    for route, modules in router.sub_modules.items():
        if route not in structure or len(structure[route]) != len(modules):
            raise ValueError(f"checkpoint {checkpoint} does not match the model: route {route!r} differs")
        pairs += [(module, os.path.join(checkpoint, path)) for module, path in zip(modules, structure[route])]
    # Modules after the Router (Normalize, ...) are listed in modules.json.
    with open(os.path.join(checkpoint, "modules.json")) as f:
        entries = json.load(f)
    pairs += [(model[int(entry["idx"])], os.path.join(checkpoint, entry["path"])) for entry in entries[1:]]
    return pairs


def _restore_transformer(transformer: Transformer, folder: str) -> None:
    inner = transformer.model
    if isinstance(inner, PeftModel):
        weights = load_peft_weights(folder, device=str(next(inner.parameters()).device))
        result = set_peft_model_state_dict(inner, weights)
        if result.unexpected_keys:
            raise ValueError(f"adapter in {folder} does not match the model: unexpected {result.unexpected_keys[:3]}")
        missing = [key for key in result.missing_keys if "lora_" in key]
        if missing:
            raise ValueError(f"adapter in {folder} lacks LoRA weights {missing[:3]}")
        return
    loaded = type(inner).from_pretrained(folder, config=inner.config)
    inner.load_state_dict(loaded.state_dict())


def restore_checkpoint(model: SentenceTransformer, checkpoint: str) -> None:
    """Load the weights of a checkpoint written by ``model.save`` back into ``model``, in place."""
    if not os.path.isdir(checkpoint):
        raise FileNotFoundError(f"checkpoint folder not found: {checkpoint}")
    seen: set[int] = set()
    for module, folder in _module_folders(model, checkpoint):
        if id(module) in seen or not any(True for _ in module.parameters()):
            continue
        seen.add(id(module))
        if isinstance(module, Transformer):
            _restore_transformer(module, folder)
        else:
            loaded = type(module).load(folder)
            module.load_state_dict(loaded.state_dict())
    logger.info("restored %s in place", checkpoint)
