"""Publishing: generated model cards per model family, ``save_with_card`` and ``push_model``.

One card template, shipped inside the package (``sbert_med/hub/templates/model_card.md``); cards say what was recorded.
"""

from __future__ import annotations

from sbert_med.evaluation.report import eval_tables, load_eval_results
from sbert_med.hub.card_data import FAMILIES, MedModelCardData
from sbert_med.hub.push import PushResult, push_model
from sbert_med.hub.save import save_with_card

__all__ = ["FAMILIES", "MedModelCardData", "PushResult", "eval_tables", "load_eval_results", "push_model",
           "save_with_card"]
