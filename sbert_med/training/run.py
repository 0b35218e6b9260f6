"""One run folder: the config that made it, seeding, stages with done-markers, checkpoint discovery and resume.

Every recipe trains inside a :class:`RunFolder`::

    output_dir/
        sbert_med_run.json          the config (and its hash) of the run that owns the folder
        checkpoints/[stage/]checkpoint-N   trainer checkpoints (``--resume`` continues from the last complete one)
        stages/<stage>/STAGE_DONE   a finished stage's model; the marker holds what the stage recorded
        data/<name>/                datasets built once per run (e.g. mined negatives)
        model/                      the final model (:func:`sbert_med.training.finalize_model`)

The folder belongs to one config. Opening it with another config is an error unless ``overwrite`` (which clears
the old run); ``resume`` with another config is always an error, so a checkpoint never continues under settings
it was not trained with. A folder that holds files but no run record is never written into. Models and records
are written to a temporary name and moved into place, so a crash never leaves a half-written ``model/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "RUN_FILE",
    "STAGE_DONE",
    "NEUTRAL_KEYS",
    "RunError",
    "RunFolder",
    "Stage",
    "config_defaults",
    "config_hash",
    "last_checkpoint",
    "replace_dir",
    "seed_everything",
]

#: the run record at the root of a run folder
RUN_FILE = "sbert_med_run.json"
#: the done-marker of a finished stage (JSON: what the stage recorded)
STAGE_DONE = "STAGE_DONE"
#: config keys that do not change what a run produces (where it goes, how it reports, how often it saves)
NEUTRAL_KEYS = frozenset(
    {
        "output_dir",
        "resume",
        "overwrite",
        "show_progress_bar",
        "dataloader_num_workers",
        "logging_steps",
        "save_steps",
        "save_total_limit",
        "cache_dir",  # where encoded vectors are kept: they are keyed by model, text, prompt and width, not by place
    }
)


class RunError(ValueError):
    """A run folder cannot be used as asked (it holds another run, is not a run folder, lies below a file)."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (transformers' ``set_seed``)."""
    from transformers import set_seed

    set_seed(seed)


def _canonical(config: Mapping[str, Any]) -> dict[str, Any]:
    return {key: config[key] for key in sorted(config) if key not in NEUTRAL_KEYS}


def config_hash(config: Mapping[str, Any]) -> str:
    """Hash of the keys that change what a run produces (everything but :data:`NEUTRAL_KEYS`)."""
    text = json.dumps(_canonical(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def config_defaults(config: Any) -> dict[str, Any]:
    """The default values of a dataclass config's fields (``{}`` for anything else): what a config recorded before a
    field existed counts as having."""
    if not dataclasses.is_dataclass(config):
        return {}
    fields = dataclasses.fields(config)
    return {field.name: field.default for field in fields if field.default is not dataclasses.MISSING}


def _differences(
    old: Mapping[str, Any], new: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, limit: int = 4
) -> str:
    """The keys that differ, shown (``""``: none). A key the old config lacks counts as its value in ``defaults``
    (an option a later version added: a run recorded before it ran as its default)."""
    old, new = _canonical(old), _canonical(new)
    old = {**{key: value for key, value in (defaults or {}).items() if key in new and key not in old}, **old}
    keys = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    shown = ", ".join(f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def last_checkpoint(folder: str | os.PathLike) -> str | None:
    """The highest ``checkpoint-N`` in ``folder`` whose ``trainer_state.json`` was written (a run killed while
    saving leaves an incomplete folder, which is skipped); ``None`` when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    complete = [
        (int(path.name.split("-", 1)[1]), path)
        for path in folder.glob("checkpoint-*")
        if path.name.split("-", 1)[1].isdigit() and (path / "trainer_state.json").is_file()
    ]
    return str(max(complete)[1]) if complete else None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_json(path: Path, data: Any) -> None:
    """Write JSON to a temporary name next to ``path``, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
    os.replace(tmp, path)


@contextmanager
def replace_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; on success it replaces ``target`` (any old content is moved
    aside first and removed after), on error it is removed and ``target`` is left as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; give it a normal folder's mode
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_location(path: Path) -> None:
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == path else f"lies below the file {parent}"
            raise RunError(f"output folder {path} {where}: choose a folder path")


class Stage:
    """One step of a run: its model folder ``stages/<name>``, its checkpoints, its done-marker."""

    def __init__(self, run: RunFolder, name: str) -> None:
        self.run = run
        self.name = name

    @property
    def path(self) -> Path:
        return self.run.path / "stages" / self.name

    @property
    def checkpoint_dir(self) -> Path:
        return self.run.checkpoint_dir(self.name)

    @property
    def done(self) -> bool:
        return (self.path / STAGE_DONE).is_file()

    def info(self) -> dict:
        """What the finished stage recorded (its done-marker)."""
        return json.loads((self.path / STAGE_DONE).read_text())

    def finish(self, model: Any, info: Mapping[str, Any]) -> str:
        """Merge LoRA adapters, save ``model`` as the stage's plainly loadable model, mark the stage done."""
        from sbert_med.modules import merge_lora

        if model is not None:
            merge_lora(model)
            with replace_dir(self.path) as tmp:
                model.save(str(tmp))
                (tmp / STAGE_DONE).write_text(json.dumps(dict(info), indent=2, default=str))
        else:
            _write_json(self.path / STAGE_DONE, dict(info))
        logger.info("stage %s done: %s", self.name, self.path)
        return str(self.path)

    def run_once(self, fn: Callable[[Stage], tuple[Any, Mapping[str, Any]]]) -> str:
        """Run ``fn(stage) -> (model, info)`` and :meth:`finish` unless the stage is already done; its path."""
        if self.done:
            logger.info("stage %s already done: %s", self.name, self.path)
            return str(self.path)
        model, info = fn(self)
        return self.finish(model, info)


class RunFolder:
    """A run's folder, owned by one config (see the module docstring for the layout and the rules).

    Args:
        path: The folder (created when missing).
        config: The run's config as a mapping (``RecipeConfig.to_dict()``); :data:`NEUTRAL_KEYS` do not count.
        resume: Continue from checkpoints; refused when the folder holds a run of another config.
        overwrite: Replace a run of another config in this folder (its files are removed).
        defaults: The config's default values: a recorded config that lacks a key (an option added since the run was
            recorded) counts as having its default there, so a run resumes across such an upgrade.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        config: Mapping[str, Any],
        *,
        resume: bool = False,
        overwrite: bool = False,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.config = dict(config)
        self.resume = resume
        self.overwrite = overwrite
        self.defaults = dict(defaults or {})
        self.hash = config_hash(self.config)

    @classmethod
    def for_config(cls, config: Any) -> RunFolder:
        """The run folder of a ``RecipeConfig`` (``output_dir``, ``resume``, ``overwrite``), opened."""
        return cls(
            config.output_dir,
            config.to_dict(),
            resume=config.resume,
            overwrite=getattr(config, "overwrite", False),
            defaults=config_defaults(config),
        ).open()

    @property
    def record_path(self) -> Path:
        return self.path / RUN_FILE

    def open(self) -> RunFolder:
        """Check the folder against the config (raises :class:`RunError`), then record the config in it."""
        if self.resume and self.overwrite:
            raise RunError("resume and overwrite exclude each other: resume continues a run, overwrite replaces it")
        _check_location(self.path)
        if self.path.is_dir() and any(self.path.iterdir()):
            if not self.record_path.is_file():
                raise RunError(
                    f"output folder {self.path} holds files but no {RUN_FILE}: it is not an sbert-med run folder; "
                    "choose a new or empty folder"
                )
            try:
                recorded = json.loads(self.record_path.read_text())
                old_hash, old_config = recorded["config_hash"], recorded["config"]
            except (ValueError, KeyError, TypeError) as exc:
                raise RunError(f"{self.record_path}: unreadable run record ({exc}); use another folder") from exc
            diff = _differences(old_config, self.config, self.defaults) if old_hash != self.hash else ""
            if diff:
                if self.resume:
                    raise RunError(
                        f"cannot resume in {self.path}: its checkpoints come from another config ({diff}); "
                        "resume with the run's own config, or use overwrite / another folder"
                    )
                if not self.overwrite:
                    raise RunError(
                        f"output folder {self.path} holds a run of another config ({diff}); pass --overwrite "
                        "(overwrite: true) to replace it, or choose another folder"
                    )
                logger.warning("overwrite: removing the previous run in %s (%s)", self.path, diff)
                for entry in self.path.iterdir():
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
        elif self.resume:
            logger.warning("resume requested but %s holds no run: training from the start", self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        _write_json(self.record_path, {"config_hash": self.hash, "config": self.config})
        return self

    # ------------------------------------------------------------------------------------------------ layout
    def checkpoint_dir(self, stage: str | None = None) -> Path:
        """``checkpoints/`` (single-stage recipes) or ``checkpoints/<stage>``."""
        return self.path / "checkpoints" / stage if stage else self.path / "checkpoints"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    def stage(self, name: str) -> Stage:
        return Stage(self, name)

    def resume_checkpoint(self, stage: str | None = None) -> str | None:
        """The last complete checkpoint of ``stage`` when resuming (``None`` otherwise or when there is none)."""
        if not self.resume:
            return None
        last = last_checkpoint(self.checkpoint_dir(stage))
        if last is None:
            logger.warning("resume requested but %s holds no checkpoint: training from the start",
                           self.checkpoint_dir(stage))
        else:
            logger.info("resuming from %s", last)
        return last

    # ---------------------------------------------------------------------------------------------- actions
    def train(self, trainer: Any, *, stage: str | None = None, info_name: str | None = None) -> dict:
        """``trainer.train()``, resuming from the stage's last checkpoint when asked; what happened is returned
        and written to ``train_info[_<stage>].json`` (or ``info_name``)."""
        last = self.resume_checkpoint(stage)
        output = trainer.train(resume_from_checkpoint=last)
        info = {
            "resumed_from": Path(last).name if last else None,
            "global_step": trainer.state.global_step,
            "max_steps": trainer.state.max_steps,
            "train_loss": output.training_loss,
            "train_runtime_s": output.metrics.get("train_runtime"),
        }
        self.write_json(info_name or (f"train_info_{stage}.json" if stage else "train_info.json"), info)
        return info

    def write_json(self, name: str, data: Any) -> Path:
        """Write ``data`` to ``name`` in the run folder (temporary name, then moved into place)."""
        path = self.path / name
        _write_json(path, data)
        return path

    def cached_dataset(self, name: str, build: Callable[[], Any]) -> Any:
        """A ``datasets.Dataset`` built once per run (``data/<name>``), reloaded on a rerun or resume.

        The run folder belongs to one config, so what was built here was built from the same inputs.
        """
        from datasets import load_from_disk

        folder = self.path / "data" / name
        if folder.is_dir():
            logger.info("reusing %s", folder)
            return load_from_disk(str(folder))
        dataset = build()
        with replace_dir(folder) as tmp:
            dataset.save_to_disk(str(tmp))
        return load_from_disk(str(folder))
