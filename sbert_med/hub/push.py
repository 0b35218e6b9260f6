"""``push_model``: check, merge adapters, render the card and upload a saved model through ``huggingface_hub``."""

from __future__ import annotations

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


def _valid_repo_id(repo_id: str) -> None:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(ch.isspace() for ch in repo_id):
        raise ValueError(f"repo_id must look like 'user-or-org/model-name', got {repo_id!r}")


def _stage(model_dir: Path, repo_id: str, staging: Path, family: Family | None) -> None:
    """Write exactly the files to upload into ``staging``: merged model, rendered card, card data."""
    from sentence_transformers import SentenceTransformer

    if (model_dir / CARD_DATA_FILE).is_file():
        card_data = MedModelCardData.from_json(model_dir)
        if family is not None and family != card_data.family:
            logger.info("Rendering the %s card instead of the stored %s card", family, card_data.family)
    elif family is None:
        raise ValueError(f"{model_dir} has no {CARD_DATA_FILE} (not saved with save_with_card): pass the family "
                         "(--family medembed|cardioembed|mar|medeir) so a model card can be rendered")
    else:
        card_data = MedModelCardData(family=family)
    card_data.model_id = repo_id
    model = SentenceTransformer(str(model_dir), device="cpu")
    card_data = prepare_card_data(model, family=family or card_data.family, card_data=card_data)
    adapters = describe_adapters(model)
    if adapters:
        merge_lora(model)
        card_data.adapters += [{**adapter, "merged": True} for adapter in adapters]
    report = check_model(model)
    if not report.passed:
        raise ValueError(f"refusing to push {model_dir}: it fails check_model\n{report}")
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
        family: Card template to use when ``model_dir`` has no ``sbert_med_card.json``.
        commit_message: Message of the upload commit.
        endpoint: Hub endpoint; default: ``HF_ENDPOINT`` or https://huggingface.co.

    Returns:
        A :class:`PushResult`.
    """
    _valid_repo_id(repo_id)
    model_dir = Path(model_dir)
    if not (model_dir / "modules.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a saved sentence-transformers model (no modules.json)")
    if dry_run_dir is not None:
        staging = Path(dry_run_dir)
        if staging.exists() and any(staging.iterdir()):
            raise ValueError(f"dry-run folder {staging} is not empty; pass an empty or new folder")
        staging.mkdir(parents=True, exist_ok=True)
        _stage(model_dir, repo_id, staging, family)
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
        _stage(model_dir, repo_id, staging, family)
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        logger.info("Uploading %d files to %s (%s)", len(files), repo_url, "private" if private else "public")
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(staging), commit_message=commit_message,
                                   repo_type="model")
    return PushResult(repo_id=repo_id, private=private, files=files, commit_url=str(commit.commit_url))
