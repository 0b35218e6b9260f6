"""The asymmetric query/document model: ``Router.for_query_document`` + ``Normalize``, with width bridging."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense, Module, Normalize, Router
from torch import Tensor

from sbert_med.modules.eos import eos_tower
from sbert_med.modules.routes import route_transformer, route_width
from sbert_med.modules.towers import encoder_tower

logger = logging.getLogger(__name__)

Bridge = Literal["truncate", "project"]
BRIDGES = ("truncate", "project")
Similarity = Literal["cosine", "dot", "euclidean", "manhattan"]
SIMILARITIES = ("cosine", "dot", "euclidean", "manhattan")


def _tower(spec: str | Sequence[Module], *, side: str) -> list[Module]:
    if isinstance(spec, str):
        return encoder_tower(spec) if side == "query" else eos_tower(spec)
    modules = list(spec)
    if not modules or not all(isinstance(module, Module) for module in modules):
        raise ValueError(f"{side} must be a model path/id or a non-empty list of sentence-transformers modules")
    return modules


def _check_tower(modules: list[Module], *, side: str) -> int:
    transformer = route_transformer(modules)
    if transformer is not None and transformer.tokenizer is not None and transformer.tokenizer.pad_token is None:
        raise ValueError(
            f"the {side} tower's tokenizer has no pad token, so batches cannot be padded; set tokenizer.pad_token "
            "(eos_tower() does this for decoders)"
        )
    width = route_width(modules)
    if width is None:
        raise ValueError(f"the {side} tower has no pooling: its last module must produce a sentence embedding")
    return width


def build_asymmetric_model(
    query: str | Sequence[Module],
    document: str | Sequence[Module],
    *,
    bridge: Bridge | None = "truncate",
    prompts: dict[str, str] | None = None,
    similarity: Similarity = "cosine",
) -> SentenceTransformer:
    """Build an asymmetric retrieval model: a query tower and a document tower behind one ``Router``.

    ``encode_query`` runs the query tower and ``encode_document`` (and plain ``encode``) the document tower; both
    outputs are L2-normalised. The model holds only sentence-transformers' built-in modules, so it reloads with
    plain ``SentenceTransformer(path)``.

    Args:
        query: A path / Hub id (built with :func:`encoder_tower`) or a module list.
        document: A path / Hub id (built with :func:`eos_tower`) or a module list.
        bridge: How towers of different widths are made comparable. ``"truncate"``: Matryoshka truncation of the
            document side to the query width (``truncate_dim``; the document tower should be Matryoshka-trained).
            ``"project"``: a linear ``Dense(q_dim, d_dim)`` at the end of the query route maps queries into the
            document space, which leaves the document tower untouched. ``None``: the widths must already agree.
        prompts: Prompts by name, e.g. ``{"query": "Represent this medical question: ", "document": ""}``.
        similarity: The similarity function stored with the model.

    Returns:
        The :class:`~sentence_transformers.SentenceTransformer`.

    Raises:
        ValueError: On a width mismatch with ``bridge=None`` (at build time, not inside the loss), a truncation
            that would widen, a tokenizer without pad token, or an unknown option.
    """
    if bridge is not None and bridge not in BRIDGES:
        raise ValueError(f"bridge must be one of {list(BRIDGES)} or None, got {bridge!r}")
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {list(SIMILARITIES)}, got {similarity!r}")
    if prompts is not None:
        unknown = set(prompts) - {"query", "document"}
        if unknown:
            logger.warning("prompts %s name no route (routes: query, document)", sorted(unknown))

    query_modules = _tower(query, side="query")
    document_modules = _tower(document, side="document")
    query_dim = _check_tower(query_modules, side="query")
    document_dim = _check_tower(document_modules, side="document")

    truncate_dim = None
    if query_dim != document_dim:
        if bridge is None:
            raise ValueError(
                f"the query tower outputs {query_dim} dims but the document tower {document_dim}; "
                "pass bridge='truncate' (Matryoshka truncation of documents) or bridge='project' (a linear query "
                "projection)"
            )
        if bridge == "truncate":
            if document_dim < query_dim:
                raise ValueError(
                    f"bridge='truncate' cuts the document side down to the query width, but the document tower "
                    f"({document_dim}) is narrower than the query tower ({query_dim}); use bridge='project'"
                )
            truncate_dim = query_dim
            if similarity == "dot":
                logger.warning("truncated document vectors are not unit-norm: use similarity='cosine' with truncate")
        else:
            query_modules.append(Dense(query_dim, document_dim, activation_function=None))
        logger.info("bridged query %d -> document %d with %s", query_dim, document_dim, bridge)

    router = Router.for_query_document(query_modules=query_modules, document_modules=document_modules)
    return SentenceTransformer(
        modules=[router, Normalize()], prompts=prompts, similarity_fn_name=similarity, truncate_dim=truncate_dim
    )


def common_width(embeddings: list[Tensor], truncate_dim: int | None) -> list[Tensor]:
    """Bring the query and document embeddings of a bridged model to one width inside a loss.

    ``truncate_dim`` (the ``bridge="truncate"`` layout) is not applied by ``forward`` during training, so the
    document tower still outputs its full width there: every embedding is cut Matryoshka-style to the common width
    and the ones that were cut are re-normalised. Widths that still differ without a ``truncate_dim`` are a
    model-building mistake and raise a clear error.
    """
    widths = {emb.shape[-1] for emb in embeddings}
    if len(widths) == 1 and (truncate_dim is None or truncate_dim >= next(iter(widths))):
        return embeddings
    if truncate_dim is None:
        raise ValueError(
            f"the towers output different widths {sorted(widths)} and the model has no truncate_dim; build it with "
            "sbert_med.modules.build_asymmetric_model(..., bridge='truncate' or 'project') or wrap the loss in "
            "MatryoshkaLoss with dims <= the smallest width"
        )
    width = min(min(widths), truncate_dim)
    return [F.normalize(emb[..., :width], p=2, dim=-1) if emb.shape[-1] > width else emb for emb in embeddings]
