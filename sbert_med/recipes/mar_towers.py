"""The MAR recipe's towers: building each tower, assembling the asymmetric model, one tower as a plain model (a route
view) and the frozen document route's cached vectors; plus the training call every stage shares."""

from __future__ import annotations

import logging

from sbert_med.recipes.config import ConfigError
from sbert_med.recipes.mar_config import MARConfig, resolved_settings
from sbert_med.training import MedTrainer, Stage

logger = logging.getLogger(__name__)

def _train(
    config: MARConfig,
    stage: Stage,
    model,
    train,
    loss,
    *,
    epochs: float,
    lr: float,
    max_steps: int,
    batch_size: int,
    router_mapping: dict | None = None,
    learning_rate_mapping: dict | None = None,
    prompts: dict | None = None,
) -> dict:
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    args = config.training_arguments(
        output_dir=str(stage.checkpoint_dir),
        num_train_epochs=epochs,
        learning_rate=lr,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        router_mapping=router_mapping or {},
        learning_rate_mapping=learning_rate_mapping or {},
        prompts=prompts or None,
    )
    trainer = MedTrainer(model=model, args=args, train_dataset=train, loss=loss)
    info = stage.run.train(trainer, stage=stage.name)
    # the training loop's own runtime (RunFolder.train records it; model loading and target encoding excluded; a
    # resumed stage counts only its last session's time, per step of the whole stage), recorded in STAGE_DONE
    return {**info, "seconds_per_step": round((info["train_runtime_s"] or 0.0) / max(1, info["global_step"]), 4)}


def _device(config: MARConfig) -> str | None:
    return "cpu" if config.use_cpu else None


def _query_tower(config: MARConfig, path: str, *, pooling=None):
    from sbert_med.modules import encoder_tower

    return encoder_tower(path, pooling=pooling, max_seq_length=config.query_max_length)


def _document_tower(config: MARConfig, path: str, kind: str) -> tuple[list, dict[str, str]]:
    """The document tower's modules and the document model's prompts: an existing sentence-transformers model
    (its modules as they are, a final ``Normalize`` left to the assembled model) or a decoder pooled on EOS."""
    if kind == "decoder":
        from sbert_med.modules import eos_tower

        return eos_tower(path, max_seq_length=config.document_max_length, padding_side=config.padding_side), {}
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import route_transformer

    model = SentenceTransformer(path, device=_device(config))
    modules = list(model)
    while modules and isinstance(modules[-1], Normalize):
        modules.pop()
    transformer = route_transformer(modules)
    if transformer is None:
        raise ConfigError(f"document_model {path}: its first module is not a Transformer")
    transformer.max_seq_length = config.document_max_length
    prompts = {name: model.prompts.get(name, "") for name in ("query", "document")}
    return modules, prompts


def _symmetric(modules, config: MARConfig, prompts: dict | None = None):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    return SentenceTransformer(
        modules=[*modules, Normalize()], prompts=prompts or None, similarity_fn_name="cosine", device=_device(config)
    )


def _assemble(config: MARConfig, query_path: str, document_path: str | None = None):
    """The asymmetric model and the document model's prompts (see :func:`assemble_mar_model`)."""
    from sbert_med.modules import build_asymmetric_model

    kind = resolved_settings(config)["document_kind"]
    query = _query_tower(
        config, query_path, pooling=None if query_path != config.query_model else config.query_pooling
    )
    document, prompts = _document_tower(config, document_path or config.document_model, kind)
    model = build_asymmetric_model(
        query, document, bridge=config.bridge, prompts={"query": "", "document": prompts.get("document", "")}
    )
    return (model.to(_device(config)) if _device(config) else model), prompts


def assemble_mar_model(config: MARConfig, query_path: str, document_path: str | None = None):
    """The asymmetric model of a query tower (``query_path``: a model folder or id) and the document tower
    (``document_path``, default ``config.document_model``): ``Router.for_query_document`` + ``Normalize``, the
    config's bridge (``truncate``: ``truncate_dim`` = the query width), the document model's ``document`` prompt on
    the document route and no prompt on the query route."""
    return _assemble(config, query_path, document_path)[0]


def _load(config: MARConfig, path: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=_device(config))


def _route_view(model, route: str, config: MARConfig, *, prompts: dict | None = None, truncate_dim: int | None = None):
    """One tower of an asymmetric model as a plain model sharing its modules (training the view trains the tower):
    the route's modules followed by ``Normalize``, as in the asymmetric model."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import get_route

    return SentenceTransformer(
        modules=[*get_route(model, route), Normalize()],
        prompts=prompts,
        similarity_fn_name=model.similarity_fn_name or "cosine",
        truncate_dim=truncate_dim,
        device=_device(config),
    )


def _document_view(model, config: MARConfig, prompts: dict[str, str]):
    """The frozen document tower alone, with the document model's prompts and the assembled model's width: its
    :func:`sbert_med.encoding.route_fingerprint` equals that of the asymmetric model's document route, so both
    share cached vectors."""
    view = _route_view(model, "document", config, prompts=dict(prompts), truncate_dim=model.truncate_dim)
    view.eval()
    return view


def _encode_targets(config: MARConfig, view, texts: list[str], *, route: str):
    from sbert_med.encoding import encode_cached

    return encode_cached(
        view,
        texts,
        cache_dir=config.encoding_cache,
        route=route,
        normalize_embeddings=True,
        batch_size=config.encode_batch_size,
        show_progress_bar=config.show_progress_bar,
    )

