"""The two MAR losses: ``sbert_med.losses`` when present, else a private stand-in with the same semantics.

Stand-ins (used only while ``sbert_med.losses.AlignmentLoss`` / ``AsymInfoNCELoss`` are not available):

* Stage I alignment: ``contrastive_weight * InfoNCE(E_Q(t), E_D(t))`` with in-batch negatives plus
  ``mse_weight * dim * MSE(E_Q(t), E_D(t))`` (MSE on unit vectors is ~1/dim per element, hence the ``dim``), with
  E_D computed without gradient (the document tower is frozen in Stage I).
* Stage II: ``MultipleNegativesRankingLoss`` routed by ``router_mapping`` *is* Asym-InfoNCE (query tower for the
  anchor, document tower for positives and hard negatives, in-batch negatives shared).
"""

from __future__ import annotations

import inspect
import logging

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)


class StandInAlignmentLoss(nn.Module):
    """E_Q(text) trained towards the frozen E_D(text) of the same text (MAR Stage I)."""

    def __init__(self, model, *, temperature: float = 0.1, mse_weight: float = 1.0, contrastive_weight: float = 1.0):
        super().__init__()
        if mse_weight <= 0 and contrastive_weight <= 0:
            raise ValueError("at least one of mse_weight and contrastive_weight must be > 0")
        self.model = model
        self.temperature = temperature
        self.mse_weight = mse_weight
        self.contrastive_weight = contrastive_weight

    def forward(self, sentence_features, labels=None) -> dict[str, torch.Tensor]:
        query_features, document_features = sentence_features
        eq = self.model(query_features)["sentence_embedding"]
        with torch.no_grad():
            ed = self.model(document_features)["sentence_embedding"]
        out = {}
        if self.contrastive_weight > 0:
            logits = F.normalize(eq, dim=-1) @ F.normalize(ed, dim=-1).T / self.temperature
            target = torch.arange(len(eq), device=eq.device)
            out["align_nce"] = self.contrastive_weight * F.cross_entropy(logits, target)
        if self.mse_weight > 0:
            out["align_mse"] = self.mse_weight * eq.shape[-1] * F.mse_loss(eq, ed)
        return out

    def get_config_dict(self) -> dict:
        return {
            "temperature": self.temperature,
            "mse_weight": self.mse_weight,
            "contrastive_weight": self.contrastive_weight,
        }


def _accepted(cls, **candidates) -> dict | None:
    params = inspect.signature(cls).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return candidates
    kwargs = {k: v for k, v in candidates.items() if k in params}
    return kwargs if len(kwargs) == len(candidates) else None


def alignment_loss(model, *, temperature: float, mse_weight: float, contrastive_weight: float) -> nn.Module:
    """``sbert_med.losses.AlignmentLoss`` if it takes these options, else :class:`StandInAlignmentLoss`."""
    try:
        from sbert_med.losses import AlignmentLoss
    except ImportError:
        AlignmentLoss = None
    if AlignmentLoss is not None:
        kwargs = _accepted(
            AlignmentLoss, temperature=temperature, mse_weight=mse_weight, contrastive_weight=contrastive_weight
        )
        if kwargs is not None:
            return AlignmentLoss(model, **kwargs)
        logger.warning(
            "sbert_med.losses.AlignmentLoss does not take %s; using the recipe's stand-in",
            "temperature/mse_weight/contrastive_weight",
        )
    return StandInAlignmentLoss(
        model, temperature=temperature, mse_weight=mse_weight, contrastive_weight=contrastive_weight
    )


def asym_infonce_loss(model, *, temperature: float, gather_across_devices: bool = False) -> nn.Module:
    """``sbert_med.losses.AsymInfoNCELoss`` if available, else the equivalent routed MNRL."""
    try:
        from sbert_med.losses import AsymInfoNCELoss
    except ImportError:
        AsymInfoNCELoss = None
    if AsymInfoNCELoss is not None:
        kwargs = _accepted(AsymInfoNCELoss, temperature=temperature)
        if kwargs is not None:
            return AsymInfoNCELoss(model, **kwargs)
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    return MultipleNegativesRankingLoss(model, scale=1.0 / temperature, gather_across_devices=gather_across_devices)
