"""Find a recipe by name: its config class and its ``train_<name>`` function (``sbert_med.recipes.<name>``)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path

from sbert_med.recipes.config import ConfigError, RecipeConfig, parse_overrides, read_config_file

__all__ = ["PIPELINES", "RECIPES", "get_recipe", "load_recipe_config", "pipeline_of", "run_recipe"]

#: recipe name (the ``recipe:`` key of a config file) -> module implementing it
RECIPES = {
    "medembed": "sbert_med.recipes.medembed",
    "cardioembed": "sbert_med.recipes.cardioembed",
    "mar": "sbert_med.recipes.mar",
    "medeir": "sbert_med.recipes.medeir",
}

#: recipe name -> module of a multi-step pipeline (data generation + training + evaluation) with its own config
#: schema and a ``run_pipeline_file(path, *, data_dir, output_dir, until)`` function
PIPELINES = {
    "medembed_synthetic": "sbert_med.recipes.synthetic_pipeline",
}


def get_recipe(name: str) -> tuple[type[RecipeConfig], Callable[[RecipeConfig], str]]:
    """The config class and the train function of recipe ``name``."""
    if name not in RECIPES:
        raise ConfigError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}")
    module = importlib.import_module(RECIPES[name])
    config_classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, RecipeConfig) and obj.recipe == name
    ]
    train_fn = getattr(module, f"train_{name}", None)
    if len(config_classes) != 1 or train_fn is None:
        raise ImportError(f"{RECIPES[name]} must define one RecipeConfig subclass (recipe={name!r}) and train_{name}")
    return config_classes[0], train_fn


def pipeline_of(path: str | Path) -> str | None:
    """The pipeline module named by a config file's ``recipe:`` key, or ``None`` for a plain recipe config."""
    return PIPELINES.get(read_config_file(path).get("recipe"))


def load_recipe_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RecipeConfig:
    """Load a config file whose ``recipe:`` key names the recipe, applying ``key=value`` overrides."""
    data = read_config_file(path)
    data.update(parse_overrides(overrides))
    name = data.get("recipe")
    if name is None:
        raise ConfigError(f"{path}: missing key 'recipe' (one of {sorted(RECIPES | PIPELINES)})")
    if name not in RECIPES:
        raise ConfigError(f"{path}: key 'recipe' must be one of {sorted(RECIPES | PIPELINES)}, got {name!r}")
    config_class, _ = get_recipe(name)
    return config_class.from_dict(data, source=str(path))


def run_recipe(config: RecipeConfig) -> str:
    """Run the recipe a config belongs to; returns the saved model directory."""
    _, train_fn = get_recipe(config.recipe)
    config.check_inputs()
    return train_fn(config)
