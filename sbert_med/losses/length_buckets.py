"""Embed a padded batch in buckets of similar length: the same embeddings for a fraction of the padding."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def embed_in_length_buckets(model: nn.Module, features: dict[str, Any], buckets: int) -> Tensor:
    """``model(features)["sentence_embedding"]``, computed on ``buckets`` slices of the batch sorted by length, each
    cut to its own longest text, and returned in the batch's order.

    A batch is padded to its longest text: short texts (questions, titles) beside one long sentence cost as much as
    long ones. Sorting the rows by length and running each slice on its own columns removes most of that padding
    (on the MAR benchmark's alignment corpus a random batch of 128 pads to 2.8x its real tokens; a Stage I step of
    all-MiniLM-L6-v2 on 2 CPU cores is 2.1x faster with 4 buckets, ``bench/bench_length_buckets.py``). The loss
    still sees the whole batch: every slice keeps its autograd graph, so in-batch negatives and gradients are those
    of one forward pass.

    Only right-padded batches are sliced (every row attends to its first token, as BERT-style tokenizers pad):
    cutting trailing padding columns leaves every real token's position and attention unchanged, so the embeddings
    are the unsliced ones up to floating-point summation order (a right-padded causal decoder as well). A
    left-padded batch is embedded in one piece, since dropping leading columns would move its tokens' positions.

    Args:
        model: Any module that maps tokenized features to a dict with ``sentence_embedding``.
        features: One column's tokenized features (``input_ids``, ``attention_mask``, ...; non-tensor entries such as
            a Router's ``task`` are passed to every slice as they are).
        buckets: Number of slices (``<= 1``: one forward pass over the padded batch).
    """
    mask = features.get("attention_mask")
    if buckets <= 1 or not isinstance(mask, Tensor) or mask.ndim != 2 or len(mask) < 2 or not bool(mask[:, 0].all()):
        return model(features)["sentence_embedding"]
    lengths = mask.sum(dim=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    rows, width = mask.shape
    parts = []
    for bucket in torch.tensor_split(order, min(buckets, rows)):
        longest = int(lengths[bucket].max())
        parts.append(model({key: _slice(value, bucket, longest, rows, width)
                            for key, value in features.items()})["sentence_embedding"])
    return torch.cat(parts)[torch.argsort(order)]


def _slice(value: Any, bucket: Tensor, longest: int, rows: int, width: int) -> Any:
    """A per-row tensor's rows of ``bucket`` (per-token ones cut to ``longest`` columns); anything else unchanged."""
    if not isinstance(value, Tensor) or value.ndim == 0 or value.shape[0] != rows:
        return value
    value = value[bucket.to(value.device)]
    return value[:, :longest] if value.ndim >= 2 and value.shape[1] == width else value
