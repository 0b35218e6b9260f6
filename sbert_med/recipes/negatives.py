"""Hard negatives for a recipe's training data: the package's false-negative-controlled miner, once per run.

The one place where recipes call :func:`sbert_med.data.mine_negatives`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["mine_training_negatives"]


def mine_training_negatives(
    run,
    pairs,
    load_model: Callable[[], Any],
    *,
    name: str,
    num_negatives: int,
    range_min: int,
    relative_margin: float | None,
    batch_size: int = 32,
    show_progress_bar: bool = True,
):
    """``(anchor, positive)`` rows plus ``negative_1..num_negatives`` mined with
    :func:`sbert_med.data.mine_negatives` (candidates that are positives of the same or a duplicate question, or
    score within ``relative_margin`` of the positive, are dropped as likely false negatives; rows left with too
    few negatives are dropped). Built once in the run folder (``data/<name>``): a rerun or resume reuses it, and
    ``load_model`` (the mining model) is only called when nothing is cached."""
    from sbert_med.data import mine_negatives

    def build():
        mined, report = mine_negatives(
            pairs,
            model=load_model(),
            anchor_column="anchor",
            positive_column="positive",
            num_negatives=num_negatives,
            range_min=range_min,
            relative_margin=relative_margin,
            output_format="n-tuple",
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            return_report=True,
        )
        logger.info("mined negatives: %s", report)
        if len(mined) == 0:
            raise ValueError(
                f"mining left no training row with {num_negatives} negative(s) ({report}); lower "
                "mine_range_min / the margin, or mine fewer negatives"
            )
        return mined

    return run.cached_dataset(name, build)
