"""Pieces every recipe shares: the trainer class, checkpoints and resume, evaluators, the final save."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def trainer_class():
    """``sbert_med.training.MedTrainer`` when available, else ``SentenceTransformerTrainer``."""
    try:
        from sbert_med.training import MedTrainer

        return MedTrainer
    except ImportError:
        from sentence_transformers import SentenceTransformerTrainer

        logger.debug("sbert_med.training.MedTrainer not available; using SentenceTransformerTrainer")
        return SentenceTransformerTrainer


def last_complete_checkpoint(checkpoint_dir: str | Path) -> str | None:
    """The highest ``checkpoint-N`` whose ``trainer_state.json`` was written (a run killed while saving leaves an
    incomplete folder, which is skipped)."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return None
    complete = [
        (int(path.name.split("-")[1]), path)
        for path in folder.glob("checkpoint-*")
        if path.name.split("-")[1].isdigit() and (path / "trainer_state.json").is_file()
    ]
    return str(max(complete)[1]) if complete else None


def resume_checkpoint(checkpoint_dir: str, resume: bool) -> str | None:
    """The last ``checkpoint-N`` folder in ``checkpoint_dir`` when ``resume`` is set (``None`` otherwise)."""
    if not resume:
        return None
    last = last_complete_checkpoint(checkpoint_dir)
    if last is None:
        logger.warning("resume requested but %s holds no checkpoint: training from the start", checkpoint_dir)
    else:
        logger.info("resuming from %s", last)
    return last


def run_trainer(trainer, *, checkpoint_dir: str, resume: bool, info_path: str | Path | None = None) -> dict:
    """Train (resuming when asked) and record what happened in ``info_path`` (JSON)."""
    last = resume_checkpoint(checkpoint_dir, resume)
    output = trainer.train(resume_from_checkpoint=last)
    info = {
        "resumed_from": Path(last).name if last else None,
        "global_step": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "train_loss": output.training_loss,
    }
    if info_path is not None:
        Path(info_path).parent.mkdir(parents=True, exist_ok=True)
        Path(info_path).write_text(json.dumps(info, indent=2))
    return info


def mine_cached(
    pairs,
    load_model: Callable[[], Any],
    *,
    cache: str | Path,
    num_negatives: int,
    range_min: int,
    batch_size: int = 64,
    show_progress_bar: bool = True,
    **kwargs: Any,
):
    """``mine_hard_negatives`` over ``(anchor, positive)`` pairs, run once and cached with ``save_to_disk`` at
    ``cache`` so a resumed recipe reuses the same negatives. The top ``range_min`` hits are skipped as likely false
    negatives (medical corpora hold many documents that answer the same question). ``load_model`` returns the
    mining model and is only called when there is no cache, so a resumed run loads no model for it."""
    from datasets import load_from_disk
    from sentence_transformers.util import mine_hard_negatives

    cache = Path(cache)
    if cache.is_dir():
        logger.info("reusing mined negatives from %s", cache)
        return load_from_disk(str(cache))
    mined = mine_hard_negatives(
        pairs,
        load_model(),
        anchor_column_name="anchor",
        positive_column_name="positive",
        range_min=range_min,
        num_negatives=num_negatives,
        sampling_strategy="top",
        output_format="n-tuple",
        batch_size=batch_size,
        verbose=show_progress_bar,
        **kwargs,
    )
    mined.save_to_disk(str(cache))
    return mined


def ir_evaluator(split, *, name: str, batch_size: int = 32, show_progress_bar: bool = False, **kwargs: Any):
    """:func:`sbert_med.evaluation.ir_evaluator` with the recipes' metric set (nDCG/MRR@10, Acc@1/5/10, P/R@10/100,
    MAP@100) for a :class:`~sbert_med.evaluation.BeirData`."""
    from sbert_med.evaluation import ir_evaluator as beir_ir_evaluator

    kwargs.setdefault("mrr_at_k", [10])
    kwargs.setdefault("ndcg_at_k", [10])
    kwargs.setdefault("accuracy_at_k", [1, 5, 10])
    kwargs.setdefault("precision_recall_at_k", [10, 100])
    kwargs.setdefault("map_at_k", [100])
    return beir_ir_evaluator(split, name=name, batch_size=batch_size, show_progress_bar=show_progress_bar, **kwargs)


def short_metrics(results: dict[str, float], name: str) -> dict[str, float]:
    """Strip ``{name}_{score_fn}_`` from evaluator keys: ``{"ndcg@10": ..., "mrr@10": ...}``."""
    out = {}
    for key, value in results.items():
        rest = key[len(name) + 1 :] if key.startswith(name + "_") else key
        metric = rest.split("_", 1)[1] if "_" in rest else rest
        out[metric] = float(value)
    return out


def save_final_model(
    model,
    output_dir: str,
    *,
    family: str,
    recipe_config: dict | None = None,
    eval_results: dict | None = None,
) -> str:
    """Merge adapters, check, save with the family's generated card (``sbert_med.hub.save_with_card``).

    ``eval_results`` is ``{task: {metric: value}}`` for this model (e.g. ``{"medquad-dev": {"ndcg@10": 0.8}}``).
    """
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    try:
        from sbert_med.hub import save_with_card
    except ImportError:
        save_with_card = None
    if save_with_card is not None:
        if eval_results and all(isinstance(v, (int, float)) for v in eval_results.values()):
            eval_results = {"dev": eval_results}  # flat {metric: value}
        results = {"this model": eval_results} if eval_results else None
        save_with_card(model, output_dir, family=family, eval_results=results, recipe_config=recipe_config)
        return output_dir
    # sbert_med.hub not delivered yet: merge + check ourselves, then ST's own generated card.
    logger.warning("sbert_med.hub.save_with_card not available: saving with sentence-transformers' card")
    from sbert_med.modules import check_model, merge_lora

    merge_lora(model)
    check_model(model).raise_for_failures()
    model.save(output_dir)
    if recipe_config is not None:
        (Path(output_dir) / "sbert_med_recipe.json").write_text(json.dumps(recipe_config, indent=2, default=str))
    return output_dir
