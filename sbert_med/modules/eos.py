"""Decoder towers pooled on an appended EOS token (last-token pooling), as in MAR / CARE and CardioEmbed."""

from __future__ import annotations

import logging
from typing import Any, Literal

from sentence_transformers.base.modules import Module
from sentence_transformers.sentence_transformer.modules import Pooling
from transformers import PreTrainedTokenizerBase

from sbert_med.modules.routes import text_transformer

logger = logging.getLogger(__name__)

PaddingSide = Literal["left", "right"]
PADDING_SIDES = ("left", "right")
_PROBE_TEXT = "EOS probe: chest pain radiating to the left arm"


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase, *, name: str = "tokenizer") -> None:
    """Give ``tokenizer`` a pad token (its EOS) if it has none; error if it has neither.

    Padding with EOS is safe for last-token pooling, which locates the last token from the attention mask.
    """
    if tokenizer.pad_token is not None:
        return
    if tokenizer.eos_token is None:
        raise ValueError(f"{name} has neither a pad token nor an EOS token; set tokenizer.pad_token first")
    logger.info("%s has no pad token: using its EOS token %r for padding", name, tokenizer.eos_token)
    tokenizer.pad_token = tokenizer.eos_token


def appends_eos(tokenizer: PreTrainedTokenizerBase, *, text: str = _PROBE_TEXT) -> bool:
    """Whether the tokenizer ends every encoded text with its EOS token, also when it truncates."""
    if tokenizer.eos_token_id is None:
        return False
    full = tokenizer(text)["input_ids"]
    truncated = tokenizer(text, truncation=True, max_length=4)["input_ids"]
    return bool(full) and full[-1] == tokenizer.eos_token_id and truncated[-1] == tokenizer.eos_token_id


def ensure_eos_appended(tokenizer: PreTrainedTokenizerBase, *, name: str = "tokenizer") -> None:
    """Make ``tokenizer`` append EOS to every text, persistently (saved with ``save_pretrained``).

    With transformers 5 fast tokenizers, ``add_eos_token = True`` rewrites the ``TemplateProcessing``
    post-processor of ``tokenizer.json``, which is what plain ``SentenceTransformer(path)`` reloads. The change is
    verified: the tokens before EOS must be exactly those of the unchanged tokenizer (a BOS must not be lost).
    """
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{name} has no EOS token, so last-token pooling cannot pool on EOS; set tokenizer.eos_token")
    if appends_eos(tokenizer):
        return
    before = tokenizer(_PROBE_TEXT)["input_ids"]
    if not hasattr(type(tokenizer), "add_eos_token"):
        raise ValueError(
            f"{name} ({type(tokenizer).__name__}) cannot be told to append EOS (no add_eos_token); "
            "use a fast tokenizer (tokenizer.json)"
        )
    tokenizer.add_eos_token = True
    after = tokenizer(_PROBE_TEXT)["input_ids"]
    if after != before + [tokenizer.eos_token_id] or not appends_eos(tokenizer):
        raise ValueError(
            f"{name}: setting add_eos_token=True changed the tokens beyond appending EOS "
            f"(before {before[:4]}...{before[-3:]}, after {after[:4]}...{after[-3:]}); fix its post-processor by hand"
        )


def eos_tower(
    model_name_or_path: str,
    max_seq_length: int | None = None,
    padding_side: PaddingSide | None = None,
    **kwargs: Any,
) -> list[Module]:
    """Build a decoder tower pooled on an appended EOS token: ``[Transformer, Pooling("lasttoken")]``.

    The tower's tokenizer is guaranteed to append EOS (also after truncation) and to have a pad token (its EOS
    when it has none). Both are stored in the saved ``tokenizer.json``, so the model pools on EOS after a plain
    ``SentenceTransformer(path)`` reload. Last-token pooling reads the last position from the attention mask, so it
    is correct with left and right padding. Texts are fed as plain text, never through the tokenizer's chat
    template (which would end them with the template's suffix instead of EOS).

    Args:
        model_name_or_path: Hub id or local folder of a decoder LM (Qwen, Llama, SmolLM, ...). The base model is
            loaded without its LM head.
        max_seq_length: Maximum number of tokens, EOS included.
        padding_side: ``"left"`` or ``"right"``; ``None`` keeps the tokenizer's own.
        **kwargs: Passed to :class:`~sentence_transformers.base.modules.Transformer`.

    Returns:
        The module list, ready for ``SentenceTransformer(modules=...)`` or :func:`build_asymmetric_model`.
    """
    if padding_side is not None and padding_side not in PADDING_SIDES:
        raise ValueError(f"padding_side must be one of {list(PADDING_SIDES)}, got {padding_side!r}")
    if max_seq_length is not None and max_seq_length <= 1:
        raise ValueError(f"max_seq_length must be at least 2 (a token and EOS), got {max_seq_length!r}")

    transformer = text_transformer(model_name_or_path, max_seq_length=max_seq_length, **kwargs)
    tokenizer = transformer.tokenizer
    if tokenizer is None:
        raise ValueError(f"{model_name_or_path} has no text tokenizer; an EOS tower needs one")
    name = f"the tokenizer of {model_name_or_path}"
    ensure_eos_appended(tokenizer, name=name)
    ensure_pad_token(tokenizer, name=name)
    if padding_side is not None:
        tokenizer.padding_side = padding_side
    logger.debug(
        "EOS tower %s: eos=%r pad=%r padding_side=%s", model_name_or_path, tokenizer.eos_token, tokenizer.pad_token,
        tokenizer.padding_side,
    )
    return [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode="lasttoken")]
