"""Recipes: a typed config (dataclass, loadable from YAML/JSON) plus a ``train_<recipe>(config) -> str`` function.

* :mod:`sbert_med.recipes.medembed`: encoder fine-tuning on (query, positive, negatives...) with InfoNCE.
* :mod:`sbert_med.recipes.cardioembed`: decoder + LoRA + EOS pooling on textbook sentence -> paraphrase pairs.
* :mod:`sbert_med.recipes.mar`: asymmetric two-tower training (init, Stage I alignment, Stage II joint).

A recipe is its config plus the choice of model, data, loss and evaluator; the run itself (run folder, stages,
resume, the final merge -> check -> card -> save) is :mod:`sbert_med.training`. Shared by the recipes:
:mod:`sbert_med.recipes.evaluators` (the dev-set retrieval evaluator and its metric names) and
:mod:`sbert_med.recipes.negatives` (hard negatives through :func:`sbert_med.data.mine_negatives`, once per run).

Recipe modules are imported lazily (they pull in torch and sentence-transformers).
"""

from __future__ import annotations

from sbert_med.recipes.config import ConfigError, PairsRecipeConfig, RecipeConfig, parse_overrides
from sbert_med.recipes.registry import RECIPES, get_recipe, load_recipe_config, run_recipe

__all__ = [
    "RECIPES",
    "ConfigError",
    "PairsRecipeConfig",
    "RecipeConfig",
    "get_recipe",
    "load_recipe_config",
    "parse_overrides",
    "run_recipe",
]
