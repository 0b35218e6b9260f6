"""``push_model``: check, merge adapters, render the card and upload a saved model through ``huggingface_hub``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sbert_med.hub.card_data import CARD_DATA_FILE, Family, MedModelCardData
from sbert_med.hub.model_description import describe_adapters
from sbert_med.hub.save import prepare_card_data, render_card
from sbert_med.modules import check_model, merge_lora

logger = logging.getLogger(__name__)


@dataclass
class PushResult:
    """What :func:`push_model` did: the files of the upload, and the commit URL unless it was a dry run."""

    repo_id: str
    private: bool
    files: list[str] = field(default_factory=list)
    commit_url: str | None = None
    dry_run_dir: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _valid_repo_id(repo_id: str) -> None:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(ch.isspace() for ch in repo_id):
        raise ValueError(f"repo_id must look like 'user-or-org/model-name', got {repo_id!r}")


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def _is_transformers_folder(folder: Path) -> bool:
    """A folder holding a transformers model (its config.json names a ``model_type``)."""
    try:
        return "model_type" in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def check_model_files(model_dir: Path) -> None:
    """Refuse a model folder that cannot be loaded, naming the missing file (instead of a loader traceback)."""
    if not (model_dir / "modules.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a saved sentence-transformers model (no modules.json)")
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        paths = [module.get("path", "") for module in modules]
    except (json.JSONDecodeError, AttributeError, TypeError) as exc:
        raise ValueError(f"{model_dir / 'modules.json'}: not a sentence-transformers module list ({exc})") from None
    folders = {model_dir / path for path in paths}
    router = model_dir / "router_config.json"
    if router.is_file():  # a Router's towers are sub-folders with their own config.json
        folders |= {p.parent for p in model_dir.glob("*/config.json")}
    for folder in sorted(folders):
        if _is_transformers_folder(folder) and not any((folder / name).is_file() for name in WEIGHT_FILES):
            raise FileNotFoundError(f"{folder / 'model.safetensors'} is missing: {model_dir} holds a model "
                                    "configuration without its weights")


def _stage(model_dir: Path, repo_id: str, staging: Path, family: Family | None,
           base_models: dict[str, str] | None = None) -> None:
    """Write exactly the files to upload into ``staging``: merged model, rendered card, card data."""
    from sentence_transformers import SentenceTransformer

    if (model_dir / CARD_DATA_FILE).is_file():
        card_data = MedModelCardData.from_json(model_dir)
        if family is not None and family != card_data.family:
            logger.info("Rendering the %s card instead of the stored %s card", family, card_data.family)
            card_data.family = family
    else:  # a plain model: a neutral card unless a family is given
        card_data = MedModelCardData(family=family)
    card_data.model_id = repo_id
    try:
        model = SentenceTransformer(str(model_dir), device="cpu")
    except (OSError, ValueError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{model_dir}: the model cannot be loaded ({reason})") from None
    card_data = prepare_card_data(model, family=card_data.family, card_data=card_data, base_models=base_models)
    adapters = describe_adapters(model)
    if adapters:
        merge_lora(model)
        card_data.adapters += [{**adapter, "merged": True} for adapter in adapters]
    report = check_model(model)
    if not report.passed:
        failed = "; ".join(f"[FAIL] {r.route}: {r.name} - {r.detail}" for r in report.failures)
        raise ValueError(f"refusing to push {model_dir}: it fails check_model: {failed}")
    card_data.check_summary = [{"route": r.route, "name": r.name, "passed": r.passed} for r in report.results]
    model.save(str(staging), create_model_card=False)
    card_data.save_json(staging)
    render_card(model, staging)


def push_model(
    model_dir: str | Path,
    repo_id: str,
    *,
    private: bool = True,
    dry_run_dir: str | Path | None = None,
    token: str | None = None,
    family: Family | None = None,
    commit_message: str = "Upload medical embedding model (sbert-med)",
    endpoint: str | None = None,
    base_models: dict[str, str] | None = None,
) -> PushResult:
    """Upload a saved model to the Hugging Face Hub with a freshly rendered model card.

    The model is reloaded from ``model_dir``, checked with :func:`~sbert_med.modules.check_model` (a failing model
    is refused), its adapters are merged, and the card is rendered with ``repo_id`` in its usage snippet. The files
    are staged in a folder and uploaded in one commit with ``HfApi.create_repo`` + ``HfApi.upload_folder``.

    Args:
        model_dir: A folder written by :func:`save_with_card` (or any sentence-transformers model folder; then pass
            ``family``).
        repo_id: ``"user-or-org/model-name"``.
        private: Create the repository as private (default).
        dry_run_dir: Write exactly what would be uploaded into this folder and upload nothing.
        token: Hub token; default: ``HF_TOKEN`` or the saved login (never logged).
        family: The model family, when ``model_dir`` has no ``sbert_med_card.json`` (default: a neutral card).
        commit_message: Message of the upload commit.
        endpoint: Hub endpoint; default: ``HF_ENDPOINT`` or https://huggingface.co.
        base_models: Hub ids of the base models (``{"*": id}`` or per route), shown in the card instead of
            whatever the model folders recorded.

    Returns:
        A :class:`PushResult`.
    """
    _valid_repo_id(repo_id)
    model_dir = Path(model_dir)
    check_model_files(model_dir)
    if dry_run_dir is not None:
        staging = Path(dry_run_dir)
        if staging.exists() and any(staging.iterdir()):
            raise ValueError(f"dry-run folder {staging} is not empty; pass an empty or new folder")
        staging.mkdir(parents=True, exist_ok=True)
        _stage(model_dir, repo_id, staging, family, base_models)
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        logger.info("Dry run: %d files for %s (%s) written to %s", len(files), repo_id,
                    "private" if private else "public", staging)
        return PushResult(repo_id=repo_id, private=private, files=files, dry_run_dir=str(staging))

    from huggingface_hub import HfApi, constants

    if constants.is_offline_mode():
        raise ValueError("HF_HUB_OFFLINE is set, so nothing can be uploaded: unset it, or use a dry run "
                         "(dry_run_dir / --dry-run DIR) to see what would be uploaded")
    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    with tempfile.TemporaryDirectory(prefix="sbert-med-push-") as tmp:
        staging = Path(tmp)
        _stage(model_dir, repo_id, staging, family, base_models)
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        logger.info("Uploading %d files to %s (%s)", len(files), repo_url, "private" if private else "public")
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(staging), commit_message=commit_message,
                                   repo_type="model")
    return PushResult(repo_id=repo_id, private=private, files=files, commit_url=str(commit.commit_url))
