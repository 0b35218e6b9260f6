"""Where the model card templates are: ``sbert_med/hub/templates/<family>.md``, shipped inside the package.

The sources live in the repository's ``model_cards/`` folder; the package carries an identical copy (a pip-installed
package cannot see the repository). ``tests/hub/test_templates.py`` fails when the two differ; refresh the copy with
``python -m sbert_med.hub.template_files --sync``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent / "templates"
REPO_SOURCES_DIR = Path(__file__).resolve().parents[2] / "model_cards"
FAMILIES = ("medembed", "cardioembed", "mar", "medeir")


def template_path(family: str) -> Path:
    """The packaged card template of a model family."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")
    path = TEMPLATES_DIR / f"{family}.md"
    if not path.is_file():
        raise FileNotFoundError(f"model card template missing from the package: {path}")
    return path


def sync_from_sources(sources: Path = REPO_SOURCES_DIR, target: Path = TEMPLATES_DIR) -> list[Path]:
    """Copy ``model_cards/<family>.md`` into the package (run from a repository checkout)."""
    copied = []
    for family in FAMILIES:
        source = sources / f"{family}.md"
        if not source.is_file():
            raise FileNotFoundError(f"template source missing: {source}")
        copied.append(Path(shutil.copyfile(source, target / source.name)))
    return copied


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sync", action="store_true", help="copy model_cards/*.md into the package")
    if parser.parse_args().sync:
        for path in sync_from_sources():
            print(f"updated {path}")
