"""Encoder towers: a BERT-style ``Transformer`` followed by CLS or mean pooling."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from sentence_transformers.base.modules import Module
from sentence_transformers.sentence_transformer.modules import Pooling
from sentence_transformers.util import load_file_path

from sbert_med.modules.routes import text_transformer

logger = logging.getLogger(__name__)

EncoderPooling = Literal["cls", "mean"]
ENCODER_POOLINGS = ("cls", "mean")


def _read_json(model_name_or_path: str, filename: str) -> dict | list | None:
    """A JSON file of a local folder or a Hub repository (cache first); ``None`` only when it is not there.

    Anything else (no network and no cached copy, a private repository, a malformed file) is an error naming the
    file, never a silent default.
    """
    try:
        path = load_file_path(model_name_or_path, filename)
    except Exception as exc:
        raise ValueError(
            f"could not read {filename} of {model_name_or_path} ({type(exc).__name__}: {exc}); pass pooling='cls' "
            "or 'mean' to build the tower without it"
        ) from exc
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc})") from exc


def _saved_pooling_mode(model_name_or_path: str) -> str | None:
    """Pooling mode recorded by a sentence-transformers model (local folder or Hub id); ``None`` for a plain
    transformers checkpoint (no ``modules.json``)."""
    entries = _read_json(model_name_or_path, "modules.json")
    if entries is None:
        return None
    for entry in entries:
        if entry.get("type", "").endswith("Pooling"):
            filename = f"{entry['path']}/config.json" if entry.get("path") else "config.json"
            config = _read_json(model_name_or_path, filename) or {}
            if config.get("pooling_mode"):
                return config["pooling_mode"]
            for key, value in config.items():  # older configs: one boolean per mode
                if key.startswith("pooling_mode_") and value is True:
                    return key.removeprefix("pooling_mode_").removesuffix("_tokens").removesuffix("_token")
            raise ValueError(f"{model_name_or_path}: {filename} names no pooling mode; pass pooling='cls' or 'mean'")
    raise ValueError(
        f"{model_name_or_path} is a sentence-transformers model without a Pooling module (modules.json); pass "
        "pooling='cls' or 'mean'"
    )


def encoder_tower(
    model_name_or_path: str,
    pooling: EncoderPooling | None = None,
    max_seq_length: int | None = None,
    **kwargs: Any,
) -> list[Module]:
    """Build an encoder tower: ``[Transformer, Pooling]``.

    Args:
        model_name_or_path: Hub id or local folder of a BERT-style encoder (a plain transformers checkpoint or a
            sentence-transformers model folder).
        pooling: ``"cls"`` or ``"mean"``. ``None`` reuses the pooling a sentence-transformers model (local folder
            or Hub id) was trained with (e.g. ``mean`` for all-MiniLM-L6-v2); a plain transformers checkpoint (no
            ``modules.json``) gets ``"cls"``, logged at INFO. A ``modules.json`` that cannot be read or names no
            encoder pooling is an error.
        max_seq_length: Maximum number of tokens; longer inputs are truncated by the tokenizer.
        **kwargs: Passed to :class:`~sentence_transformers.base.modules.Transformer` (``model_kwargs``,
            ``processor_kwargs``, ``config_kwargs``, ...).

    Returns:
        The module list, ready for ``SentenceTransformer(modules=...)`` or :func:`build_asymmetric_model`.
    """
    if pooling is None:
        pooling = _saved_pooling_mode(model_name_or_path)
        if pooling is None:
            pooling = "cls"
            logger.info(
                "%s has no sentence-transformers config (modules.json): using CLS pooling, the BERT convention; "
                "pass pooling='mean' for a model trained with mean pooling", model_name_or_path,
            )
        elif pooling not in ENCODER_POOLINGS:
            raise ValueError(
                f"{model_name_or_path} was saved with pooling {pooling!r}; pass pooling= one of "
                f"{list(ENCODER_POOLINGS)}"
            )
    elif pooling not in ENCODER_POOLINGS:
        raise ValueError(f"pooling must be one of {list(ENCODER_POOLINGS)}, got {pooling!r}")
    if max_seq_length is not None and max_seq_length <= 0:
        raise ValueError(f"max_seq_length must be a positive integer, got {max_seq_length!r}")

    transformer = text_transformer(model_name_or_path, max_seq_length=max_seq_length, **kwargs)
    tokenizer = transformer.tokenizer
    if tokenizer is not None and tokenizer.pad_token is None:
        raise ValueError(
            f"the tokenizer of {model_name_or_path} has no pad token, so batches cannot be padded; "
            "set tokenizer.pad_token before building the tower"
        )
    logger.debug("encoder tower %s: %s pooling, max_seq_length=%s", model_name_or_path, pooling, max_seq_length)
    return [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling)]
