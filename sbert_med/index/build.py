"""Build a FAISS index of a corpus with the document route of a model."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sbert_med import __version__
from sbert_med.encoding import model_fingerprint as weights_fingerprint
from sbert_med.index.corpus import IndexCorpus, load_corpus
from sbert_med.index.faiss_backend import (
    KINDS,
    PRECISIONS,
    IndexKind,
    Precision,
    build_faiss_index,
    default_nlist,
    factory_string,
    gpu_available,
    write_index,
)
from sbert_med.index.manifest import MANIFEST_NAME, IndexManifest, model_fingerprint
from sbert_med.index.med_index import CORPUS_FILE, EMBEDDINGS_FILE, INDEX_FILE, MedIndex
from sbert_med.index.sharded_encoding import assemble_embeddings, encode_corpus_sharded

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

SIMILARITIES = ("cosine", "dot")
#: Written into an output folder before anything else, so a folder of a build in progress is told apart from a
#: folder of the user's own files.
BUILD_MARKER = ".sbert_med_index_build"
OUTPUT_FILES = (MANIFEST_NAME, INDEX_FILE, EMBEDDINGS_FILE, CORPUS_FILE)


def check_output_dir(output_dir: Path, corpus: Any, overwrite: bool) -> None:
    """Refuse an output folder where the build would write over an input: the corpus itself, or files of a folder
    that is not an sbert-med index (e.g. a BEIR folder's ``corpus.jsonl``)."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--out {output_dir} is a file; choose a folder for the index")
    if isinstance(corpus, (str, Path)):
        source = Path(corpus)
        source = source / "corpus.jsonl" if source.is_dir() else source
        targets = {(output_dir / name).resolve() for name in OUTPUT_FILES}
        if source.resolve() in targets:
            raise ValueError(f"the corpus {source} would be overwritten by the index written to {output_dir}; "
                             "choose another --out folder")
    ours = (output_dir / MANIFEST_NAME).exists() or (output_dir / BUILD_MARKER).exists()
    foreign = [name for name in OUTPUT_FILES if (output_dir / name).exists()]
    if foreign and not ours:
        raise ValueError(f"{output_dir} holds {', '.join(foreign)} but is not an sbert-med index folder (your own "
                         "files?); they would be overwritten: choose another --out folder")
    if (output_dir / MANIFEST_NAME).exists() and not overwrite:
        raise ValueError(f"{output_dir} already holds an index; pass overwrite=True (--overwrite) to replace it")


def count_truncated(model: SentenceTransformer, texts: list[str]) -> tuple[int, int]:
    """How many ``texts`` are longer than the model's ``max_seq_length`` tokens (and so cut), and the longest length.

    Only texts with more characters than ``max_seq_length`` are tokenized (a token covers at least one character).
    """
    limit = getattr(model, "max_seq_length", None)
    tokenizer = getattr(model, "tokenizer", None)
    if not isinstance(limit, int) or tokenizer is None:
        return 0, 0
    long_texts = [text for text in texts if len(text) > limit]
    lengths = [len(ids) for ids in tokenizer(long_texts, add_special_tokens=True)["input_ids"]] if long_texts else []
    over = [n for n in lengths if n > limit]
    return len(over), max(over, default=0)


def document_prompt(model: SentenceTransformer) -> str | None:
    """The prompt ``encode_document`` puts before each text when none is given (sentence-transformers' choice: the
    first of the ``document`` / ``passage`` / ``corpus`` prompts, else the default prompt)."""
    prompts = getattr(model, "prompts", None) or {}
    name = next((name for name in ("document", "passage", "corpus") if name in prompts), None)
    name = name or getattr(model, "default_prompt_name", None)
    return prompts.get(name) or None if name else None


def _model_name(model: SentenceTransformer) -> str:
    card = getattr(model, "model_card_data", None)
    for attribute in ("model_id", "model_name", "base_model"):
        value = getattr(card, attribute, None)
        if value:
            return str(value)
    return type(model).__name__


def _index_params(num_documents: int, *, nlist: int | None, nprobe: int, hnsw_m: int, ef_construction: int,
                  ef_search: int) -> dict[str, Any]:
    nlist = nlist or default_nlist(num_documents)
    if nlist < 1 or nlist > num_documents:
        raise ValueError(f"nlist must be between 1 and the number of documents ({num_documents}), got {nlist!r}")
    return {"nlist": nlist, "nprobe": min(nprobe, nlist), "hnsw_m": hnsw_m, "ef_construction": ef_construction,
            "ef_search": ef_search}


def build_index(
    model: SentenceTransformer,
    corpus: str | Path | Dataset | IndexCorpus,
    output_dir: str | Path,
    *,
    kind: IndexKind = "flat",
    precision: Precision = "float32",
    similarity: Literal["cosine", "dot"] | None = None,
    model_name: str | None = None,
    truncate_dim: int | None = None,
    batch_size: int = 32,
    shard_size: int = 1024,
    shard_dir: str | Path | None = None,
    devices: list[str] | None = None,
    use_gpu: bool = True,
    nlist: int | None = None,
    nprobe: int = 16,
    hnsw_m: int = 32,
    ef_construction: int = 80,
    ef_search: int = 64,
    with_title: bool = True,
    overwrite: bool = False,
    show_progress_bar: bool = True,
    on_shard_written: Callable[[int, Path], None] | None = None,
) -> MedIndex:
    """Encode a corpus with the document route and save a searchable FAISS index.

    Encoding is streamed into shards (``shard_size`` documents each) as they are computed; rerunning the same call
    after a crash or a kill resumes from the shards on disk and gives the same index as an uninterrupted build.

    Args:
        model: the model; documents are encoded with ``encode_document`` (the document route of a Router).
        corpus: a JSONL file, a BEIR folder, a ``datasets.Dataset`` or an :class:`IndexCorpus`.
        output_dir: where the index is saved (``manifest.json``, ``index.faiss``, ``embeddings.npy``,
            ``corpus.jsonl``).
        kind: ``"flat"`` (exact), ``"ivf"`` (inverted lists) or ``"hnsw"`` (graph).
        precision: ``"float32"``, ``"int8"`` (scalar quantisation) or ``"binary"`` (sign bits, Hamming); int8 and
            binary searches rescore their candidates with the float32 embeddings.
        similarity: ``"cosine"`` (normalised embeddings) or ``"dot"``; default: the model's similarity function.
        model_name: name recorded in the manifest (default: taken from the model card data).
        truncate_dim: Matryoshka truncation of the embeddings.
        batch_size: encoding batch size.
        shard_size: documents per shard.
        shard_dir: folder of the shards (default ``output_dir/shards``, removed after a successful build); a
            folder of your own is kept and reused, e.g. to build several kinds from one encoding.
        devices: multi-process encoding on these devices (e.g. ``["cuda:0", "cuda:1"]``) for large corpora.
        use_gpu: train and fill flat/IVF float32 and int8 indexes on the GPUs when faiss-gpu is installed.
        nlist: IVF lists (default about ``4 * sqrt(N)``).
        nprobe: IVF lists visited per query (stored; can be changed at search time).
        hnsw_m: HNSW neighbours per node.
        ef_construction: HNSW construction breadth.
        ef_search: HNSW search breadth (stored; can be changed at search time).
        with_title: prepend document titles to their text.
        overwrite: replace an index already in ``output_dir``.
        show_progress_bar: show a progress bar while encoding.
        on_shard_written: called with ``(shard_index, path)`` after each newly written shard.

    Returns:
        The saved index, loaded.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    similarity = similarity or getattr(model, "similarity_fn_name", None) or "cosine"
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {list(SIMILARITIES)}, got {similarity!r}")
    if precision == "binary" and similarity != "cosine":
        raise ValueError(f"binary precision needs similarity='cosine', got {similarity!r}")
    output_dir = Path(output_dir)
    check_output_dir(output_dir, corpus, overwrite)
    corpus = load_corpus(corpus, with_title=with_title)
    params = _index_params(len(corpus), nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m,
                           ef_construction=ef_construction, ef_search=ef_search)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / BUILD_MARKER).touch()
    if (output_dir / MANIFEST_NAME).exists():
        (output_dir / MANIFEST_NAME).unlink()
    truncated, longest = count_truncated(model, corpus.texts)
    if truncated:
        logger.warning("%d of %d documents are longer than max_seq_length=%d tokens (longest: %d) and are truncated "
                       "when encoded; split long documents into passages to index all of their text",
                       truncated, len(corpus), model.max_seq_length, longest)
    name = model_name or _model_name(model)
    fingerprint = model_fingerprint(model, truncate_dim=truncate_dim)
    own_shards = shard_dir is None
    shard_dir = Path(shard_dir) if shard_dir is not None else output_dir / "shards"
    normalize = similarity == "cosine"
    logger.info("Encoding %d documents of %s with %s into %s", len(corpus), corpus.source, name, shard_dir)
    cache = encode_corpus_sharded(
        model, corpus.texts, shard_dir,
        state={"corpus_checksum": corpus.checksum, "model_name": name,
               "model_fingerprint": weights_fingerprint(model)},
        shard_size=shard_size, batch_size=batch_size, normalize_embeddings=normalize, truncate_dim=truncate_dim,
        devices=devices, show_progress_bar=show_progress_bar, on_shard_written=on_shard_written,
    )
    embeddings = assemble_embeddings(cache, corpus.texts, output_dir / EMBEDDINGS_FILE)
    dim = embeddings.shape[1]

    logger.info("Building a %s FAISS index (%s) of %d x %d", kind, precision, *embeddings.shape)
    index = build_faiss_index(embeddings, kind=kind, precision=precision, params=params, use_gpu=use_gpu)
    tmp = output_dir / (INDEX_FILE + ".tmp")
    write_index(index, str(tmp), precision=precision)
    tmp.replace(output_dir / INDEX_FILE)
    tmp = output_dir / (CORPUS_FILE + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for doc_id, text in zip(corpus.ids, corpus.texts):
            handle.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
    tmp.replace(output_dir / CORPUS_FILE)

    max_seq_length = getattr(model, "max_seq_length", None)
    manifest = IndexManifest(
        model_name=name, embedding_dim=dim, similarity=similarity, kind=kind, precision=precision,
        faiss_index=factory_string(kind, precision, params), num_documents=len(corpus),
        corpus_checksum=corpus.checksum, corpus_source=corpus.source, fingerprint=fingerprint,
        index_params={**params, "built_on_gpu": bool(use_gpu and gpu_available())}, truncate_dim=truncate_dim,
        max_seq_length=max_seq_length if isinstance(max_seq_length, int) else None, normalized=normalize,
        document_prompt=document_prompt(model), sbert_med_version=__version__,
    )
    manifest.save(output_dir)  # written last: its presence marks a finished index
    (output_dir / BUILD_MARKER).unlink(missing_ok=True)
    if own_shards:
        shutil.rmtree(shard_dir, ignore_errors=True)
    logger.info("Saved the index to %s", output_dir)
    return MedIndex.load(output_dir)
