"""``ParaphraseAccuracyEvaluator``: Acc@K / MRR of finding each anchor's paraphrase in a stated candidate pool."""

from __future__ import annotations

import csv
import logging
import os
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

logger = logging.getLogger(__name__)


class ParaphraseAccuracyEvaluator(SentenceEvaluator):
    """For each anchor, rank its own paraphrase among a pool of candidate paraphrases (the CardioEmbed evaluation).

    Anchors are encoded with ``encode_query`` and candidates with ``encode_document``. The pool of anchor *i* is its
    paraphrase ``paraphrases[i]`` plus ``pool_size - 1`` other paraphrases drawn at random (``seed``); with
    ``pool_size=None`` the pool is all paraphrases. The pool size is a setting, not a metric: it is in
    :meth:`get_config_dict` (and so in the model card), never among the returned metrics. Acc@1 over a pool of 10 and
    over a pool of 6,000 are not comparable: state the pool with the numbers.

    Metrics: ``{name}_acc@{k}`` for each ``k`` of ``top_k`` and ``{name}_mrr``; ``primary_metric`` is
    ``acc@{min(top_k)}``. Usable as ``evaluator=`` of any ``SentenceTransformerTrainer``.

    Args:
        anchors / paraphrases: Pairs (``paraphrases[i]`` is the paraphrase of ``anchors[i]``).
        pool_size: Candidates per anchor (2..len(anchors)); ``None``: all paraphrases.
        top_k: The K of Acc@K.
        seed: Seed of the pools.
        name: Metric prefix.
        batch_size / show_progress_bar / write_csv: As in sentence-transformers' evaluators.
    """

    def __init__(
        self,
        anchors: Sequence[str],
        paraphrases: Sequence[str],
        *,
        pool_size: int | None = None,
        top_k: Sequence[int] = (1, 5),
        seed: int = 0,
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
    ) -> None:
        super().__init__()
        n = len(anchors)
        if n != len(paraphrases):
            raise ValueError(f"anchors and paraphrases must have the same length, got {n} and {len(paraphrases)}")
        if n < 2:
            raise ValueError(f"paraphrase accuracy needs at least 2 pairs, got {n}")
        pool = n if pool_size is None else pool_size
        if not 2 <= pool <= n:
            raise ValueError(f"pool_size must be between 2 and the number of pairs ({n}), got {pool_size!r}")
        if not top_k or any(k < 1 for k in top_k):
            raise ValueError(f"top_k values must be >= 1, got {list(top_k)}")
        self.anchors = list(anchors)
        self.paraphrases = list(paraphrases)
        self.pool_size = pool
        self.top_k = sorted(set(top_k))
        self.seed = seed
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.csv_file = f"paraphrase_accuracy_evaluation{'_' + name if name else ''}_results.csv"
        self.csv_headers = ["epoch", "steps", *[f"acc@{k}" for k in self.top_k], "mrr"]
        self.primary_metric = f"acc@{self.top_k[0]}"

    def ranks(self, model: Any) -> np.ndarray:
        """The rank (1 = first) of each anchor's own paraphrase in its pool; ties count in the anchor's favour."""
        kwargs = dict(batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True,
                      show_progress_bar=self.show_progress_bar)
        queries = model.encode_query(self.anchors, **kwargs)
        candidates = model.encode_document(self.paraphrases, **kwargs)
        n = len(self.anchors)
        rng = random.Random(self.seed)
        ranks = np.empty(n, dtype=np.int64)
        for i in range(n):
            if self.pool_size == n:
                pool_ids = np.arange(n)
            else:
                others = rng.sample([j for j in range(n) if j != i], self.pool_size - 1)
                pool_ids = np.array([i, *others])
            scores = candidates[pool_ids] @ queries[i]
            own = scores[pool_ids == i][0]
            ranks[i] = 1 + int((scores > own).sum())
        return ranks

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        ranks = self.ranks(model)
        metrics = {f"acc@{k}": float((ranks <= k).mean()) for k in self.top_k}
        metrics["mrr"] = float((1.0 / ranks).mean())
        logger.info("Paraphrase accuracy on %s (pool of %d, %d anchors): %s", self.name or "the pairs",
                    self.pool_size, len(ranks), metrics)
        if output_path is not None and self.write_csv:
            os.makedirs(output_path, exist_ok=True)
            path = os.path.join(output_path, self.csv_file)
            new = not os.path.isfile(path)
            with open(path, "a", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                if new:
                    writer.writerow(self.csv_headers)
                writer.writerow([epoch, steps, *[metrics[f"acc@{k}"] for k in self.top_k], metrics["mrr"]])
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        return "Paraphrase Accuracy"

    def get_config_dict(self) -> dict[str, Any]:
        return {"pool_size": self.pool_size, "n": len(self.anchors), "seed": self.seed}
