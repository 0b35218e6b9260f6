"""MAR: asymmetric retrieval, a small query encoder aligned to a large document tower, in three stages.

0. **Independent initialisation**: each tower is fine-tuned symmetrically on the retrieval pairs (a decoder
   document tower with LoRA and Matryoshka over nested widths, paper Eq. 4, merged afterwards).
1. **Stage I (alignment)**: the document tower is frozen; on self-pairs ``(text, text)`` of an alignment corpus the
   query tower learns to map a text where the document tower puts it: Asym-InfoNCE (in-batch) + MSE. The document
   tower's vectors of the alignment texts are encoded once into the encoding cache (:mod:`sbert_med.encoding`) and
   Stage I trains the query tower alone against them (``stage1_targets: cached``); ``live`` runs the frozen tower
   in every step instead (same loss, for comparison). ``stage1_linear_head`` (ours, not the paper's) first fits a
   linear ``Dense`` head on the query route against the cached targets in closed form, so Stage I starts aligned.
2. **Stage II (joint)**: Asym-InfoNCE on hard-negative rows (tau ~ 0.02). A trained (decoder) document tower
   trains too, with LoRA; a frozen one (an existing sentence-transformers embedding model, by default) contributes
   cached vectors of the positives and hard negatives, so Stage II also trains only the query tower.

The document tower is either an existing sentence-transformers model (``document_kind: sentence_transformers``, e.g.
EmbeddingGemma-300M or Qwen3-Embedding, used frozen with its own Transformer, Pooling, Dense heads and prompts) or a
decoder with EOS pooling and LoRA (``document_kind: decoder``); ``auto`` picks the former when the folder / Hub
repository has a ``modules.json``. Every assembled model is ``Router.for_query_document`` + ``Normalize`` built from
sentence-transformers' own modules (plain ``SentenceTransformer(path)`` loads it); the document route keeps the
document model's ``document`` prompt, the query route has none.

Ablation switches: ``run_init``, ``run_init_document``, ``run_stage1``, ``run_stage2``, ``stage1_mse_weight=0`` (no
MSE), ``stage1_contrastive_weight=0`` (no contrastive). The run folder (:class:`sbert_med.training.RunFolder`) holds
one stage per step: each saves a plainly loadable model under ``output_dir/stages/`` and is skipped when it is
already done, so rerunning the command resumes; a stage cut short resumes from its own last checkpoint with
``resume: true``; encoded targets are kept in ``cache_dir`` and never encoded twice.

Where each default comes from: :data:`DEFAULT_SOURCES` (also in ``examples/mar/README.md`` and the model card).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sbert_med.data.pairs import truncate_to_tokens
from sbert_med.recipes.config import ConfigError, recorded_config
from sbert_med.recipes.mar_config import DEFAULT_SOURCES, MARConfig, resolved_settings
from sbert_med.recipes.mar_stage1 import _alignment_texts, _index_module, _score_documents, _stage1
from sbert_med.recipes.mar_towers import (
    _document_tower,
    _document_view,
    _encode_targets,
    _load,
    _query_tower,
    _route_view,
    _symmetric,
    _train,
    assemble_mar_model,
)
from sbert_med.recipes.negatives import mine_training_negatives
from sbert_med.training import RunFolder, Stage, finalize_model, seed_everything

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_SOURCES", "MARConfig", "assemble_mar_model", "resolved_settings", "train_mar"]


# ------------------------------------------------------------------------------------------------------------ data
def _cut_queries(config: MARConfig, data, query_path: str):
    """Queries cut to ``query_max_length`` tokens of the (initialised) query tower's tokenizer."""
    from sentence_transformers import SentenceTransformer

    if not Path(query_path).is_dir():
        return data
    tokenizer = SentenceTransformer(query_path, device="cpu").tokenizer
    anchors = truncate_to_tokens(data["anchor"], tokenizer, config.query_max_length)
    return data.remove_columns("anchor").add_column("anchor", anchors).select_columns(data.column_names)


def _stage2_data(config: MARConfig, run: RunFolder, data, *, mining_tower: str):
    """Stage II rows: the supplied negatives, else negatives mined with the initialised query tower."""
    if config.num_negatives > 0 or config.num_hard_negatives == 0:
        return data
    return mine_training_negatives(
        run,
        data,
        lambda: _load(config, mining_tower),
        name="stage2_triplets",
        num_negatives=config.num_hard_negatives,
        range_min=config.mine_range_min,
        relative_margin=config.mine_margin,
        show_progress_bar=config.show_progress_bar,
    )



# ------------------------------------------------------------------------------------------------------------ stages
def _matryoshka_dims(config: MARConfig, document_width: int, query_width: int | None) -> list[int]:
    """The document tower's nested widths (paper Eq. 4): the config's, or the document width, the query width and
    half and a quarter of it (ours)."""
    if config.document_matryoshka_dims is not None:
        dims = sorted(set(config.document_matryoshka_dims), reverse=True)
        if dims and dims[0] > document_width:
            raise ConfigError(
                f"document_matryoshka_dims {dims} exceed the document tower's width {document_width}"
            )
        if dims and query_width and config.bridge == "truncate" and query_width not in dims:
            logger.warning(
                "document_matryoshka_dims %s leave out the query width %d the truncate bridge cuts documents to",
                dims, query_width,
            )
        return dims
    widths = [document_width]
    if query_width:
        widths += [query_width, query_width // 2, query_width // 4]
    return sorted({w for w in widths if 0 < w <= document_width}, reverse=True)


def _init_tower(config: MARConfig, pairs, *, route: str, kind: str):
    """Independent initialisation: fine-tune one tower on its own, symmetrically (LoRA and Matryoshka over nested
    widths on the document tower, paper Eq. 4)."""
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    from sbert_med.modules import add_lora, route_width

    def run_stage(stage: Stage):
        lr = config.init_learning_rate
        prompts = None
        if route == "query":
            model = _symmetric(_query_tower(config, config.query_model, pooling=config.query_pooling), config)
            loss = MultipleNegativesRankingLoss(model, scale=1 / config.stage2_temperature)
        else:
            modules, document_prompts = _document_tower(config, config.document_model, kind)
            model = _symmetric(modules, config, prompts=document_prompts or None)
            if document_prompts:
                prompts = {"anchor": document_prompts["query"], "positive": document_prompts["document"]}
            add_lora(model, route=None, config=config.lora)
            if config.init_document_learning_rate is not None:
                lr = config.init_document_learning_rate
            query_width = route_width(_query_tower(config, config.query_model, pooling=config.query_pooling))
            dims = _matryoshka_dims(config, route_width(modules), query_width)
            loss = MultipleNegativesRankingLoss(model, scale=1 / config.stage2_temperature)
            if dims:
                logger.info("document tower initialisation: Matryoshka over widths %s (paper Eq. 4)", dims)
                loss = MatryoshkaLoss(model, loss, dims, matryoshka_weights=[1 / len(dims)] * len(dims))
        info = _train(
            config, stage, model, pairs, loss,
            epochs=config.init_epochs, lr=lr, max_steps=config.init_max_steps, batch_size=config.batch_size,
            prompts=prompts,
        )
        return model, info

    return run_stage



def _stage2(config: MARConfig, start, data, *, frozen: bool):
    """Stage II: Asym-InfoNCE on hard-negative rows. A trained document tower gets LoRA and trains with the query
    tower; a frozen one contributes cached vectors of each row's positive and negatives (``(K, D)`` labels,
    positive first) and only the query tower trains."""
    import numpy as np
    from datasets import Dataset

    from sbert_med.losses import AlignmentLoss, AsymInfoNCELoss
    from sbert_med.modules import add_lora

    def run_stage(stage: Stage):
        model = start()
        triplets = data()
        document_columns = [column for column in triplets.column_names if column != "anchor"]
        common = dict(
            epochs=config.stage2_epochs, lr=config.stage2_learning_rate, max_steps=config.stage2_max_steps,
            batch_size=config.stage2_batch_size,
        )
        if frozen:
            view = _document_view(model, config, {"query": "", "document": model.prompts.get("document", "")})
            documents = list(dict.fromkeys(t for column in document_columns for t in triplets[column]))
            began = time.perf_counter()
            vectors = _encode_targets(config, view, documents, route="document")
            encoding_seconds = round(time.perf_counter() - began, 3)
            del view
            where = {text: i for i, text in enumerate(documents)}
            rows = np.array([[where[t] for t in column] for column in zip(*(triplets[c] for c in document_columns))])
            labels = vectors[rows]  # (N, K, D), positive first
            query_view = _route_view(model, "query", config)
            train = Dataset.from_dict({"anchor": triplets["anchor"], "label": list(labels)})
            loss = AlignmentLoss(query_view, temperature=config.stage2_temperature, lambda_mse=0.0)
            info = _train(config, stage, query_view, train, loss, **common)
            return model, {**info, "document_tower": "frozen (cached vectors)", "candidates": len(document_columns),
                           "target_encoding_seconds": encoding_seconds}
        add_lora(model, route="document", config=config.lora)
        mapping = {column: ("query" if column == "anchor" else "document") for column in triplets.column_names}
        document_prompt = model.prompts.get("document", "")
        loss = AsymInfoNCELoss(
            model, temperature=config.stage2_temperature, gather_across_devices=config.gather_across_devices
        )
        info = _train(
            config, stage, model, triplets, loss, **common, router_mapping=mapping,
            learning_rate_mapping=(
                {r"sub_modules\.document\.": config.stage2_document_learning_rate}
                if config.stage2_document_learning_rate is not None
                else None
            ),
            prompts={column: document_prompt for column in document_columns} if document_prompt else None,
        )
        return model, info

    return run_stage


def train_mar(config: MARConfig) -> str:
    """Run the enabled MAR stages; returns the directory of the final, plainly loadable asymmetric model.

    Stage models: ``stages/init_query``, ``stages/init_document`` (symmetric), ``stages/stage1``,
    ``stages/stage2`` (asymmetric). The final model (``output_dir/model``) is the last stage run.
    """
    settings = resolved_settings(config)
    kind = settings["document_kind"]
    run = RunFolder.for_config(config)
    seed_everything(config.seed)
    data = config.load_train_pairs()
    pairs = data.select_columns(["anchor", "positive"])
    # read (and check) the alignment corpus and the score bank's documents before any model is trained
    texts = _alignment_texts(config, pairs) if config.run_stage1 and not config.alignment_index else []
    documents = _score_documents(config, pairs) if config.run_stage1 and config.stage1_score_documents else []
    query_path, document_path = config.query_model, config.document_model
    if config.run_init:
        query_path = run.stage("init_query").run_once(_init_tower(config, pairs, route="query", kind=kind))
    if settings["init_document"]:
        document_path = run.stage("init_document").run_once(
            _init_tower(config, pairs, route="document", kind=kind)
        )
    data = _cut_queries(config, data, query_path)
    last = None
    if config.run_stage1:
        last = run.stage("stage1").run_once(_stage1(config, query_path, document_path, texts, documents))
    if config.run_stage2:
        stage1_path = last

        def start():  # Stage I's model, or the towers as they are
            return _load(config, stage1_path) if stage1_path else assemble_mar_model(config, query_path, document_path)

        last = run.stage("stage2").run_once(
            _stage2(
                config, start, lambda: _stage2_data(config, run, data, mining_tower=query_path),
                frozen=settings["freeze_document"],
            )
        )
    # init only: nothing asymmetric trained yet, assemble the two initialised towers
    model = _load(config, last) if last else assemble_mar_model(config, query_path, document_path)
    lengths = {"query": config.query_max_length, "document": config.document_max_length}
    model_dir = finalize_model(
        model,
        run.model_dir,
        family="mar",
        recipe_config=recorded_config(
            config,
            training_max_seq_length=lengths,
            inference_max_seq_length=lengths,
            resolved=settings,
            default_sources=DEFAULT_SOURCES,
        ),
    )
    if config.alignment_index and config.run_stage1:
        # the manifest check of `sbert-med index search --model` accepts this model for the index it was aligned to
        _index_module(config).record_index_alignment(model_dir, config.alignment_index, model=model)
    return model_dir
