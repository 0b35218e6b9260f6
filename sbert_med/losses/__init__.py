"""Losses for asymmetric medical retrieval models: Asym-InfoNCE (with gradient caching) and MAR alignment."""

from __future__ import annotations

from sbert_med.losses.alignment import AlignmentLoss
from sbert_med.losses.asym_infonce import AsymInfoNCELoss

__all__ = ["AlignmentLoss", "AsymInfoNCELoss"]
