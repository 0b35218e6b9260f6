"""The manifest saved beside an index: which model built it, how, and over which corpus."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from sbert_med.index.alignment import AlignmentRecord

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1

#: Fixed texts whose embeddings identify a model: a different checkpoint of the same width gives other vectors.
PROBE_TEXTS = (
    "Metformin is a first-line treatment for type 2 diabetes mellitus.",
    "What are the early warning signs of a stroke?",
)
#: Minimum cosine between the stored and the recomputed probe embeddings (allows CPU/GPU and batch-size noise).
FINGERPRINT_MIN_COSINE = 0.999


def model_fingerprint(model: SentenceTransformer, *, truncate_dim: int | None = None) -> dict[str, list[list[float]]]:
    """Embeddings of :data:`PROBE_TEXTS` through the query and the document route, rounded to 6 decimals."""
    kwargs = {"batch_size": len(PROBE_TEXTS), "show_progress_bar": False, "truncate_dim": truncate_dim}
    query = model.encode_query(list(PROBE_TEXTS), **kwargs)
    document = model.encode_document(list(PROBE_TEXTS), **kwargs)
    return {
        "query": np.round(np.asarray(query, dtype=np.float64), 6).tolist(),
        "document": np.round(np.asarray(document, dtype=np.float64), 6).tolist(),
    }


def fingerprint_cosines(stored: dict[str, list[list[float]]], fresh: dict[str, list[list[float]]],
                        *, routes: tuple[str, ...] = ("query", "document")) -> dict[str, float]:
    """Smallest cosine per route between two fingerprints of the same width (1.0 = same model; -1.0 when the
    widths differ)."""
    result = {}
    for route in routes:
        a = np.asarray(stored[route], dtype=np.float64)
        b = np.asarray(fresh[route], dtype=np.float64)
        if a.shape != b.shape:
            result[route] = -1.0
            continue
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        result[route] = float(cosine.min())
    return result


@dataclass
class IndexManifest:
    """Everything needed to reload an index and to refuse a query model it was not built with."""

    model_name: str
    embedding_dim: int
    similarity: str
    kind: str
    precision: str
    faiss_index: str
    num_documents: int
    corpus_checksum: str
    corpus_source: str
    fingerprint: dict[str, list[list[float]]]
    index_params: dict[str, Any] = field(default_factory=dict)
    truncate_dim: int | None = None
    max_seq_length: int | None = None
    normalized: bool = True
    #: The prompt ``encode_document`` put before every text (``None``: none); informative, the fingerprint checks it.
    document_prompt: str | None = None
    sbert_med_version: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / MANIFEST_NAME
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> IndexManifest:
        path = Path(folder) / MANIFEST_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{folder} is not a finished sbert-med index: {MANIFEST_NAME} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: format_version must be {FORMAT_VERSION}, got {data.get('format_version')!r}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown keys {unknown}")
        return cls(**data)

    def check_query_model(self, model: SentenceTransformer, *, model_name: str | None = None,
                          alignment: AlignmentRecord | None = None) -> None:
        """Raise ``ValueError`` when ``model`` is not a model this index can be searched with.

        Checks the width of both routes first (a clear message for the common mistake), then the identity: the
        model's embeddings of fixed probe texts must match the ones stored at build time, on both routes. One
        exception: a model whose query tower was aligned to this index's document model (MAR Stage I on the index's
        vectors, :mod:`sbert_med.index.alignment`) is accepted with another query route when its document route
        matches and ``alignment`` (its ``index_alignment.json``) names this document model and its own query tower.
        """
        shown = model_name or "the query model"
        fingerprint = model_fingerprint(model, truncate_dim=self.truncate_dim)
        for route in ("query", "document"):
            width = len(fingerprint[route][0])
            if width != self.embedding_dim:
                raise ValueError(
                    f"{shown} gives {width}-d {route} embeddings, but this index holds {self.embedding_dim}-d "
                    f"embeddings built with {self.model_name!r}; search it with that model"
                )
        cosines = fingerprint_cosines(self.fingerprint, fingerprint)
        if cosines["document"] >= FINGERPRINT_MIN_COSINE and cosines["query"] < FINGERPRINT_MIN_COSINE and alignment:
            self._check_alignment(alignment, fingerprint, shown)
            logger.info("%s: query tower aligned to this index's document model %r", shown, self.model_name)
            return
        # with a record, a foreign document route is the mismatch to name (the query route differs by design)
        for route in ("document", "query") if alignment else ("query", "document"):
            cosine = cosines[route]
            if cosine < FINGERPRINT_MIN_COSINE:
                raise ValueError(
                    f"{shown} is not the model this index was built with ({self.model_name!r}): its {route} route "
                    f"embeds the probe texts differently (cosine {cosine:.4f} < {FINGERPRINT_MIN_COSINE}); "
                    "search with the model that built the index, or rebuild the index"
                )

    def _check_alignment(self, alignment: AlignmentRecord, fingerprint: dict[str, list[list[float]]],
                         shown: str) -> None:
        """Refuse an alignment record that names another document model, or another query tower than ``model``'s."""
        document = fingerprint_cosines({"document": self.fingerprint["document"]},
                                       {"document": alignment.document_fingerprint}, routes=("document",))["document"]
        if document < FINGERPRINT_MIN_COSINE:
            raise ValueError(
                f"{shown} records that its query tower was aligned to {alignment.document_model_name!r}, not to "
                f"this index's document model {self.model_name!r} (probe cosine {document:.4f} < "
                f"{FINGERPRINT_MIN_COSINE}); align it to this index, or search the index it was aligned to"
            )
        query = fingerprint_cosines({"query": alignment.query_fingerprint}, fingerprint, routes=("query",))["query"]
        if query < FINGERPRINT_MIN_COSINE:
            raise ValueError(
                f"{shown}'s query route is not the one its alignment record describes (probe cosine {query:.4f} < "
                f"{FINGERPRINT_MIN_COSINE}): the record belongs to another model; record the alignment again "
                "after training"
            )
