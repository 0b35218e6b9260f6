"""Score vectors computed elsewhere (the GPU machine) with graded nDCG@10 exactly as MTEB does (pytrec_eval's
``ndcg_cut.10`` over each query's top 1,000 documents by cosine, averaged over the split's queries).

``check`` reproduces the main table's "document tower alone" row from the EmbeddingGemma vectors that
``mar_device_encode.py`` returned, against the figure MTEB computed from the same vectors in ``bench_mar.py``: the
two scorers must agree before the decoder table is trusted.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytrec_eval

from sbert_med.data.beir import BeirData


def ndcg_at_10(data: BeirData, query_vectors: dict[str, np.ndarray], document_vectors: dict[str, np.ndarray],
               *, depth: int = 1000) -> float:
    """Mean graded nDCG@10 of ``data``'s queries; vectors are looked up by text."""
    return float(np.mean(list(per_query_ndcg_at_10(data, query_vectors, document_vectors, depth=depth).values())))


def per_query_ndcg_at_10(data: BeirData, query_vectors: dict[str, np.ndarray],
                         document_vectors: dict[str, np.ndarray], *, depth: int = 1000) -> dict[str, float]:
    """Graded nDCG@10 of each of ``data``'s queries (``{query_id: ndcg}``, for paired comparisons)."""
    doc_ids = list(data.corpus)
    documents = np.stack([document_vectors[data.corpus[cid]] for cid in doc_ids])
    documents /= np.linalg.norm(documents, axis=1, keepdims=True)
    run = {}
    for qid, text in data.queries.items():
        query = query_vectors[text] / np.linalg.norm(query_vectors[text])
        scores = documents @ query
        top = np.argsort(-scores)[:depth]
        run[qid] = {doc_ids[i]: float(scores[i]) for i in top}
    qrels = {qid: {cid: int(score) for cid, score in docs.items()} for qid, docs in data.qrels.items()}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    return {qid: per_query[qid]["ndcg_cut_10"] for qid in data.queries}


def eval_texts(texts_gz: Path) -> tuple[list[str], list[str]]:
    groups = json.loads(gzip.decompress(texts_gz.read_bytes()))["groups"]
    return groups["eval_queries"]["texts"], groups["eval_documents"]["texts"]


def score_rows(folder: Path, texts_gz: Path, tasks: dict[str, BeirData], names: list[str]) -> dict[str, dict]:
    """{row: {task: nDCG@10, "mean": ...}} for the ``<row>.npz`` files (``queries``, ``documents``) of ``folder``."""
    queries, documents = eval_texts(texts_gz)
    rows = {}
    for name in names:
        vectors = np.load(folder / f"{name}.npz")
        by_query = dict(zip(queries, vectors["queries"]))
        by_document = dict(zip(documents, vectors["documents"]))
        row = {task: ndcg_at_10(data, by_query, by_document) for task, data in tasks.items()}
        row["mean"] = sum(row[task] for task in tasks) / len(tasks)
        rows[name] = row
    return rows


def check(device_folder: Path, tasks: dict[str, BeirData]) -> dict[str, float]:
    """The document tower alone, scored here from the GPU machine's EmbeddingGemma vectors."""
    queries, documents = eval_texts(device_folder / "texts.json.gz")
    by_query = dict(zip(queries, np.load(device_folder / "eval_queries.npy")))
    by_document = dict(zip(documents, np.load(device_folder / "eval_documents.npy")))
    return {task: ndcg_at_10(data, by_query, by_document) for task, data in tasks.items()}
