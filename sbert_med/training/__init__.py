"""Training: ``MedTrainer`` (router_mapping validation, LoRA-in-Router checkpoints, frozen towers in eval mode)."""

from __future__ import annotations

from sbert_med.training.checkpoint import restore_checkpoint
from sbert_med.training.trainer import MedTrainer
from sbert_med.training.validation import check_no_empty_texts, validate_router_mapping

__all__ = ["MedTrainer", "check_no_empty_texts", "restore_checkpoint", "validate_router_mapping"]
