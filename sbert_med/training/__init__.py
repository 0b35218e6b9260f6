"""Training: the run a recipe trains in, and ``MedTrainer``.

* :class:`RunFolder` (``run.py``): one folder per run, owned by one config (hash recorded; another config is an error
  unless ``overwrite``; ``resume`` refuses another config's checkpoints), seeding, stages with done-markers,
  checkpoint discovery and resume, datasets built once per run.
* :func:`finalize_model` (``finalize.py``): merge → check → card → save, moved into place.
* :class:`MedTrainer`: router_mapping validation, LoRA-in-Router checkpoints, frozen towers in eval mode.
* :func:`continue_pretraining` (``mlm.py``): masked-LM pretraining of any encoder inside a SentenceTransformer.
"""

from __future__ import annotations

from sbert_med.training.checkpoint import restore_checkpoint
from sbert_med.training.finalize import finalize_model
from sbert_med.training.mlm import MLMReport, continue_pretraining
from sbert_med.training.run import (
    RunError,
    RunFolder,
    Stage,
    config_hash,
    last_checkpoint,
    replace_dir,
    seed_everything,
)
from sbert_med.training.trainer import MedTrainer
from sbert_med.training.validation import check_no_empty_texts, validate_router_mapping

__all__ = [
    "MLMReport",
    "MedTrainer",
    "RunError",
    "RunFolder",
    "Stage",
    "check_no_empty_texts",
    "config_hash",
    "continue_pretraining",
    "finalize_model",
    "last_checkpoint",
    "replace_dir",
    "restore_checkpoint",
    "seed_everything",
    "validate_router_mapping",
]
