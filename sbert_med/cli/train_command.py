"""``sbert-med train CONFIG.yaml``: run a recipe (MedEmbed, CardioEmbed, MAR, MedEIR) from its config file."""

from __future__ import annotations

import argparse

HELP = "train a model with a recipe config (medembed, cardioembed, mar, medeir)"
DESCRIPTION = "Run the recipe named by the config's 'recipe:' key. Examples: examples/<recipe>/{full,cpu}.yaml."


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
