"""Fingerprints of what produced a result: a model (weights + configuration), files, and settings.

Results, caches and runs are keyed by these, never by a name: two models saved under the same name, or the same
folder after retraining, get different fingerprints, so a stale number is recomputed instead of being reported.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["files_fingerprint", "model_fingerprint", "settings_fingerprint"]

_CHUNK = 1 << 20


def settings_fingerprint(settings: Any) -> str:
    """SHA-256 (hex, 16 characters) of ``settings`` as canonical JSON (sorted keys; non-JSON values as ``str``)."""
    text = json.dumps(settings, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def files_fingerprint(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> str:
    """SHA-256 (hex, 16 characters) of the contents of files; a folder counts as all the files below it.

    File names enter the hash relative to the folder given, so a moved copy of the same data has the same
    fingerprint, while an edited line (e.g. one qrels score) changes it.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    digest = hashlib.sha256()
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"cannot fingerprint {root}: no such file or folder")
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            name = path.relative_to(root).as_posix() if root.is_dir() else path.name
            digest.update(name.encode("utf-8") + b"\0")
            with open(path, "rb") as handle:
                while block := handle.read(_CHUNK):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def _module_configs(model) -> list[Any]:
    """Type and ``get_config_dict()`` of every sentence-transformers module, routes included (a Router's
    sub-modules are ``torch`` children of it, so ``named_modules`` reaches them)."""
    configs = []
    for name, module in model.named_modules():
        get_config = getattr(module, "get_config_dict", None)
        if callable(get_config) and type(module).__module__.startswith(("sentence_transformers", "sbert_med")):
            # max_seq_length is not in every version's config dict, and it changes what a long text embeds to
            configs.append((name, type(module).__name__, get_config(), getattr(module, "max_seq_length", None)))
    return configs


def _tokenizers(model) -> list[str]:
    """The full definition of every tokenizer of the model (vocabulary, added tokens, post-processor: EOS)."""
    out = []
    for name, module in model.named_modules():
        tokenizer = getattr(module, "tokenizer", None)
        if tokenizer is None or not hasattr(tokenizer, "__call__"):
            continue
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            # truncation/padding are per-call runtime state (set by the first encode), not the tokenizer's definition
            definition = json.loads(backend.to_str())
            definition.pop("truncation", None)
            definition.pop("padding", None)
            out.append(f"{name}:{json.dumps(definition, sort_keys=True)}")
        else:  # slow tokenizer: its vocabulary and special tokens
            out.append(f"{name}:{json.dumps(tokenizer.get_vocab(), sort_keys=True)}:{tokenizer.all_special_tokens}")
        out.append(f"{name}:padding_side={getattr(tokenizer, 'padding_side', None)}")
    return out


def model_fingerprint(model) -> str:
    """SHA-256 (hex, 16 characters) of a ``SentenceTransformer``'s weights and everything that shapes its outputs:
    module types and configs (pooling, max_seq_length, Dense widths, Router structure), tokenizers, prompts,
    ``truncate_dim`` and the similarity function.

    Hashing reads every parameter once (about a second per 300M float32 parameters on a CPU); compute it once per
    evaluation or cache, not per batch.
    """
    import torch

    digest = hashlib.sha256()
    meta = {
        "modules": _module_configs(model),
        "prompts": getattr(model, "prompts", None),
        "default_prompt_name": getattr(model, "default_prompt_name", None),
        "truncate_dim": getattr(model, "truncate_dim", None),
        "similarity_fn_name": getattr(model, "similarity_fn_name", None),
    }
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode("utf-8"))
    for text in _tokenizers(model):
        digest.update(text.encode("utf-8"))
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            data = tensor.detach().to("cpu").contiguous().reshape(-1)
            digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()[:16]
