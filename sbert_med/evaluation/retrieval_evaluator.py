"""``RetrievalEvaluator``: sentence-transformers' ``InformationRetrievalEvaluator`` scored by MTEB's retrieval
evaluation (graded nDCG by pytrec_eval), with a resumable embedding cache."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from sbert_med.data.beir import BeirData

logger = logging.getLogger(__name__)

#: The cut-offs MTEB computes every retrieval metric at.
MTEB_CUTOFFS = (1, 3, 5, 10, 20, 100, 1000)
#: ST's metric families and the MTEB score names they are read from.
_MTEB_NAMES = {"accuracy@k": "hit_rate_at_{}", "precision@k": "precision_at_{}", "recall@k": "recall_at_{}",
               "mrr@k": "mrr_at_{}", "ndcg@k": "ndcg_at_{}", "map@k": "map_at_{}"}


class RetrievalEvaluator(InformationRetrievalEvaluator):
    """An ``InformationRetrievalEvaluator`` over a :class:`~sbert_med.data.beir.BeirData` that scores with MTEB.

    Everything the trainer and model card expect from sentence-transformers' evaluator is kept (metric names
    ``{name}_{similarity}_ndcg@10``, ``primary_metric``, the CSV file, ``get_config_dict``), so it works as
    ``evaluator=`` of any ``SentenceTransformerTrainer``. The difference is the scoring: queries go through
    ``encode_query`` and documents through ``encode_document`` with the model's prompts resolved the MTEB way, and
    relevance is **graded** (pytrec_eval, as MTEB and BEIR report it), while sentence-transformers' own evaluator
    counts any judged document as equally relevant. Numbers therefore equal MTEB's on the same data.

    Args:
        data: Queries, corpus and graded qrels (:func:`sbert_med.data.load_beir`).
        name: Metric prefix (default: ``data.name``).
        truncate_dim: Keep only the first dimensions of every embedding (Matryoshka).
        cache_dir: Root of a :class:`sbert_med.encoding.EncodingCache` keyed by the model's fingerprint: a
            Matryoshka sweep or a rerun encodes each text once; ``None`` encodes without a cache.
        fingerprint: The model's :func:`~sbert_med.encoding.model_fingerprint` if already computed.
        batch_size: Encoding batch size.
        show_progress_bar: Show progress bars.
        write_csv: Append the scores to a CSV file in the trainer's output folder.
        accuracy_at_k / precision_recall_at_k / mrr_at_k / ndcg_at_k / map_at_k: Cut-offs, each one of
            :data:`MTEB_CUTOFFS`.
    """

    def __init__(
        self,
        data: BeirData,
        *,
        name: str | None = None,
        truncate_dim: int | None = None,
        cache_dir: str | Path | None = None,
        fingerprint: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        accuracy_at_k: list[int] = (1, 3, 5, 10),
        precision_recall_at_k: list[int] = (1, 3, 5, 10, 100),
        mrr_at_k: list[int] = (10,),
        ndcg_at_k: list[int] = (10, 100),
        map_at_k: list[int] = (10, 100),
    ) -> None:
        for what, values in (("accuracy_at_k", accuracy_at_k), ("precision_recall_at_k", precision_recall_at_k),
                             ("mrr_at_k", mrr_at_k), ("ndcg_at_k", ndcg_at_k), ("map_at_k", map_at_k)):
            bad = [k for k in values if k not in MTEB_CUTOFFS]
            if bad or not values:
                raise ValueError(f"{what} must be a non-empty list of values in {list(MTEB_CUTOFFS)}, got {values}")
        super().__init__(
            queries=data.queries, corpus=data.corpus, relevant_docs=data.relevant_docs,
            name=name if name is not None else data.name, truncate_dim=truncate_dim, batch_size=batch_size,
            show_progress_bar=show_progress_bar, write_csv=write_csv, accuracy_at_k=list(accuracy_at_k),
            precision_recall_at_k=list(precision_recall_at_k), mrr_at_k=list(mrr_at_k), ndcg_at_k=list(ndcg_at_k),
            map_at_k=list(map_at_k),
        )
        self.data = data
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.fingerprint = fingerprint

    def compute_all_metrics(self, model, corpus_model=None, corpus_embeddings=None, output_path=None):
        """MTEB's scores of ``model``, as ``{similarity: {"ndcg@k": {10: value}, ...}}`` like the parent's."""
        if corpus_model is not None or corpus_embeddings is not None:
            raise ValueError("RetrievalEvaluator encodes both sides with the one model (its query and document "
                             "routes); corpus_model / corpus_embeddings are not supported")
        from sbert_med.evaluation.cached_encoder import CachedSentenceTransformerEncoder
        from sbert_med.evaluation.mteb_tasks import beir_retrieval_task
        from sbert_med.evaluation.retrieval import run_mteb

        task = beir_retrieval_task(self.data)
        encoder = CachedSentenceTransformerEncoder(model, cache_dir=self.cache_dir, truncate_dim=self.truncate_dim,
                                                   fingerprint=self.fingerprint)
        scores = run_mteb(encoder, [task], batch_size=self.batch_size,
                          show_progress_bar=self.show_progress_bar)[task.metadata.name]
        self.fingerprint = encoder.fingerprint
        cutoffs = {"accuracy@k": self.accuracy_at_k, "precision@k": self.precision_recall_at_k,
                   "recall@k": self.precision_recall_at_k, "mrr@k": self.mrr_at_k, "ndcg@k": self.ndcg_at_k,
                   "map@k": self.map_at_k}
        picked = {family: {k: float(scores[_MTEB_NAMES[family].format(k)]) for k in ks}
                  for family, ks in cutoffs.items()}
        if not self.primary_metric:  # nDCG@10 is the headline (as in MTEB), not the largest cut-off
            headline = 10 if 10 in self.ndcg_at_k else max(self.ndcg_at_k)
            self.primary_metric = f"{next(iter(sorted(self.score_functions)))}_ndcg@{headline}"
        return {name: picked for name in self.score_functions}

    compute_metrices = compute_all_metrics

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "relevance": "graded (MTEB / pytrec_eval)"}


def short_metrics(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    """``{"{prefix}_{similarity}_ndcg@10": v}`` -> ``{"ndcg@10": v}`` (the keys of sbert_med's results files)."""
    out = {}
    for key, value in metrics.items():
        rest = key[len(prefix) + 1:] if prefix and key.startswith(prefix + "_") else key
        out[rest.split("_", 1)[1] if "_" in rest else rest] = float(value)
    return out
