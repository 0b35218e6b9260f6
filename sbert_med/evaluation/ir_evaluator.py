"""sentence-transformers' ``InformationRetrievalEvaluator`` built from a :class:`BeirData`."""

from __future__ import annotations

from typing import Any

from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from sbert_med.data.beir import BeirData


def ir_evaluator(data: BeirData, name: str | None = None, **kwargs: Any) -> InformationRetrievalEvaluator:
    """An ``InformationRetrievalEvaluator`` over ``data``: queries go through ``encode_query``, the corpus through
    ``encode_document`` (so an asymmetric Router model is evaluated with each side on its own tower).

    Relevance is binary here (score > 0), as in sentence-transformers; graded nDCG is what
    :func:`sbert_med.evaluation.evaluate_retrieval` (MTEB's evaluation) reports.

    Args:
        data: A :class:`BeirData` from :func:`load_beir`.
        name: The evaluator name used as metric prefix (default: ``data.name``).
        **kwargs: Passed to ``InformationRetrievalEvaluator`` (``ndcg_at_k``, ``truncate_dim``, ``query_prompt``,
            ``corpus_prompt``, ``batch_size``, ``show_progress_bar``, ...).

    Example::

        evaluator = ir_evaluator(load_beir("../shared/data/nfcorpus"), truncate_dim=256)
        evaluator(model)["nfcorpus_cosine_ndcg@10"]
    """
    return InformationRetrievalEvaluator(
        queries=data.queries,
        corpus=data.corpus,
        relevant_docs=data.relevant_docs,
        name=name if name is not None else data.name,
        **kwargs,
    )
