"""Bring query and document embeddings of an asymmetric model to one width inside a loss."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def common_width(embeddings: list[Tensor], truncate_dim: int | None) -> list[Tensor]:
    """Cut every embedding to the common width and re-normalise the ones that were cut.

    ``truncate_dim`` (the ``bridge="truncate"`` layout) is not applied by ``forward`` during training, so the
    document tower still outputs its full width here: it is cut Matryoshka-style to the query width. Widths that
    still differ without a ``truncate_dim`` are a model-building mistake and raise a clear error.
    """
    widths = {emb.shape[-1] for emb in embeddings}
    if len(widths) == 1 and (truncate_dim is None or truncate_dim >= next(iter(widths))):
        return embeddings
    if truncate_dim is None:
        raise ValueError(
            f"the towers output different widths {sorted(widths)} and the model has no truncate_dim; build it with "
            "sbert_med.modules.build_asymmetric_model(..., bridge='truncate' or 'project') or wrap the loss in "
            "MatryoshkaLoss with dims <= the smallest width"
        )
    width = min(min(widths), truncate_dim)
    return [F.normalize(emb[..., :width], p=2, dim=-1) if emb.shape[-1] > width else emb for emb in embeddings]
