"""The ``sbert-med`` command line: a thin layer over the library.

Each sub-command lives in its own module ``sbert_med.cli.<name>_command`` exposing ``HELP``, ``DESCRIPTION`` and
``add_arguments(parser)`` (which adds the sub-command's arguments and sets ``func``); :func:`build_parser` registers
them all, so the parser stays testable.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from sbert_med import __version__

# name of the sub-command -> module implementing it
COMMANDS = {
    "demo": "sbert_med.cli.demo_command",
    "train": "sbert_med.cli.train_command",
    "data": "sbert_med.cli.data_command",
    "eval": "sbert_med.cli.eval_command",
    "index": "sbert_med.cli.index_command",
    "push": "sbert_med.cli.push_command",
    "tokenizer": "sbert_med.cli.tokenizer_command",
    "models": "sbert_med.cli.models_command",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sbert-med",
        description="Build, train, evaluate and publish medical text embedding models on sentence-transformers.",
    )
    parser.add_argument("--version", action="version", version=f"sbert-med {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        command = importlib.import_module(module_name)
        command.add_arguments(subparsers.add_parser(name, help=command.HELP, description=command.DESCRIPTION))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        # User errors: one readable line, no traceback.
        print(f"sbert-med {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: long jobs write incrementally (journals, encoding shards, checkpoints), so rerunning resumes.
        print(f"sbert-med {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
