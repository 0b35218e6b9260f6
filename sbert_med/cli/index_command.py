"""``sbert-med index``: build, search and describe FAISS indexes (a thin layer over :mod:`sbert_med.index`)."""

from __future__ import annotations

import argparse
import json

from sbert_med.index.faiss_backend import KINDS, PRECISIONS

HELP = "build, search and describe FAISS indexes of a corpus"
DESCRIPTION = "Documents are encoded with the model's document route, queries with its query route."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="index_action", required=True, metavar="ACTION")

    build = actions.add_parser("build", help="encode a corpus and save a FAISS index (resumes an interrupted build)")
    build.add_argument("--model", required=True, help="model path or Hub id")
    build.add_argument("--corpus", required=True, help="JSONL file (_id, text[, title]) or BEIR folder")
    build.add_argument("--out", required=True, help="output folder of the index")
    build.add_argument("--kind", choices=KINDS, default="flat", help="flat (exact), ivf or hnsw (default: flat)")
    build.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="float32, int8 or binary; int8/binary rescore with float32 vectors (default: float32)")
    build.add_argument("--similarity", choices=("cosine", "dot"), default=None,
                       help="default: the model's similarity function")
    build.add_argument("--truncate-dim", type=int, default=None, help="Matryoshka truncation")
    build.add_argument("--max-seq-length", type=int, default=None, help="override the model's max_seq_length")
    build.add_argument("--batch-size", type=int, default=32)
    build.add_argument("--shard-size", type=int, default=1024, help="documents per resumable shard")
    build.add_argument("--shard-dir", default=None, help="keep shards here (default: OUT/shards, removed at the end)")
    build.add_argument("--devices", nargs="+", default=None,
                       help="multi-process encoding on these devices, e.g. cuda:0 cuda:1 (default: one process)")
    build.add_argument("--nlist", type=int, default=None, help="IVF lists (default ~4*sqrt(N))")
    build.add_argument("--nprobe", type=int, default=16, help="IVF lists visited per query")
    build.add_argument("--hnsw-m", type=int, default=32)
    build.add_argument("--ef-search", type=int, default=64)
    build.add_argument("--no-title", action="store_true", help="do not prepend titles to document texts")
    build.add_argument("--overwrite", action="store_true", help="replace an existing index in OUT")
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    build.set_defaults(func=run_build)

    search = actions.add_parser("search", help="search an index with the query route of its model")
    search.add_argument("index_dir", metavar="DIR")
    search.add_argument("--model", required=True,
                        help="the model that built the index, or a model whose query tower was aligned to it (its "
                             "folder holds index_alignment.json)")
    search.add_argument("--query", required=True, action="append", help="query text (repeat for several)")
    search.add_argument("--top-k", type=int, default=10)
    search.add_argument("--nprobe", type=int, default=None)
    search.add_argument("--ef-search", type=int, default=None)
    search.add_argument("--no-rescore", action="store_true", help="skip float32 rescoring of int8/binary indexes")
    search.add_argument("--json", action="store_true", help="print a JSON list of {id, score, text}")
    search.set_defaults(func=run_search)

    info = actions.add_parser("info", help="print an index's manifest")
    info.add_argument("index_dir", metavar="DIR")
    info.set_defaults(func=run_info)


def _load_model(name: str, max_seq_length: int | None = None):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(name)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def run_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sbert_med.index import build_index
    from sbert_med.index.build import check_output_dir

    check_output_dir(Path(args.out), args.corpus, args.overwrite)  # before the model loads
    model = _load_model(args.model, args.max_seq_length)
    index = build_index(
        model, args.corpus, args.out, kind=args.kind, precision=args.precision, similarity=args.similarity,
        model_name=args.model, truncate_dim=args.truncate_dim, batch_size=args.batch_size, shard_size=args.shard_size,
        shard_dir=args.shard_dir, devices=args.devices, nlist=args.nlist, nprobe=args.nprobe, hnsw_m=args.hnsw_m,
        ef_search=args.ef_search, with_title=not args.no_title, overwrite=args.overwrite,
        show_progress_bar=not args.no_progress,
    )
    print(f"{index.manifest.faiss_index} index of {len(index)} documents "
          f"({index.manifest.embedding_dim}-d, {index.manifest.similarity}) saved to {args.out}")
    return 0


def run_search(args: argparse.Namespace) -> int:
    from sbert_med.index import MedIndex
    from sbert_med.index.alignment import read_alignment_record

    index = MedIndex.load(args.index_dir)
    model = _load_model(args.model)
    results = index.search(model, args.query, top_k=args.top_k, rescore=False if args.no_rescore else None,
                           nprobe=args.nprobe, ef_search=args.ef_search, model_name=args.model,
                           alignment=read_alignment_record(args.model))
    if args.json:
        payload = [[hit.to_dict() for hit in hits] for hits in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2, ensure_ascii=False))
        return 0
    for query, hits in zip(args.query, results):
        print(f"query: {query}")
        for rank, hit in enumerate(hits, start=1):
            text = hit.text if len(hit.text) <= 160 else hit.text[:157] + "..."
            print(f"{rank:>3}. {hit.score:.4f}  {hit.id}  {text}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from sbert_med.index import MedIndex

    print(json.dumps(MedIndex.load(args.index_dir).info(), indent=2))
    return 0
