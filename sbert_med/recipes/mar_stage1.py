"""MAR Stage I (alignment): the document tower frozen, the query tower learns to map a text where the document tower
puts it, against cached targets (the alignment corpus encoded once, or the vectors of an existing index) or the live
frozen tower; the optional linear head, negative bank and score-distillation bank."""

from __future__ import annotations

import logging
import time

from sbert_med.data.pairs import truncate_to_tokens
from sbert_med.recipes.config import ConfigError
from sbert_med.recipes.mar_config import MARConfig
from sbert_med.recipes.mar_towers import _assemble, _document_view, _encode_targets, _route_view, _train
from sbert_med.training import Stage

logger = logging.getLogger(__name__)

def _alignment_texts(config: MARConfig, pairs) -> list[str]:
    """Stage I's texts: ``alignment_data``, or the distinct queries and documents of the training pairs; a seeded
    sample of ``alignment_max_texts``."""
    import random

    from sbert_med.data.alignment import load_alignment_texts

    if config.alignment_sources:
        return load_alignment_texts(config.alignment_sources, max_texts=config.alignment_max_texts, seed=config.seed)
    texts = [t for t in dict.fromkeys([*pairs["anchor"], *pairs["positive"]]) if t.strip()]
    if 0 < config.alignment_max_texts < len(texts):
        texts = random.Random(config.seed).sample(texts, config.alignment_max_texts)
    return texts


def _score_documents(config: MARConfig, pairs) -> list[str]:
    """The documents ``stage1_score_documents`` samples its bank from: ``stage1_score_data``, or the training pairs'
    positives."""
    from sbert_med.data.alignment import load_alignment_texts

    if config.score_sources:
        return load_alignment_texts(config.score_sources, max_texts=0, seed=config.seed)
    return list(pairs["positive"])


def _cut_texts(config: MARConfig, texts: list[str], model) -> list[str]:
    """Texts cut to ``alignment_max_length`` tokens of the query tower's tokenizer (distinct, order kept)."""
    from sbert_med.modules import get_route, route_transformer

    if config.alignment_max_length <= 0:
        return list(dict.fromkeys(texts))
    transformer = route_transformer(get_route(model, "query"))
    cut = truncate_to_tokens(list(texts), transformer.tokenizer, config.alignment_max_length)
    return [t for t in dict.fromkeys(cut) if t.strip()]




def _index_module(config: MARConfig):
    try:
        from sbert_med.index import alignment  # type: ignore[attr-defined]
    except ImportError as exc:
        raise ConfigError(
            f"alignment_index {config.alignment_index!r}: aligning to an existing index needs "
            "sbert_med.index.alignment (read_index_alignment, record_index_alignment), which this installation "
            "does not have"
        ) from exc
    return alignment


def _index_targets(config: MARConfig, model):
    """(texts, vectors) of ``alignment_index`` (the index's own stored vectors, its document model checked to be
    ``document_model``); the index must hold vectors of the assembled model's width, so that the trained model
    searches that same index."""
    texts, vectors = _index_module(config).read_index_alignment(
        config.alignment_index, document_model=config.document_model
    )
    width = model.truncate_dim or model.get_embedding_dimension()
    if vectors.shape[1] != width:
        raise ConfigError(
            f"alignment_index {config.alignment_index}: the index holds {vectors.shape[1]}-d vectors but the MAR "
            f"model outputs {width}-d ones (bridge {config.bridge!r}); build the index at the query width "
            f"(truncate_dim {width}) or use the bridge that gives {vectors.shape[1]}-d vectors"
        )
    return texts, vectors




def _stage1(config: MARConfig, query_path: str, document_path: str, texts: list[str], documents: list[str]):
    """Stage I: the document tower frozen, the query tower learns to map a text where the document tower puts it.

    ``cached``: the frozen tower's vectors of the texts (through the ``stage1_target_route`` prompt) are encoded once
    into the cache, and a plain model of the query tower alone trains against them (a ``label`` column).
    ``live``: the asymmetric model trains with the document route frozen and run in every step.
    ``documents``: the training documents ``stage1_score_documents`` samples its bank from.
    """
    import numpy as np
    from datasets import Dataset

    from sbert_med.losses import AlignmentLoss
    from sbert_med.modules import freeze_route, unfreeze_route

    def run_stage(stage: Stage):
        model, document_prompts = _assemble(config, query_path, document_path)
        target_prompt = document_prompts.get(config.stage1_target_route, "")
        if config.alignment_index:
            # the index's vectors embed its texts whole: the query tower sees them up to its own length limit
            index_texts, vectors = _index_targets(config, model)
            first = {text: i for i, text in reversed(list(enumerate(index_texts)))}
            train_texts = list(first)
            targets = _to_width(np.asarray(vectors, dtype=np.float32)[list(first.values())], model)
            if 0 < config.alignment_max_texts < len(train_texts):
                import random

                keep = sorted(random.Random(config.seed).sample(range(len(train_texts)), config.alignment_max_texts))
                train_texts, targets = [train_texts[i] for i in keep], targets[keep]
        else:
            train_texts = _cut_texts(config, texts, model)
            targets = None
        loss_kwargs = dict(
            temperature=config.stage1_temperature,
            lambda_mse=config.stage1_mse_weight,
            lambda_contrastive=config.stage1_contrastive_weight,
        )
        logger.info("Stage I on %d alignment texts (%s targets)", len(train_texts), config.stage1_targets)
        if config.stage1_linear_head:
            _check_head_texts(config, model, len(train_texts))
        if config.stage1_targets == "live":
            freeze_route(model, "document")
            data = Dataset.from_dict({"q_text": train_texts, "d_text": train_texts})
            info = _train(
                config, stage, model, data, AlignmentLoss(model, **loss_kwargs),
                epochs=config.stage1_epochs, lr=config.stage1_learning_rate, max_steps=config.stage1_max_steps,
                batch_size=config.stage1_batch_size, router_mapping={"q_text": "query", "d_text": "document"},
                prompts={"d_text": target_prompt} if target_prompt else None,
            )
            unfreeze_route(model, "document")
            return model, {**info, "alignment_texts": len(train_texts), "targets": "live"}
        if targets is None:
            view = _document_view(model, config, {"query": document_prompts.get("query", ""),
                                                  "document": document_prompts.get("document", "")})
            start = time.perf_counter()
            # with one prompt for both (a decoder: none) the document route's vectors are the same: share its cache
            same = document_prompts.get("query", "") == document_prompts.get("document", "")
            route = "document" if same else config.stage1_target_route
            targets = _encode_targets(config, view, train_texts, route=route)
            encoding_seconds = round(time.perf_counter() - start, 3)
            del view
        else:
            encoding_seconds = 0.0
        head = None
        if config.stage1_linear_head:
            from sbert_med.modules import attach_query_head

            head = attach_query_head(model, train_texts, targets, ridge=config.stage1_head_ridge,
                                     batch_size=config.encode_batch_size, show_progress_bar=config.show_progress_bar)
        query_view = _route_view(model, "query", config)
        data = Dataset.from_dict({"text": train_texts, "label": targets})
        bank = _negative_bank(config, targets)
        scored = _score_bank(config, model, document_prompts, documents)
        loss = AlignmentLoss(query_view, **loss_kwargs, negative_bank=bank, **scored)
        info = _train(
            config, stage, query_view, data, loss,
            epochs=config.stage1_epochs, lr=config.stage1_learning_rate, max_steps=config.stage1_max_steps,
            batch_size=config.stage1_batch_size,
        )
        return model, {**info, "alignment_texts": len(train_texts), "targets": "cached",
                       "target_encoding_seconds": encoding_seconds, **({"linear_head": head} if head else {}),
                       **({"negative_bank": len(bank)} if bank is not None else {}),
                       **({"score_documents": len(scored["score_bank"])} if scored else {})}

    return run_stage


def _negative_bank(config: MARConfig, targets):
    """``stage1_negative_bank`` cached targets (a seeded sample; all when there are fewer), or ``None``."""
    import numpy as np

    if not config.stage1_negative_bank:
        return None
    targets = np.asarray(targets, dtype=np.float32)
    if config.stage1_negative_bank < len(targets):
        rng = np.random.default_rng(config.seed)
        targets = targets[np.sort(rng.choice(len(targets), config.stage1_negative_bank, replace=False))]
    return targets


def _score_bank(config: MARConfig, model, document_prompts: dict, documents: list[str]) -> dict:
    """``AlignmentLoss`` arguments of the score-distillation term: the frozen document route's vectors of
    ``stage1_score_documents`` training documents (a seeded sample; all when there are fewer), encoded through the
    cache as Stage II encodes them; ``{}`` when the term is off."""
    import random

    if not config.stage1_score_documents:
        return {}
    documents = list(dict.fromkeys(d for d in documents if d.strip()))
    if not documents:
        raise ConfigError(f"stage1_score_documents needs documents to rank, found none in "
                          f"{config.score_sources or 'the training pairs'}")
    if config.stage1_score_documents < len(documents):
        keep = sorted(random.Random(config.seed).sample(range(len(documents)), config.stage1_score_documents))
        documents = [documents[i] for i in keep]
    view = _document_view(model, config, {"query": "", "document": document_prompts.get("document", "")})
    vectors = _encode_targets(config, view, documents, route="document")
    del view
    return {"score_bank": vectors, "lambda_scores": config.stage1_score_weight,
            "score_temperature": config.stage1_score_temperature}


def _check_head_texts(config: MARConfig, model, count: int) -> None:
    """Refuse, before any target is encoded, alignment texts too few to fit the linear head on."""
    from sbert_med.modules import head_input_width

    width = head_input_width(model, "query", model.truncate_dim)
    if width is not None and count <= width:
        source = "alignment_index" if config.alignment_index else "alignment_data / alignment_max_texts"
        raise ConfigError(
            f"stage1_linear_head needs more alignment texts than the query route's width ({width}) to fit its head, "
            f"got {count} distinct texts: give more ({source}) or set stage1_linear_head: false"
        )


def _to_width(vectors, model):
    """Index vectors cut to the assembled model's width (``truncate_dim``) and re-normalised."""
    import numpy as np

    width = model.truncate_dim
    if width is not None and vectors.shape[1] > width:
        vectors = vectors[:, :width]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.clip(norms, 1e-12, None)


