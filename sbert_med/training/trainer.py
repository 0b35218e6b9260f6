"""``MedTrainer``: ``SentenceTransformerTrainer`` with the fixes asymmetric, LoRA-on-one-tower training needs."""

from __future__ import annotations

import copy
import inspect
import logging
import os
from typing import Any

from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer

from sbert_med.modules.freezing import frozen_routes, is_frozen, keep_in_eval
from sbert_med.modules.lora import has_lora, merge_lora
from sbert_med.modules.routes import get_router
from sbert_med.training.checkpoint import restore_checkpoint
from sbert_med.training.validation import check_no_empty_texts, validate_router_mapping

logger = logging.getLogger(__name__)


class MedTrainer(SentenceTransformerTrainer):
    """A drop-in :class:`~sentence_transformers.SentenceTransformerTrainer` for sbert_med models.

    Same arguments and behaviour, plus:

    * **router_mapping is validated** against the train/eval dataset columns: a text column missing from the
      mapping (it would silently be embedded by the Router's default route), a mapping entry naming no column,
      or an unknown route is a ``ValueError``. Empty texts are an error too, naming the column and row.
    * **LoRA inside a Router survives training**: checkpoints keep the adapter; ``resume_from_checkpoint`` and
      ``load_best_model_at_end`` restore every tower and the adapter in place (sentence-transformers cannot reload
      an adapter saved inside a Router, and ``load_best_model_at_end`` would silently keep the last model). A best
      model that cannot be restored is an error, not a log line.
    * **Frozen towers stay in eval mode**: a Router tower without trainable parameters is pinned in eval mode at
      ``train()``, so dropout does not perturb it although the trainer calls ``model.train()`` each step.
    * **The final save is self-contained**: ``save_model()`` (not the checkpoints) merges LoRA adapters into a
      copy of the model and saves that, so ``SentenceTransformer(path)`` reloads it plainly.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Validate before the parent builds anything, so a bad mapping fails with our message.
        try:
            bound = inspect.signature(SentenceTransformerTrainer.__init__).bind(self, *args, **kwargs).arguments
        except TypeError:  # deprecated aliases etc.: the parent sorts them out, validation runs after it
            bound = {}
        model, training_args = bound.get("model"), bound.get("args")
        datasets = {"train": bound.get("train_dataset"), "eval": bound.get("eval_dataset")}
        datasets = {split: data for split, data in datasets.items() if data is not None}
        if model is not None and training_args is not None:
            validate_router_mapping(model, training_args.router_mapping, datasets)
        check_no_empty_texts(datasets)
        super().__init__(*args, **kwargs)
        if model is None or training_args is None:
            validate_router_mapping(self.model, self.args.router_mapping, datasets)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        router = get_router(self.model)
        if router is not None:
            for route in frozen_routes(self.model):
                module = router.sub_modules[route]
                if not is_frozen(module):
                    logger.info("the %s tower has no trainable parameter: keeping it in eval mode", route)
                    keep_in_eval(module)
        return super().train(*args, **kwargs)

    def _load_from_checkpoint(self, checkpoint_path: str, model: Any = None) -> None:
        target = getattr(self.model, "_orig_mod", self.model)
        if has_lora(target):
            restore_checkpoint(target, checkpoint_path)
        else:
            super()._load_from_checkpoint(checkpoint_path)

    def _load_best_model(self) -> None:
        checkpoint = self.state.best_model_checkpoint
        logger.info("Loading best model from %s (score: %s).", checkpoint, self.state.best_metric)
        step = checkpoint.rstrip(os.sep).rsplit("-", 1)[-1]
        if step.isdigit():
            self.model.model_card_data.set_best_model_step(int(step))
        self._load_from_checkpoint(checkpoint)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save the model; outside checkpoints, LoRA adapters are merged (in a copy) so it reloads plainly."""
        if _internal_call or not has_lora(self.model):
            super().save_model(output_dir, _internal_call=_internal_call)
            return
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.is_world_process_zero():
            return
        merged: SentenceTransformer = merge_lora(copy.deepcopy(self.model))
        merged.save(output_dir)
        logger.info("saved %s with LoRA adapters merged", output_dir)
