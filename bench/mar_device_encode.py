"""Runs on the lent GPU machine: rebuild the frozen document tower from ``mar_device_payload.py``'s parts and encode.

The rebuilt EmbeddingGemma-300M holds the original float32 weights, with zeros in the token-embedding rows that no
text uses; encoding runs in float32 with TF32 off, so the vectors are the full model's up to GPU/CPU kernel
differences. The CPU reference vectors of the payload measure that difference (``report.json``:
``reference_min_cosine``). Every token id of every text is checked to be one of the shipped rows before encoding.

Usage (on the GPU machine, the parts carried as ``.gpu/p01`` ... ``.gpu/pNN``):
    python3 bench/mar_device_encode.py --parts .gpu --out $OUT
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def rebuild(parts: Path, folder: Path) -> tuple[dict, set[int]]:
    """The model folder from the parts; returns the payload's texts and the shipped token ids."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    state, rows, ids = {}, [], []
    payload = None
    for path in sorted(parts.glob("p*/*")):
        if path.name.startswith("layers_"):
            state.update(load_file(str(path)))
        elif path.name.startswith("embedding_rows_"):
            chunk = load_file(str(path))
            ids.append(chunk["ids"])
            rows.append(chunk["rows"])
        elif path.name == "texts.json.gz":
            payload = json.loads(gzip.decompress(path.read_bytes()))
        elif path.name == "reference.npz":
            shutil.copy(path, folder.parent / "reference.npz")
        else:
            target = folder / path.name.replace("__", "/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    if payload is None:
        raise SystemExit("texts.json.gz is missing from the parts")
    meta = payload["meta"]
    shipped = torch.cat(ids)
    embedding = torch.zeros(meta["vocab_rows"], meta["width"], dtype=torch.float32)
    embedding[shipped] = torch.cat(rows)
    state["embed_tokens.weight"] = embedding
    save_file(state, str(folder / "model.safetensors"))
    return payload, set(shipped.tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=Path, default=Path(".gpu"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--limit", type=int, default=0, help="texts per group (a dry run on the CPU)")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer

    start = time.perf_counter()
    folder = Path("/tmp/mar_document_tower/model")
    payload, shipped = rebuild(args.parts, folder)
    meta, groups = payload["meta"], payload["groups"]
    if args.limit:
        groups = {name: {**group, "texts": group["texts"][:args.limit]} for name, group in groups.items()}
    model = SentenceTransformer(str(folder), device=args.device, truncate_dim=meta["truncate_dim"])
    model.max_seq_length = meta["max_seq_length"]
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else args.device
    report = {"rebuild_s": time.perf_counter() - start, "device": gpu,
              "torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
              "transformers": transformers.__version__, "dtype": "float32, TF32 off", **meta, "groups": {}}

    for name, group in groups.items():  # every id a text looks up must be a shipped row
        prompt = model.prompts[group["route"]]
        encoded = model.tokenizer([prompt + text for text in group["texts"]], truncation=True,
                                  max_length=model.max_seq_length)["input_ids"]
        missing = {i for row in encoded for i in row} - shipped
        if missing:
            raise SystemExit(f"{name}: token ids {sorted(missing)[:10]} were not shipped")

    reference = np.load(folder.parent / "reference.npz")
    cosines = []
    for name in reference.files:
        encode = model.encode_query if groups[name]["route"] == "query" else model.encode_document
        fresh = encode(groups[name]["texts"][:len(reference[name])], convert_to_numpy=True,
                       normalize_embeddings=True)
        cosines.append(float((fresh * reference[name]).sum(1).min()))
    report["reference_min_cosine"] = min(cosines)
    print(f"reference texts: min cosine GPU vs CPU {min(cosines):.7f}", flush=True)

    for name, group in groups.items():
        encode = model.encode_query if group["route"] == "query" else model.encode_document
        if args.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        vectors = encode(group["texts"], batch_size=args.batch_size, convert_to_numpy=True,
                         normalize_embeddings=True, show_progress_bar=False)
        if args.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        np.save(args.out / f"{name}.npy", vectors.astype(np.float32))
        report["groups"][name] = {"route": group["route"], "texts": len(group["texts"]), "seconds": seconds,
                                  "texts_per_s": len(group["texts"]) / seconds}
        print(f"{name}: {len(group['texts'])} texts in {seconds:.1f} s", flush=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
