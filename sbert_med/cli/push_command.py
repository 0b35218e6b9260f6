"""``sbert-med push``: check, merge adapters, render the card and upload a model (a thin layer over
:func:`sbert_med.hub.push_model`)."""

from __future__ import annotations

import argparse

from sbert_med.hub.template_files import FAMILIES

HELP = "upload a saved model to the Hugging Face Hub with a generated model card"
DESCRIPTION = (
    "Runs check_model (a failing model is refused), merges LoRA adapters, renders the model card and "
    "uploads through huggingface_hub. The token comes from HF_TOKEN or `hf auth login`; it is never "
    "printed."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by save_with_card / a recipe")
    parser.add_argument("repo_id", metavar="REPO_ID", help="user-or-org/model-name")
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument("--private", dest="private", action="store_true", default=True,
                            help="create a private repository (default)")
    visibility.add_argument("--public", dest="private", action="store_false", help="create a public repository")
    parser.add_argument("--dry-run", metavar="DIR", default=None,
                        help="write exactly what would be uploaded into DIR and upload nothing")
    parser.add_argument("--family", choices=FAMILIES, default=None,
                        help="the model family, when MODEL_DIR was not saved with save_with_card (default: a neutral "
                             "card for a plain model)")
    parser.add_argument("--base-model", action="append", default=None, metavar="[ROUTE=]HUB_ID",
                        help="Hub id of the base model shown in the card (repeat with query=/document= for the "
                             "towers of an asymmetric model); default: taken from the model when it is known")
    parser.add_argument("--commit-message", default="Upload medical embedding model (sbert-med)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sbert_med.hub import push_model
    from sbert_med.hub.base_model import parse_base_models

    result = push_model(args.model_dir, args.repo_id, private=args.private, dry_run_dir=args.dry_run,
                        family=args.family, commit_message=args.commit_message,
                        base_models=parse_base_models(args.base_model))
    visibility = "private" if result.private else "public"
    if result.dry_run_dir:
        print(f"dry run: {len(result.files)} files for {result.repo_id} ({visibility}) "
              f"written to {result.dry_run_dir}")
    else:
        print(f"pushed {len(result.files)} files to {result.repo_id} ({visibility}): {result.commit_url}")
    for name in result.files:
        print(f"  {name}")
    return 0
