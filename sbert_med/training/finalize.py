"""The end of every run: merge adapters → check → card → save, written to a temporary folder and moved into place."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from sbert_med.training.run import replace_dir

logger = logging.getLogger(__name__)

__all__ = ["finalize_model"]


def finalize_model(
    model: Any,
    output_dir: str | os.PathLike,
    *,
    family: str,
    recipe_config: Mapping[str, Any] | None = None,
    eval_results: Mapping[str, Any] | None = None,
) -> str:
    """Release ``model`` to ``output_dir`` with :func:`sbert_med.hub.save_with_card` (``check_model``, LoRA merged,
    the family's generated card, the recipe config as card data).

    The model is saved into a temporary folder next to ``output_dir`` which then replaces it, so a failed check or
    a crash leaves any previous ``output_dir`` as it was and never a half-written one.

    Args:
        model: The trained model.
        output_dir: The final model folder (``run/model``).
        family: The card family (``"medembed"``, ``"cardioembed"``, ``"mar"``, ``"medeir"``).
        recipe_config: The recorded training config and provenance (shown in the card).
        eval_results: ``{task: {metric: value}}`` of this model (a flat ``{metric: value}`` is filed as ``dev``).
    """
    from sbert_med.hub import save_with_card

    if eval_results and all(isinstance(value, (int, float)) for value in eval_results.values()):
        eval_results = {"dev": dict(eval_results)}
    results = {"this model": dict(eval_results)} if eval_results else None
    with replace_dir(output_dir) as tmp:
        save_with_card(model, tmp, family=family, eval_results=results, recipe_config=recipe_config)
    logger.info("saved %s", output_dir)
    return str(output_dir)
