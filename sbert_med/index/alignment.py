"""Align a query tower to an index that already exists, and record that it was.

A corpus indexed by a big model holds, for every document, the document vector that model gave it. Those vectors are
the document-side targets of MAR's Stage I (:class:`~sbert_med.losses.AlignmentLoss` with a ``label`` column), so a
small query tower can be aligned to the big model without encoding the corpus again:

1. :func:`load_index_targets` reads an index's texts and stored vectors exactly as the index holds them, plus what its
   manifest says about the document model (name, probe fingerprint, width, ``truncate_dim``, prompt).
2. The query tower is trained on ``IndexTargets.to_dataset()`` (``text`` routed to the query, ``label`` the target)
   inside an asymmetric model whose document route *is* the index's document model (frozen).
3. :func:`record_index_alignment` writes ``index_alignment.json`` into the saved model folder. The model stays made
   of sentence-transformers' built-in modules (``SentenceTransformer(path)`` loads it; the file is ignored there).
4. :meth:`IndexManifest.check_query_model` then accepts that model for the index although its query route differs
   from the document model's: its document route matches the index's, and its record says its query tower (the one
   it holds, checked by the query probe vectors) was aligned to that document model. Any other mismatch is refused.

The record (``index_alignment.json``, format 1)::

    {"format_version": 1,
     "route": "query",                        # the route that was aligned
     "document_model": {"model_name": ..., "embedding_dim": ..., "truncate_dim": ..., "similarity": ...,
                        "normalized": ..., "document_prompt": ..., "fingerprint": [[...], [...]]},
     "query_fingerprint": [[...], [...]],     # this model's query route on the probe texts, at truncate_dim
     "index": {"folder": ..., "corpus_checksum": ..., "num_documents": ...},   # where the targets came from
     "sbert_med_version": ..., "created": ...}
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sbert_med.index.manifest import FINGERPRINT_MIN_COSINE, IndexManifest, fingerprint_cosines, model_fingerprint
from sbert_med.index.med_index import EMBEDDINGS_FILE, MedIndex

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

__all__ = [
    "ALIGNMENT_FILE",
    "AlignmentRecord",
    "IndexTargets",
    "check_document_route",
    "load_index_targets",
    "read_alignment_record",
    "read_index_alignment",
    "record_index_alignment",
]

ALIGNMENT_FILE = "index_alignment.json"
RECORD_FORMAT_VERSION = 1
#: FAISS index kinds whose stored vectors ``reconstruct`` gives back exactly (no quantisation).
_EXACT_RECONSTRUCT = {("flat", "float32"), ("hnsw", "float32")}


# ------------------------------------------------------------------------------------------------------- targets
@dataclass
class IndexTargets:
    """The texts of an index and the document vectors it holds for them, in index order.

    ``texts[i]`` is exactly what the document model encoded into ``vectors[i]`` (titles joined as at build time, no
    prompt: the model added its own). ``vectors`` are float32, at the index's width (``truncate_dim`` applied) and
    L2-normalised when the index is a cosine one.
    """

    folder: Path
    ids: list[str]
    texts: list[str]
    vectors: np.ndarray
    manifest: IndexManifest

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def document_model(self) -> dict[str, Any]:
        """What the manifest says about the document model (its probe fingerprint included)."""
        m = self.manifest
        return {
            "model_name": m.model_name,
            "embedding_dim": m.embedding_dim,
            "truncate_dim": m.truncate_dim,
            "similarity": m.similarity,
            "normalized": m.normalized,
            "document_prompt": m.document_prompt,
            "fingerprint": m.fingerprint["document"],
        }

    def to_dataset(self, *, text_column: str = "text", label_column: str = "label") -> Dataset:
        """A ``datasets.Dataset`` of ``(text, target vector)`` rows: the input of
        :class:`~sbert_med.losses.AlignmentLoss` with precomputed targets (route ``text_column`` to ``"query"``)."""
        from datasets import Dataset

        return Dataset.from_dict({text_column: list(self.texts),
                                  label_column: np.asarray(self.vectors, dtype=np.float32)})

    def check_document_model(self, model: SentenceTransformer, *, model_name: str | None = None) -> None:
        """Raise ``ValueError`` unless ``model``'s document route is the index's document model (probe check)."""
        check_document_route(self.manifest, model, model_name=model_name)


def _stored_vectors(index: MedIndex) -> np.ndarray:
    """The float32 document vectors of an index: ``embeddings.npy`` (every build writes it), else the FAISS index's
    own storage where it holds them unquantised (flat / HNSW float32)."""
    m = index.manifest
    if index.embeddings is not None:
        return np.asarray(index.embeddings, dtype=np.float32)
    if (m.kind, m.precision) in _EXACT_RECONSTRUCT:
        return np.asarray(index.index.reconstruct_n(0, index.index.ntotal), dtype=np.float32)
    raise ValueError(
        f"{index.folder}: {EMBEDDINGS_FILE} is missing and a {m.faiss_index} index ({m.kind}, {m.precision}) stores "
        "its vectors quantised, so they cannot serve as alignment targets; rebuild the index (every build writes "
        f"{EMBEDDINGS_FILE})"
    )


def load_index_targets(index_dir: str | Path) -> IndexTargets:
    """Read an index's document ids, texts and stored vectors, and its manifest, without encoding anything.

    Args:
        index_dir: a folder written by :func:`~sbert_med.index.build_index` (``sbert-med index build``).

    Returns:
        :class:`IndexTargets`; the index is validated as :meth:`MedIndex.load` does (counts, widths, corpus checksum).

    Raises:
        FileNotFoundError: no such folder, or not a finished index.
        ValueError: a damaged index, or one whose vectors cannot be read back exactly (quantised, without
            ``embeddings.npy``).
    """
    index = MedIndex.load(index_dir)
    vectors = _stored_vectors(index)
    if not np.isfinite(vectors).all():
        raise ValueError(f"{index.folder / EMBEDDINGS_FILE}: holds non-finite values; rebuild the index")
    logger.info("Read %d document vectors (%d-d, %s) of %s as alignment targets",
                len(vectors), vectors.shape[1], index.manifest.model_name, index.folder)
    return IndexTargets(folder=index.folder, ids=list(index.ids), texts=list(index.texts), vectors=vectors,
                        manifest=index.manifest)


def read_index_alignment(
    index_dir: str | Path, *, document_model: str | Path | SentenceTransformer | None = None
) -> tuple[list[str], np.ndarray]:
    """Stage I's ``(texts, target vectors)`` from an index (what the MAR recipe's ``alignment_index`` reads).

    Args:
        index_dir: the index folder.
        document_model: the model that will be the document route (a sentence-transformers folder / id, or a
            loaded model, e.g. the assembled asymmetric model); checked to be the index's document model before any
            training, so that a run is not spent aligning to vectors of another model.

    Returns:
        The index's texts and its stored vectors, in index order (see :func:`load_index_targets`).
    """
    targets = load_index_targets(index_dir)
    if document_model is not None:
        name = None
        if isinstance(document_model, (str, Path)):
            from sentence_transformers import SentenceTransformer

            name = str(document_model)
            document_model = SentenceTransformer(name, device="cpu")
        targets.check_document_model(document_model, model_name=f"document_model {name}" if name else None)
    return targets.texts, targets.vectors


def check_document_route(manifest: IndexManifest, model: SentenceTransformer, *, model_name: str | None = None,
                         fingerprint: dict[str, list[list[float]]] | None = None) -> None:
    """Raise ``ValueError`` unless ``model``'s document route embeds the probe texts as the index's model did."""
    shown = model_name or "the model"
    fingerprint = fingerprint or model_fingerprint(model, truncate_dim=manifest.truncate_dim)
    width = len(fingerprint["document"][0])
    if width != manifest.embedding_dim:
        raise ValueError(f"{shown} gives {width}-d document embeddings, but the index holds "
                         f"{manifest.embedding_dim}-d embeddings built with {manifest.model_name!r}; its document "
                         "route must be that model")
    cosine = fingerprint_cosines(manifest.fingerprint, fingerprint, routes=("document",))["document"]
    if cosine < FINGERPRINT_MIN_COSINE:
        raise ValueError(f"{shown}'s document route is not the index's document model {manifest.model_name!r} "
                         f"(probe cosine {cosine:.4f} < {FINGERPRINT_MIN_COSINE}); build the model with that "
                         "document tower, frozen")


# -------------------------------------------------------------------------------------------------------- record
@dataclass
class AlignmentRecord:
    """A model's statement that its query route was aligned to an index's document model (``index_alignment.json``).
    """

    document_model: dict[str, Any]
    query_fingerprint: list[list[float]]
    index: dict[str, Any] = field(default_factory=dict)
    route: str = "query"
    sbert_med_version: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    format_version: int = RECORD_FORMAT_VERSION

    @property
    def document_model_name(self) -> str:
        return str(self.document_model.get("model_name", "?"))

    @property
    def document_fingerprint(self) -> list[list[float]]:
        return self.document_model["fingerprint"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, model_dir: str | Path) -> Path:
        """Write the record into a model folder (temporary name, then moved into place)."""
        path = Path(model_dir) / ALIGNMENT_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> AlignmentRecord:
        """Read a record file (errors name the file, line and key)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not valid UTF-8 ({exc.reason})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
        if data.get("format_version") != RECORD_FORMAT_VERSION:
            raise ValueError(f"{path}: format_version must be {RECORD_FORMAT_VERSION}, "
                             f"got {data.get('format_version')!r}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{path}: unknown keys {unknown}")
        for key in ("document_model", "query_fingerprint"):
            if key not in data:
                raise ValueError(f"{path}: missing key {key!r}")
        if not isinstance(data["document_model"], dict) or "fingerprint" not in data["document_model"]:
            raise ValueError(f"{path}: document_model must be an object with a 'fingerprint', "
                             f"got {data['document_model']!r:.80}")
        if data.get("route", "query") != "query":
            raise ValueError(f"{path}: route must be 'query', got {data['route']!r}")
        return cls(**data)


def read_alignment_record(model_dir: str | Path) -> AlignmentRecord | None:
    """The alignment record of a model folder, or ``None`` when it has none (or ``model_dir`` is a Hub id)."""
    path = Path(model_dir) / ALIGNMENT_FILE
    return AlignmentRecord.load(path) if path.is_file() else None


def record_index_alignment(
    model_dir: str | Path,
    index: str | Path | IndexTargets | IndexManifest,
    *,
    model: SentenceTransformer | None = None,
) -> AlignmentRecord:
    """Record in ``model_dir`` that the saved model's query tower was aligned to ``index``'s document model.

    The model's document route is checked against the index first (a record is never written for a model whose
    document route is another model), and its query route's probe vectors are stored so that the record does not
    vouch for another query tower copied next to it.

    Args:
        model_dir: the saved model folder (e.g. ``runs/mar/model``).
        index: the index folder the targets came from (or its :class:`IndexTargets` / :class:`IndexManifest`).
        model: the model saved in ``model_dir`` (default: loaded from it).

    Returns:
        The record written to ``model_dir/index_alignment.json``.
    """
    from sbert_med import __version__

    model_dir = Path(model_dir)
    if isinstance(index, IndexTargets):
        manifest, folder = index.manifest, index.folder
    elif isinstance(index, IndexManifest):
        manifest, folder = index, None
    else:
        folder = Path(index)
        manifest = IndexManifest.load(folder)
    if model is None:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_dir), device="cpu")
    fingerprint = model_fingerprint(model, truncate_dim=manifest.truncate_dim)
    check_document_route(manifest, model, model_name=str(model_dir), fingerprint=fingerprint)
    document_model = {
        "model_name": manifest.model_name, "embedding_dim": manifest.embedding_dim,
        "truncate_dim": manifest.truncate_dim, "similarity": manifest.similarity, "normalized": manifest.normalized,
        "document_prompt": manifest.document_prompt, "fingerprint": manifest.fingerprint["document"],
    }
    where = {"corpus_checksum": manifest.corpus_checksum, "num_documents": manifest.num_documents}
    if folder is not None:
        where = {"folder": str(Path(folder).resolve()), **where}
    record = AlignmentRecord(document_model=document_model, query_fingerprint=fingerprint["query"], index=where,
                             sbert_med_version=__version__)
    record.save(model_dir)
    logger.info("Recorded in %s that its query tower was aligned to %s", model_dir / ALIGNMENT_FILE,
                manifest.model_name)
    return record
