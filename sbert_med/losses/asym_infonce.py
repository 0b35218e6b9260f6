"""Asymmetric InfoNCE: query-tower anchors against document-tower positives, in-batch and hard negatives."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.losses.gradcache import CachedLossMixin
from sentence_transformers.sentence_transformer.losses import (
    CachedMultipleNegativesRankingLoss,
    MultipleNegativesRankingLoss,
)
from torch import Tensor, nn

from sbert_med.modules.asymmetric import common_width

logger = logging.getLogger(__name__)


class AsymInfoNCELoss(CachedLossMixin, nn.Module):
    def __init__(
        self,
        model: SentenceTransformer,
        temperature: float = 0.05,
        hard_negatives: bool = True,
        gather_across_devices: bool = False,
        mini_batch_size: int | None = None,
        show_progress_bar: bool = False,
    ) -> None:
        """
        InfoNCE for asymmetric (two-tower) retrieval models: every anchor, embedded by the query tower, must score
        its own positive, embedded by the document tower, above all other positives of the batch (in-batch
        negatives) and all hard negatives. Scores are cosine similarities divided by ``temperature``.

        Which tower embeds which column is set by ``router_mapping`` in the training arguments (e.g.
        ``{"anchor": "query", "positive": "document", "negative": "document"}``); the loss routes each column
        through ``features["task"]``, so it also works under :class:`MatryoshkaLoss`. Towers of different widths
        bridged with ``truncate_dim`` (``build_asymmetric_model(..., bridge="truncate")``) are compared on the
        first ``truncate_dim`` dimensions, re-normalised.

        With ``mini_batch_size`` the loss uses gradient caching (GradCache): embeddings are computed mini-batch by
        mini-batch without a graph, the loss is back-propagated to them, and each mini-batch is re-embedded with
        its cached gradient. The gradients are those of the uncached loss, at a memory cost bounded by
        ``mini_batch_size``, so large batches (many in-batch negatives) fit on small hardware.

        Args:
            model: The model (usually a ``Router`` model from :func:`sbert_med.modules.build_asymmetric_model`).
            temperature: Softmax temperature; MAR uses ~0.02 for joint training and ~0.1 for alignment.
            hard_negatives: Use the columns after the positive as extra negatives. With ``False`` they are
                dropped before embedding.
            gather_across_devices: Gather the document embeddings of all processes (multi-GPU) so each anchor
                also sees the other devices' documents as negatives.
            mini_batch_size: Turn on gradient caching with mini-batches of this many texts. ``None``: no caching.
            show_progress_bar: Show a progress bar over the mini-batches (with ``mini_batch_size``).

        References:
            - Representation Learning with Contrastive Predictive Coding: https://arxiv.org/abs/1807.03748
            - MAR / CARE (asymmetric query/document towers): see ``sbert_med`` docs, anchors.
            - Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup (GradCache):
              https://arxiv.org/abs/2101.06983

        Requirements:
            1. (anchor, positive) pairs or (anchor, positive, negative_1, ..., negative_n) tuples.
            2. With a Router model, a ``router_mapping`` sending the anchor column to the query route and the
               others to the document route (use :class:`sbert_med.training.MedTrainer` to have it validated).

        Inputs:
            +-------------------------------------------------+--------+
            | Texts                                           | Labels |
            +=================================================+========+
            | (anchor, positive) pairs                        | none   |
            +-------------------------------------------------+--------+
            | (anchor, positive, negative) triplets           | none   |
            +-------------------------------------------------+--------+
            | (anchor, positive, negative_1, ..., negative_n) | none   |
            +-------------------------------------------------+--------+

        Recommendations:
            - Use ``BatchSamplers.NO_DUPLICATES`` so that no in-batch negative is a duplicate of the positive.
            - Mine hard negatives with a false-negative margin: in medicine many documents answer one question.

        Relations:
            - Built on :class:`~sentence_transformers.sentence_transformer.losses.MultipleNegativesRankingLoss`
              (``scale = 1 / temperature``), or on its gradient-caching variant
              :class:`~sentence_transformers.sentence_transformer.losses.CachedMultipleNegativesRankingLoss` with
              ``mini_batch_size``; this loss adds the per-column routing, the width bridge and the switch.
            - :class:`sbert_med.losses.AlignmentLoss` is the stage-I loss that precedes it in MAR.

        Example:
            ::

                from datasets import Dataset
                from sentence_transformers import SentenceTransformerTrainingArguments
                from sbert_med.losses import AsymInfoNCELoss
                from sbert_med.modules import build_asymmetric_model
                from sbert_med.training import MedTrainer

                model = build_asymmetric_model("sentence-transformers/all-MiniLM-L6-v2", "HuggingFaceTB/SmolLM2-135M")
                train_dataset = Dataset.from_dict({
                    "anchor": ["What lowers blood pressure?", "First-line drug for type 2 diabetes?"],
                    "positive": ["Thiazide diuretics lower blood pressure.", "Metformin is the first-line drug."],
                })
                args = SentenceTransformerTrainingArguments(
                    output_dir="out", router_mapping={"anchor": "query", "positive": "document"}
                )
                loss = AsymInfoNCELoss(model, temperature=0.02, mini_batch_size=16)
                MedTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss).train()
        """
        nn.Module.__init__(self)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if mini_batch_size is not None and mini_batch_size <= 0:
            raise ValueError(f"mini_batch_size must be a positive integer or None, got {mini_batch_size!r}")
        self.model = model
        self.temperature = temperature
        self.hard_negatives = hard_negatives
        self.gather_across_devices = gather_across_devices
        self.mini_batch_size = mini_batch_size
        self.show_progress_bar = show_progress_bar
        if mini_batch_size is None:
            self.loss = MultipleNegativesRankingLoss(
                model, scale=1.0 / temperature, gather_across_devices=gather_across_devices
            )
        else:
            self.loss = CachedMultipleNegativesRankingLoss(
                model, scale=1.0 / temperature, mini_batch_size=mini_batch_size,
                gather_across_devices=gather_across_devices, show_progress_bar=show_progress_bar,
            )
        # MatryoshkaLoss reads this to decide between patching forward and decorating calculate_loss.
        self.uses_gradient_cache = mini_batch_size is not None
        self._warned_dropped = False

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        if len(features) < 2:
            raise ValueError(
                f"AsymInfoNCELoss needs (anchor, positive[, negatives...]) columns, got {len(features)} column(s)"
            )
        if not self.hard_negatives and len(features) > 2:
            if not self._warned_dropped:
                logger.warning("hard_negatives=False: ignoring %d negative column(s)", len(features) - 2)
                self._warned_dropped = True
            features = features[:2]
        if self.uses_gradient_cache:
            return self.forward_cached(features, labels)
        # One forward per column: each carries its own route (features["task"]), so anchors go through the query
        # tower and candidates through the document tower.
        reps = [[self.model(feature)["sentence_embedding"]] for feature in features]
        return self.calculate_loss(reps, labels)

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False
    ) -> Tensor:
        """The loss from per-column, per-mini-batch embeddings (the GradCache interface): the columns are brought
        to the common width, then scored by the wrapped MultipleNegativesRankingLoss."""
        columns = common_width([torch.cat(column) for column in reps], getattr(self.model, "truncate_dim", None))
        if self.uses_gradient_cache:
            if not with_backward:
                return self.loss.calculate_loss([[column] for column in columns], labels)
            # The wrapped loss back-propagates chunk by chunk; the bridge's graph may be traversed only once, so
            # the chunks stop at detached copies whose gradients are then sent through the bridge in one pass.
            leaves = [column.detach().requires_grad_() for column in columns]
            loss = self.loss.calculate_loss([[leaf] for leaf in leaves], labels, with_backward=True)
            used = [(column, leaf.grad) for column, leaf in zip(columns, leaves) if leaf.grad is not None]
            torch.autograd.backward([column for column, _ in used], [grad for _, grad in used])
            return loss
        loss = self.loss.compute_loss_from_embeddings(columns, labels)
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "hard_negatives": self.hard_negatives,
            "gather_across_devices": self.gather_across_devices,
            "mini_batch_size": self.mini_batch_size,
        }

    @property
    def citation(self) -> str:
        return """
@misc{oord2018representation,
    title={Representation Learning with Contrastive Predictive Coding},
    author={Aaron van den Oord and Yazhe Li and Oriol Vinyals},
    year={2018},
    eprint={1807.03748},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""
