"""Where the model card template is: ``sbert_med/hub/templates/model_card.md``, shipped inside the package.

There is one template for every model. What differs between models comes from the card data, not from a per-family
copy of the text: the summary and the training section are written from the recorded training configuration and
provenance, and the family-specific paragraphs (two towers, EOS pooling, long documents) are shown when the model
has that structure. The repository's ``model_cards/`` folder only points here.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATE = TEMPLATES_DIR / "model_card.md"
FAMILIES = ("medembed", "cardioembed", "mar", "medeir")


def template_path(family: str | None = None) -> Path:
    """The packaged card template (the same file for every family; ``family`` is validated)."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")
    if not TEMPLATE.is_file():
        raise FileNotFoundError(f"model card template missing from the package: {TEMPLATE}")
    return TEMPLATE
