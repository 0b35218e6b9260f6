"""FAISS indexes of a corpus built with the document route and searched with the query route.

``build_index`` streams the corpus through ``encode_document`` into resumable shards and saves a flat, IVF or HNSW
index (float32, int8 or binary) with a manifest; ``MedIndex.load(...).search(model, query)`` encodes queries with
``encode_query`` and refuses a model that does not match the manifest. ``load_index_targets`` gives an index's
texts and stored vectors as alignment targets for a new query tower, and ``record_index_alignment`` records in the
trained model's folder that its query tower was aligned to the index's document model, so that the index accepts it.
"""

from __future__ import annotations

from sbert_med.index.alignment import (
    AlignmentRecord,
    IndexTargets,
    load_index_targets,
    read_alignment_record,
    record_index_alignment,
)
from sbert_med.index.build import build_index
from sbert_med.index.corpus import IndexCorpus, load_corpus
from sbert_med.index.manifest import IndexManifest
from sbert_med.index.med_index import MedIndex, SearchHit

__all__ = [
    "AlignmentRecord",
    "IndexCorpus",
    "IndexManifest",
    "IndexTargets",
    "MedIndex",
    "SearchHit",
    "build_index",
    "load_corpus",
    "load_index_targets",
    "read_alignment_record",
    "record_index_alignment",
]
