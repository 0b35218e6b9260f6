"""A saved FAISS index of a corpus, searched with the query route of the model that built it."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sbert_med.index.corpus import corpus_checksum
from sbert_med.index.faiss_backend import read_index, search_faiss_index, set_search_params
from sbert_med.index.manifest import IndexManifest

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from sbert_med.index.alignment import AlignmentRecord

logger = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
EMBEDDINGS_FILE = "embeddings.npy"
CORPUS_FILE = "corpus.jsonl"


@dataclass
class SearchHit:
    """One ranked result."""

    id: str
    score: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_corpus(path: Path) -> tuple[list[str], list[str]]:
    """The ids and texts of an index's ``corpus.jsonl`` (errors name the file and line)."""
    ids, texts = [], []
    try:
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                try:
                    row = json.loads(line)
                    ids.append(row["id"])
                    texts.append(row["text"])
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}, line {line_no}: not an index corpus row ({type(exc).__name__}: "
                                     f"{exc}); rebuild the index") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not valid UTF-8 ({exc.reason}); rebuild the index") from None
    return ids, texts


class MedIndex:
    """A FAISS index over a corpus plus its manifest, document ids and texts.

    Load one with :meth:`MedIndex.load` (``build_index`` returns one too) and search it with :meth:`search`, which
    refuses a query model that is not the model the index was built with.
    """

    def __init__(self, folder: str | Path, manifest: IndexManifest, index, ids: list[str], texts: list[str],
                 embeddings: np.ndarray | None) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self.index = index
        self.ids = ids
        self.texts = texts
        self.embeddings = embeddings

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        m = self.manifest
        return f"MedIndex({str(self.folder)!r}, kind={m.kind!r}, precision={m.precision!r}, documents={len(self)})"

    @classmethod
    def load(cls, folder: str | Path, *, mmap_embeddings: bool = True) -> MedIndex:
        """Load an index saved by :func:`~sbert_med.index.build_index`; validates it against its manifest."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"index folder not found: {folder}")
        manifest = IndexManifest.load(folder)
        for name in (INDEX_FILE, CORPUS_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder}: {name} is missing (rebuild the index)")
        try:
            index = read_index(str(folder / INDEX_FILE), precision=manifest.precision)
        except RuntimeError as exc:  # FAISS reports a truncated or corrupt file as a RuntimeError
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"{folder / INDEX_FILE}: unreadable FAISS index ({reason}); rebuild the index") from None
        set_search_params(index, kind=manifest.kind, params=manifest.index_params)
        ids, texts = _read_corpus(folder / CORPUS_FILE)
        embeddings = None
        if (folder / EMBEDDINGS_FILE).is_file():
            try:
                embeddings = np.load(folder / EMBEDDINGS_FILE, mmap_mode="r" if mmap_embeddings else None)
            except (ValueError, OSError) as exc:
                raise ValueError(f"{folder / EMBEDDINGS_FILE}: unreadable ({exc}); rebuild the index") from None
        problems = []
        if index.ntotal != manifest.num_documents:
            problems.append(f"{INDEX_FILE} holds {index.ntotal} vectors")
        if len(ids) != manifest.num_documents:
            problems.append(f"{CORPUS_FILE} holds {len(ids)} documents")
        if embeddings is not None and embeddings.shape != (manifest.num_documents, manifest.embedding_dim):
            problems.append(f"{EMBEDDINGS_FILE} has shape {embeddings.shape}")
        if problems:
            raise ValueError(f"{folder}: the manifest says {manifest.num_documents} documents of "
                             f"{manifest.embedding_dim} dims, but " + "; ".join(problems))
        if corpus_checksum(ids, texts) != manifest.corpus_checksum:
            raise ValueError(f"{folder}: {CORPUS_FILE} does not match the manifest's corpus checksum "
                             f"({manifest.corpus_checksum}); it was edited after the build, rebuild the index")
        return cls(folder, manifest, index, ids, texts, embeddings)

    def info(self) -> dict[str, Any]:
        """The manifest as a dict, without the fingerprint vectors."""
        info = self.manifest.to_dict()
        info.pop("fingerprint")
        info["folder"] = str(self.folder)
        return info

    def encode_queries(self, model: SentenceTransformer, queries: list[str], *, batch_size: int = 32,
                       check_model: bool = True, model_name: str | None = None,
                       alignment: AlignmentRecord | str | Path | None = None) -> np.ndarray:
        """Encode queries with the query route, after checking ``model`` against the manifest (``alignment``: see
        :meth:`search`)."""
        if check_model:
            if isinstance(alignment, (str, Path)):
                from sbert_med.index.alignment import read_alignment_record

                alignment = read_alignment_record(alignment)
            self.manifest.check_query_model(model, model_name=model_name, alignment=alignment)
        return np.asarray(model.encode_query(
            queries, batch_size=batch_size, show_progress_bar=False,
            normalize_embeddings=self.manifest.normalized, truncate_dim=self.manifest.truncate_dim,
        ), dtype=np.float32)

    def search(
        self,
        model: SentenceTransformer,
        queries: str | list[str],
        *,
        top_k: int = 10,
        rescore: bool | None = None,
        rescore_multiplier: int = 4,
        nprobe: int | None = None,
        ef_search: int | None = None,
        batch_size: int = 32,
        model_name: str | None = None,
        alignment: AlignmentRecord | str | Path | None = None,
    ) -> list[list[SearchHit]]:
        """Search the index with ``model``'s query route.

        Args:
            model: the model that built the index (checked against the manifest's width and fingerprint), or a
                model aligned to it (see ``alignment``).
            queries: one query or a list.
            top_k: results per query.
            rescore: re-rank ``top_k * rescore_multiplier`` candidates with the float32 document embeddings;
                default: on for int8 and binary indexes.
            rescore_multiplier: candidates fetched per result when rescoring.
            nprobe: IVF lists visited (default: the manifest's).
            ef_search: HNSW search breadth (default: the manifest's).
            batch_size: query encoding batch size.
            model_name: how to call the model in error messages.
            alignment: for a model whose query tower was aligned to this index's document model, its alignment
                record (:class:`~sbert_med.index.alignment.AlignmentRecord`) or its model folder, which holds the
                record as ``index_alignment.json``; lets its query route differ from the document model's.

        Returns:
            For each query, its hits best first.
        """
        single = isinstance(queries, str)
        query_list = [queries] if single else list(queries)
        if not query_list:
            raise ValueError("no queries given")
        for number, query in enumerate(query_list, start=1):
            if not isinstance(query, str) or not query.strip():
                raise ValueError(f"query {number} is empty ({query!r}); give a text to search for")
        embeddings = self.encode_queries(model, query_list, batch_size=batch_size, model_name=model_name,
                                         alignment=alignment)
        scores, positions = self.search_embeddings(embeddings, top_k=top_k, rescore=rescore,
                                                   rescore_multiplier=rescore_multiplier, nprobe=nprobe,
                                                   ef_search=ef_search)
        results = []
        for row_scores, row_positions in zip(scores, positions):
            results.append([SearchHit(self.ids[p], float(s), self.texts[p])
                            for s, p in zip(row_scores, row_positions) if p >= 0])
        return results

    def search_embeddings(
        self,
        query_embeddings: np.ndarray,
        *,
        top_k: int = 10,
        rescore: bool | None = None,
        rescore_multiplier: int = 4,
        nprobe: int | None = None,
        ef_search: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Search with query embeddings already computed: ``(scores, positions)``, ``-1`` where fewer hits exist."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k!r}")
        query_embeddings = np.atleast_2d(np.asarray(query_embeddings, dtype=np.float32))
        if query_embeddings.shape[1] != self.manifest.embedding_dim:
            raise ValueError(f"query embeddings have {query_embeddings.shape[1]} dims, the index "
                             f"{self.manifest.embedding_dim}")
        params = dict(self.manifest.index_params)
        if nprobe is not None:
            params["nprobe"] = nprobe
        if ef_search is not None:
            params["ef_search"] = ef_search
        set_search_params(self.index, kind=self.manifest.kind, params=params)
        precision = self.manifest.precision
        if rescore is None:
            rescore = precision != "float32"
        if rescore and self.embeddings is None:
            raise ValueError(f"{self.folder}: rescoring needs {EMBEDDINGS_FILE}, which is missing")
        k = min(len(self), top_k * rescore_multiplier if rescore else top_k)
        scores, positions = search_faiss_index(self.index, query_embeddings, k, precision=precision)
        if rescore:
            scores, positions = self._rescore(query_embeddings, positions, top_k)
        return scores[:, :top_k], positions[:, :top_k]

    def _rescore(self, queries: np.ndarray, candidates: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner products with the float32 embeddings of each query's candidates, best first."""
        out_scores = np.full((len(queries), top_k), -np.inf, dtype=np.float32)
        out_positions = np.full((len(queries), top_k), -1, dtype=np.int64)
        for row, (query, cands) in enumerate(zip(queries, candidates)):
            cands = cands[cands >= 0]
            order = np.argsort(cands)  # sorted reads from the memory map
            exact = np.asarray(self.embeddings[cands[order]], dtype=np.float32) @ query
            best = np.argsort(-exact, kind="stable")[:top_k]
            out_scores[row, :len(best)] = exact[best]
            out_positions[row, :len(best)] = cands[order][best]
        return out_scores, out_positions
