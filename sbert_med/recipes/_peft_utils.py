"""Stand-in LoRA helpers used only until ``sbert_med.modules.add_lora`` / ``merge_lora`` exist."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def merge_all_lora(model) -> int:
    """Merge and unload every PEFT-wrapped ``Transformer.model`` in ``model``; returns how many were merged."""
    from peft import PeftModel
    from sentence_transformers.base.modules import Transformer

    merged = 0
    for module in model.modules():
        if isinstance(module, Transformer) and isinstance(module.model, PeftModel):
            module.model = module.model.merge_and_unload()
            merged += 1
    return merged
