"""Long-context embedding models from backbones that transformers supports natively (no ``trust_remote_code``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize
from transformers import AutoConfig

from sbert_med.modules.eos import eos_tower
from sbert_med.modules.towers import encoder_tower

logger = logging.getLogger(__name__)

BackboneKind = Literal["auto", "encoder", "decoder"]
BACKBONE_KINDS = ("auto", "encoder", "decoder")


def max_positions(config) -> int | None:
    """The number of positions a transformers config supports (``None`` if it does not say, e.g. ALiBi models)."""
    for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def long_context_model(
    model_name_or_path: str,
    *,
    max_seq_length: int = 8192,
    kind: BackboneKind = "auto",
    pooling: Literal["cls", "mean"] | None = None,
    device: str | None = None,
    **kwargs: Any,
) -> SentenceTransformer:
    """A SentenceTransformer that reads up to ``max_seq_length`` tokens, from a natively supported backbone.

    * A sentence-transformers folder or Hub model is loaded as it is, with ``max_seq_length`` set.
    * An encoder (e.g. ``answerdotai/ModernBERT-base``, 8,192 positions) becomes ``[Transformer, Pooling, Normalize]``
      via :func:`sbert_med.modules.encoder_tower`.
    * A decoder LM (e.g. ``HuggingFaceTB/SmolLM2-135M``, 8,192 positions) becomes an EOS-pooled tower via
      :func:`sbert_med.modules.eos_tower`, plus ``Normalize``.

    The config is read without ``trust_remote_code``: a backbone that needs remote code is refused, and so is one
    with fewer positions than ``max_seq_length``. The result is made of built-in modules only and reloads with
    plain ``SentenceTransformer(path)``.

    Args:
        model_name_or_path: Hub id or local folder.
        max_seq_length: Tokens per input (prompt and special tokens included).
        kind: ``"encoder"``, ``"decoder"`` or ``"auto"`` (decoder when the config's architecture is ``*ForCausalLM``).
        pooling: Pooling of an encoder (default ``"mean"``); decoders always pool on the appended EOS.
        device: Device of the model.
        **kwargs: Passed to the tower builder (``model_kwargs``, ``processor_kwargs``, ...).
    """
    if kind not in BACKBONE_KINDS:
        raise ValueError(f"kind must be one of {list(BACKBONE_KINDS)}, got {kind!r}")
    if max_seq_length < 2:
        raise ValueError(f"max_seq_length must be >= 2, got {max_seq_length!r}")
    if (Path(model_name_or_path) / "modules.json").is_file():
        model = SentenceTransformer(model_name_or_path, device=device)
        _check_positions(model.transformers_model.config, max_seq_length, model_name_or_path)
        model.max_seq_length = max_seq_length
        return model
    try:
        config = AutoConfig.from_pretrained(model_name_or_path)
    except ValueError as exc:
        raise ValueError(
            f"{model_name_or_path} is not a backbone transformers supports natively (it would need "
            f"trust_remote_code): {exc}"
        ) from exc
    _check_positions(config, max_seq_length, model_name_or_path)
    if kind == "auto":
        architectures = getattr(config, "architectures", None) or []
        kind = "decoder" if any(name.endswith("ForCausalLM") for name in architectures) else "encoder"
    if kind == "decoder":
        modules = eos_tower(model_name_or_path, max_seq_length=max_seq_length, **kwargs)
    else:
        modules = encoder_tower(model_name_or_path, pooling=pooling or "mean", max_seq_length=max_seq_length, **kwargs)
    tokenizer = modules[0].tokenizer
    if tokenizer is not None and tokenizer.model_max_length < max_seq_length:
        tokenizer.model_max_length = max_seq_length
    logger.info("%s as a %s tower reading up to %d tokens", model_name_or_path, kind, max_seq_length)
    return SentenceTransformer(modules=[*modules, Normalize()], device=device, similarity_fn_name="cosine")


def _check_positions(config, max_seq_length: int, name: str) -> None:
    positions = max_positions(config)
    if positions is None:
        logger.info("%s states no position limit (e.g. ALiBi); trusting max_seq_length=%d", name, max_seq_length)
    elif positions < max_seq_length:
        raise ValueError(f"max_seq_length={max_seq_length} exceeds the {positions} positions of {name}")
