"""Pack what the frozen document tower of ``bench_mar.py`` must encode, for one run on a lent GPU machine.

The GPU machine of this workplace takes at most 64 MiB per call and reaches no network, so EmbeddingGemma-300M
(1.2 GB in float32) travels in parts, losslessly:

* the transformer's weights other than the token embeddings (float32), in safetensors shards of <= 55 MB;
* only the rows of the 262,144 x 768 token-embedding matrix that the texts to encode use (float32): a row that no
  text looks up cannot change any of their vectors, so the rebuilt model (zeros elsewhere) gives these texts
  exactly the vectors of the full model;
* the tokenizer, configs and Dense heads as they are; the texts (gzip JSON);
* reference vectors of a few texts computed here on the CPU with the full model, to check the rebuilt model there.

``bench/mar_device_encode.py`` rebuilds the model on the GPU machine and encodes; ``bench_mar.py --import-vectors``
stores the returned vectors in the encoding cache under the document route's fingerprint.

Usage:
    python bench/mar_device_payload.py --data-dir ../shared/data --work-dir bench/_work/mar --out .gpu
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from sbert_med.data.beir import load_beir
from sbert_med.models import resolve_model

SHARD_BYTES = 58_000_000
EMBEDDING = "embed_tokens.weight"


def texts_to_encode(data_dir: Path, work_dir: Path) -> dict[str, dict]:
    """{group: {"route": query|document, "texts": [...]}} of everything the benchmark's document tower encodes."""
    alignment = [json.loads(line)["text"] for line in (work_dir / "alignment.jsonl").read_text().splitlines()]
    with open(data_dir / "medquad" / "train_pairs.tsv", encoding="utf-8") as handle:
        train_docs = list(dict.fromkeys(row["document"] for row in csv.DictReader(handle, delimiter="\t")))
    medquad = load_beir(data_dir / "medquad", "test_mini", corpus_file="corpus_mini.jsonl")
    nfcorpus = load_beir(data_dir / "nfcorpus", "test")
    half, docs_half = len(alignment) // 2, len(train_docs) // 2
    return {
        "alignment_0": {"route": "query", "texts": alignment[:half]},
        "alignment_1": {"route": "query", "texts": alignment[half:]},
        "train_docs_0": {"route": "document", "texts": train_docs[:docs_half]},
        "train_docs_1": {"route": "document", "texts": train_docs[docs_half:]},
        "eval_documents": {"route": "document",
                           "texts": list(dict.fromkeys([*medquad.corpus.values(), *nfcorpus.corpus.values()]))},
        "eval_queries": {"route": "query",
                         "texts": list(dict.fromkeys([*medquad.queries.values(), *nfcorpus.queries.values()]))},
    }


def used_token_ids(model, groups: dict[str, dict]) -> np.ndarray:
    """Every token id the model's tokenizer gives the texts (with their route's prompt, truncated as encoding does)."""
    ids = set(model.tokenizer.all_special_ids)
    for group in groups.values():
        prompt = model.prompts[group["route"]]
        texts = [prompt + text for text in group["texts"]]
        for start in range(0, len(texts), 2048):
            batch = model.tokenizer(texts[start:start + 2048], truncation=True, max_length=model.max_seq_length)
            for row in batch["input_ids"]:
                ids.update(row)
    return np.array(sorted(ids), dtype=np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--document-model", default="embeddinggemma-300m")
    parser.add_argument("--document-max-length", type=int, default=256)
    parser.add_argument("--truncate-dim", type=int, default=384)
    parser.add_argument("--out", type=Path, default=Path(".gpu"))
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    source = Path(resolve_model(args.document_model))
    model = SentenceTransformer(str(source), device="cpu", truncate_dim=args.truncate_dim)
    model.max_seq_length = args.document_max_length
    groups = texts_to_encode(args.data_dir, args.work_dir)
    ids = used_token_ids(model, groups)
    print(f"{sum(len(g['texts']) for g in groups.values())} texts use {len(ids)} of {len(model.tokenizer)} tokens")

    if args.out.exists():
        shutil.rmtree(args.out)
    parts: list[list[tuple[str, int]]] = [[]]  # carry folders: (file, bytes)

    def place(name: str, size: int) -> Path:
        if sum(s for _, s in parts[-1]) + size > 60_000_000:
            parts.append([])
        parts[-1].append((name, size))
        folder = args.out / f"p{len(parts):02d}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    state = load_file(str(source / "model.safetensors"))
    embedding = state.pop(EMBEDDING)
    ids = ids[ids < embedding.shape[0]]  # added tokens beyond the matrix (Gemma's image tokens) are never looked up
    rows = embedding[torch.from_numpy(ids)].contiguous()
    for start in range(0, len(ids), SHARD_BYTES // (rows.shape[1] * 4)):
        stop = start + SHARD_BYTES // (rows.shape[1] * 4)
        chunk = {"ids": torch.from_numpy(ids[start:stop]), "rows": rows[start:stop]}
        save_file(chunk, str(place(f"embedding_rows_{start:06d}.safetensors", chunk["rows"].numel() * 4)))
    shard, size, number = {}, 0, 0
    for name, tensor in sorted(state.items()):
        if size + tensor.numel() * 4 > SHARD_BYTES and shard:
            save_file(shard, str(place(f"layers_{number:02d}.safetensors", size)))
            shard, size, number = {}, 0, number + 1
        shard[name], size = tensor.contiguous(), size + tensor.numel() * 4
    save_file(shard, str(place(f"layers_{number:02d}.safetensors", size)))
    meta = {"vocab_rows": int(embedding.shape[0]), "width": int(embedding.shape[1]),
            "max_seq_length": args.document_max_length, "truncate_dim": args.truncate_dim}
    blob = gzip.compress(json.dumps({"meta": meta, "groups": groups}).encode("utf-8"))
    place("texts.json.gz", len(blob)).write_bytes(blob)
    reference = {name: group["texts"][:4] for name, group in groups.items()}
    vectors = {name: (model.encode_query if groups[name]["route"] == "query" else model.encode_document)(
        texts, convert_to_numpy=True, normalize_embeddings=True) for name, texts in reference.items()}
    np.savez(place("reference.npz", 200_000), **vectors)
    skip = {"model.safetensors", "README.md", "notebook.ipynb", "DONE", "tokenizer.model"}  # top level only
    for path in sorted(source.rglob("*")):
        if path.is_file() and not (path.parent == source and path.name in skip):
            target = place(path.relative_to(source).as_posix().replace("/", "__"), path.stat().st_size)
            shutil.copy(path, target)
    for index, part in enumerate(parts, 1):
        print(f"p{index:02d}: {sum(s for _, s in part) / 1e6:.1f} MB, {len(part)} files")


if __name__ == "__main__":
    main()
