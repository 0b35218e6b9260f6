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

__all__ = ["files_fingerprint", "model_fingerprint", "route_fingerprint", "route_prompt", "settings_fingerprint"]

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


#: The prompt names ``encode_query`` / ``encode_document`` look for, in sentence-transformers' order.
ROUTE_PROMPT_NAMES = {"query": ("query",), "document": ("document", "passage", "corpus")}


def _module_config(module) -> tuple:
    get_config = getattr(module, "get_config_dict", None)
    config = get_config() if callable(get_config) else None
    # max_seq_length is not in every version's config dict, and it changes what a long text embeds to
    return (type(module).__name__, config, getattr(module, "max_seq_length", None))


def _module_configs(model) -> list[Any]:
    """Type and ``get_config_dict()`` of every sentence-transformers module, routes included (a Router's
    sub-modules are ``torch`` children of it, so ``named_modules`` reaches them)."""
    configs = []
    for name, module in model.named_modules():
        if callable(getattr(module, "get_config_dict", None)) and type(module).__module__.startswith(
            ("sentence_transformers", "sbert_med")
        ):
            configs.append((name, *_module_config(module)))
    return configs


def _tokenizers(model) -> list[str]:
    """The full definition of every tokenizer of the model (vocabulary, added tokens, post-processor: EOS)."""
    out = []
    for name, module in model.named_modules():
        out.extend(_tokenizer_definition(name, module))
    return out


def _tokenizer_definition(name: str, module) -> list[str]:
    """The definition of ``module``'s tokenizer, if it has one (empty list otherwise)."""
    tokenizer = getattr(module, "tokenizer", None)
    if tokenizer is None or not hasattr(tokenizer, "__call__"):
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # truncation/padding are per-call runtime state (set by the first encode), not the tokenizer's definition
        definition = json.loads(backend.to_str())
        definition.pop("truncation", None)
        definition.pop("padding", None)
        out = [f"{name}:{json.dumps(definition, sort_keys=True)}"]
    else:  # slow tokenizer: its vocabulary and special tokens
        out = [f"{name}:{json.dumps(tokenizer.get_vocab(), sort_keys=True)}:{tokenizer.all_special_tokens}"]
    out.append(f"{name}:padding_side={getattr(tokenizer, 'padding_side', None)}")
    return out


def _hash_tensors(digest, state: dict) -> None:
    import torch

    with torch.no_grad():
        for name, tensor in sorted(state.items()):
            digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            data = tensor.detach().to("cpu").contiguous().reshape(-1)
            digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")


def model_fingerprint(model) -> str:
    """SHA-256 (hex, 16 characters) of a ``SentenceTransformer``'s weights and everything that shapes its outputs:
    module types and configs (pooling, max_seq_length, Dense widths, Router structure), tokenizers, prompts,
    ``truncate_dim`` and the similarity function.

    Hashing reads every parameter once (about a second per 300M float32 parameters on a CPU); compute it once per
    evaluation or cache, not per batch.
    """
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
    _hash_tensors(digest, model.state_dict())
    return digest.hexdigest()[:16]


def route_modules(model, route: str) -> list:
    """The modules a text passes through on ``route`` (``"query"`` or ``"document"``), in order: a Router's route
    followed by the modules after the Router (e.g. ``Normalize``); all modules of a model without a Router."""
    from sentence_transformers.base.modules import Router

    if route not in ROUTE_PROMPT_NAMES:
        raise ValueError(f"route must be one of {sorted(ROUTE_PROMPT_NAMES)}, got {route!r}")
    modules = []
    for module in model:
        if isinstance(module, Router):
            name = route if route in module.sub_modules else module.default_route
            if name is None or name not in module.sub_modules:
                raise ValueError(f"the model's Router has no {route!r} route and no default route")
            modules.extend(module.sub_modules[name])
        else:
            modules.append(module)
    return modules


def route_prompt(model, route: str) -> str | None:
    """The prompt ``encode_query`` / ``encode_document`` prepend by default on ``route`` (``None``: none)."""
    prompts = getattr(model, "prompts", None) or {}
    for name in ROUTE_PROMPT_NAMES[route]:
        if name in prompts:
            return prompts[name]
    default = getattr(model, "default_prompt_name", None)
    return prompts.get(default) if default else None


def route_fingerprint(model, route: str, *, with_truncate_dim: bool = True) -> str:
    """SHA-256 (hex, 16 characters) of what shapes ``route``'s outputs alone: the modules a text passes through
    on that route (types, configs, tokenizers, weights), the route's default prompt, ``truncate_dim`` (unless
    ``with_truncate_dim`` is false: then the fingerprint is that of the same model without one, for a key that
    records the width itself) and the similarity function.

    A model used as one tower of an asymmetric model keeps its fingerprint: a frozen document model on its own
    and the same model as the ``document`` route of a Router (followed by the same ``Normalize``) fingerprint
    alike, so vectors cached for one are reused for the other, while a retrained query tower leaves the document
    route's fingerprint, and its cached vectors, untouched.
    """
    modules = route_modules(model, route)
    digest = hashlib.sha256()
    meta = {
        "modules": [_module_config(module) for module in modules],
        "prompt": route_prompt(model, route),
        "truncate_dim": getattr(model, "truncate_dim", None) if with_truncate_dim else None,
        "similarity_fn_name": getattr(model, "similarity_fn_name", None),
    }
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode("utf-8"))
    for position, module in enumerate(modules):
        for text in _tokenizer_definition(str(position), module):
            digest.update(text.encode("utf-8"))
        _hash_tensors(digest, {f"{position}.{name}": tensor for name, tensor in module.state_dict().items()})
    return digest.hexdigest()[:16]
