"""``sbert-med train CONFIG.yaml``: run a recipe (MedEmbed, CardioEmbed, MAR, MedEIR) from its config file."""

from __future__ import annotations

import argparse
import importlib
import json
import os

from sbert_med.recipes.config import ConfigError

HELP = "train a model with a recipe config (medembed, cardioembed, mar, medeir, medembed_synthetic)"
DESCRIPTION = (
    "Run the recipe named by the config's 'recipe:' key. Examples: examples/<recipe>/{full,cpu}.yaml. "
    "'recipe: medembed_synthetic' (examples/medembed/synthetic.yaml) runs the whole pipeline from documents: "
    "generate queries with an LLM, clean them, train, evaluate; every step resumes where it stopped."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML or JSON recipe config")
    parser.add_argument("--output", "-o", default=None, help="output folder (overrides output_dir)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint in the output folder (refused for another config's run)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run of another config in the output folder (without it, that is an error)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="replaces ${DATA_DIR} in the config's paths (e.g. ../shared/data)",
    )
    parser.add_argument(
        "--until",
        default=None,
        help="pipeline configs only: stop after this step (e.g. generate)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (value parsed as YAML); repeatable",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sbert_med.recipes import load_recipe_config, run_recipe
    from sbert_med.recipes.registry import pipeline_of

    if args.data_dir:
        os.environ["DATA_DIR"] = args.data_dir
    pipeline = pipeline_of(args.config)
    if pipeline is not None:
        return _run_pipeline(importlib.import_module(pipeline), args)
    if args.until:
        raise ConfigError(f"{args.config}: --until applies to pipeline configs (recipe: medembed_synthetic) only")
    overrides = list(args.overrides)
    if args.output:
        overrides.append(f"output_dir={args.output}")
    if args.resume:
        overrides.append("resume=true")
    if args.overwrite:
        overrides.append("overwrite=true")
    config = load_recipe_config(args.config, overrides)
    print(f"sbert-med train: recipe {config.recipe!r} -> {config.output_dir}")
    model_dir = run_recipe(config)
    print(f"model saved to {model_dir}  (SentenceTransformer({model_dir!r}))")
    return 0


def _run_pipeline(module, args: argparse.Namespace) -> int:
    """A multi-step pipeline config: it resumes by itself (every step is journalled), so ``--resume`` and
    ``--overwrite`` change nothing; ``--set`` is refused rather than ignored; the pipeline checks ``--until``."""
    if args.overrides:
        raise ConfigError(f"{args.config}: --set is not supported for pipeline configs; edit the file")
    print(f"sbert-med train: pipeline {module.__name__} -> {args.output or 'the config output_dir'}")
    card = module.run_pipeline_file(args.config, data_dir=args.data_dir, output_dir=args.output, until=args.until)
    print(json.dumps({"funnel": card["funnel"], "results": card["results"]}, indent=2))
    return 0
