"""FAISS indexes of a corpus built with the document route and searched with the query route.

``build_index`` streams the corpus through ``encode_document`` into resumable shards and saves a flat, IVF or HNSW
index (float32, int8 or binary) with a manifest; ``MedIndex.load(...).search(model, query)`` encodes queries with
``encode_query`` and refuses a model that does not match the manifest.
"""

from __future__ import annotations

from sbert_med.index.build import build_index
from sbert_med.index.corpus import IndexCorpus, load_corpus
from sbert_med.index.manifest import IndexManifest
from sbert_med.index.med_index import MedIndex, SearchHit

__all__ = ["IndexCorpus", "IndexManifest", "MedIndex", "SearchHit", "build_index", "load_corpus"]
