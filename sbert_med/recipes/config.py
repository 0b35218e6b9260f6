"""Typed recipe configs: a dataclass loadable from YAML/JSON with ``key=value`` overrides and clear errors."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

logger = logging.getLogger(__name__)

__all__ = ["ConfigError", "PairsRecipeConfig", "RecipeConfig", "parse_overrides", "recorded_config"]


class ConfigError(ValueError):
    """A recipe config is malformed: unknown key, wrong type, missing or unreadable file."""


@dataclasses.dataclass
class RecipeConfig:
    """Base of every recipe config: the training options all recipes share.

    String values starting with ``~`` or holding ``${VAR}`` are expanded (``~/.cache/sbert-med/models/minilm``).
    Subclasses add their own fields and set the class variable ``recipe`` (the value of the ``recipe:`` key in a
    config file, e.g. ``"medembed"``). Load with :meth:`from_yaml` (YAML or JSON) or :meth:`from_dict`; every value
    is checked against the field's type annotation, so ``epochs: three`` fails with the key's name.

    Args:
        output_dir: Where checkpoints (``checkpoints/``) and the final model (``model/``) go.
        seed: Seed for data splits, sampling and training.
        epochs: Training epochs.
        max_steps: If > 0, stop after this many optimizer steps (overrides ``epochs``).
        batch_size: Per-device training batch size.
        learning_rate: Peak learning rate.
        warmup_ratio: Fraction of steps used for linear warm-up.
        weight_decay: AdamW weight decay.
        save_steps: Save a checkpoint every this many steps (checkpoints make ``--resume`` possible).
        save_total_limit: Keep at most this many checkpoints.
        eval_steps: Evaluate on the dev set every this many steps (0: only at the end of each epoch).
        logging_steps: Log the loss every this many steps.
        bf16: Train in bfloat16 mixed precision (GPU).
        fp16: Train in float16 mixed precision (GPU).
        gradient_checkpointing: Trade compute for memory in the transformer towers.
        deepspeed: Path of a DeepSpeed JSON config, passed through to the trainer.
        gather_across_devices: Share in-batch negatives across devices in multi-GPU training.
        use_cpu: Force training on CPU even when a GPU is present.
        dataloader_num_workers: Workers of the training data loader.
        resume: Continue from the last checkpoint in ``output_dir/checkpoints`` (``sbert-med train --resume``);
            refused when ``output_dir`` holds a run of another config.
        overwrite: Replace a run of another config in ``output_dir`` (``sbert-med train --overwrite``); without
            it, reusing a run folder for another config is an error (see :class:`sbert_med.training.RunFolder`).
        show_progress_bar: Show progress bars while encoding, mining and training.

    Values are checked at construction (``epochs: 0``, ``batch_size: -4`` fail before any model loads); subclasses
    list their own counts in ``positive_fields`` (must be >= 1) and ``non_negative_fields`` (0 = off / all).
    """

    recipe: ClassVar[str] = ""
    #: fields naming input files or folders; :meth:`check_inputs` insists they exist before any model is loaded
    input_fields: ClassVar[tuple[str, ...]] = ()
    #: numeric fields that must be > 0 / >= 0 (checked in ``__post_init__``)
    positive_fields: ClassVar[tuple[str, ...]] = ("batch_size", "learning_rate", "save_steps", "logging_steps")
    non_negative_fields: ClassVar[tuple[str, ...]] = (
        "seed", "warmup_ratio", "weight_decay", "eval_steps", "save_total_limit", "dataloader_num_workers"
    )

    output_dir: str = "runs/recipe"
    seed: int = 42
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    save_steps: int = 500
    save_total_limit: int = 2
    eval_steps: int = 0
    logging_steps: int = 10
    bf16: bool = False
    fp16: bool = False
    gradient_checkpointing: bool = False
    deepspeed: str | None = None
    gather_across_devices: bool = False
    use_cpu: bool = False
    dataloader_num_workers: int = 0
    resume: bool = False
    overwrite: bool = False
    show_progress_bar: bool = True

    def __post_init__(self) -> None:
        """Reject values no run can mean (subclasses call ``super().__post_init__()`` first)."""
        for name in self.positive_fields:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value!r}")
        for name in self.non_negative_fields:
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ConfigError(f"{name} must be >= 0, got {value!r}")
        if not self.epochs > 0 and not self.max_steps > 0:
            raise ConfigError(f"epochs must be > 0 (or max_steps > 0), got epochs={self.epochs!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.resume and self.overwrite:
            raise ConfigError("resume and overwrite exclude each other: resume continues a run, overwrite replaces it")

    # ------------------------------------------------------------------ loading
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> RecipeConfig:
        """Build a config from a mapping, checking every key and value type.

        ``recipe`` may be present (it must then name this recipe). Raises :class:`ConfigError` naming the key and
        ``source`` (usually the file) for unknown keys and wrong types.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a recipe config must be a mapping of key: value, got {type(data).__name__}")
        data = dict(data)
        recipe = data.pop("recipe", None)
        if recipe is not None and cls.recipe and recipe != cls.recipe:
            raise ConfigError(f"{source}: recipe must be {cls.recipe!r} for {cls.__name__}, got {recipe!r}")
        hints = typing.get_type_hints(cls)
        valid = cls.field_names()
        values = {}
        for key, value in data.items():
            if key not in valid:
                close = [name for name in valid if name.startswith(str(key)[:4])]
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{source}: unknown key {key!r}{hint}; valid keys: {', '.join(sorted(valid))}")
            if isinstance(value, str) and (value.startswith("~") or "${" in value):
                value = os.path.expanduser(os.path.expandvars(value))
            values[key] = _check_type(value, hints[key], key=key, source=source)
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RecipeConfig:
        """Load a YAML or JSON config file, then apply ``key=value`` overrides (values parsed as YAML)."""
        data = read_config_file(path)
        data.update(parse_overrides(overrides))
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict, with its ``recipe`` name first."""
        return {"recipe": self.recipe, **dataclasses.asdict(self)}

    def save_yaml(self, path: str | Path) -> None:
        """Write the config so the run can be repeated with ``sbert-med train PATH``."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def check_inputs(self) -> None:
        """Raise :class:`ConfigError` naming the key and the path of every input file that does not exist.

        Runs before a recipe loads a model, so a typo in a data path fails in a second rather than after minutes.
        Empty values are left to the recipe (some inputs are optional).
        """
        missing = []
        for key in self.input_fields:
            value = getattr(self, key)
            for path in value if isinstance(value, list) else [value]:
                if path and not Path(path).exists():
                    missing.append(f"{key}: {path}")
        if missing:
            raise ConfigError("input file(s) not found: " + "; ".join(missing))

    # ------------------------------------------------------------------ paths
    @property
    def checkpoint_dir(self) -> str:
        return str(Path(self.output_dir) / "checkpoints")

    @property
    def model_dir(self) -> str:
        return str(Path(self.output_dir) / "model")

    def eval_schedule(self, evaluator: Any) -> dict[str, Any]:
        """Training-argument overrides that run ``evaluator`` every ``eval_steps`` steps (or once an epoch when
        ``eval_steps`` is 0); none without an evaluator."""
        if evaluator is None:
            return {}
        if self.eval_steps > 0:
            return {"eval_strategy": "steps", "eval_steps": self.eval_steps}
        return {"eval_strategy": "epoch"}

    def training_arguments(self, *, output_dir: str | None = None, **overrides: Any):
        """``SentenceTransformerTrainingArguments`` from the shared fields; ``overrides`` win."""
        from sentence_transformers import SentenceTransformerTrainingArguments

        kwargs: dict[str, Any] = dict(
            output_dir=output_dir or self.checkpoint_dir,
            num_train_epochs=self.epochs,
            max_steps=self.max_steps,
            per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            # a float warmup_steps in (0, 1) is a ratio for sentence-transformers >= 6.0 on transformers 4 and 5
            # (its training arguments convert it); warmup_ratio itself is deprecated in transformers 5
            warmup_steps=self.warmup_ratio or 0,
            weight_decay=self.weight_decay,
            save_strategy="steps",
            save_steps=self.save_steps,
            save_total_limit=self.save_total_limit,
            logging_steps=self.logging_steps,
            bf16=self.bf16,
            fp16=self.fp16,
            deepspeed=self.deepspeed,
            use_cpu=self.use_cpu,
            dataloader_num_workers=self.dataloader_num_workers,
            seed=self.seed,
            data_seed=self.seed,
            report_to="none",
            disable_tqdm=not self.show_progress_bar,
        )
        if self.gradient_checkpointing:
            kwargs["gradient_checkpointing"] = True
        kwargs.update(overrides)
        return SentenceTransformerTrainingArguments(**kwargs)


@dataclasses.dataclass
class PairsRecipeConfig(RecipeConfig):
    """Base of the recipes trained on retrieval pairs (MedEmbed, MAR): where the pairs come from and how hard
    negatives mined for them are filtered.

    Args:
        train_data: Pairs or triplets: ``.jsonl`` (``{query, pos, neg}``), ``.tsv``/``.csv`` or a BEIR folder
            (see :func:`~sbert_med.data.pairs.load_training_pairs`).
        train_split: qrels split when ``train_data`` is a BEIR folder.
        max_train_examples: If > 0, a seeded sample of this many training examples.
        num_negatives: Explicit negatives per example to read from ``train_data`` (``neg`` / ``negative*``).
        mine_range_min: Ranks skipped before taking mined negatives (ours).
        mine_margin: Relative margin below the positive's score a mined negative must keep (``None``: off; the
            miner's default 0.05, ours).
    """

    input_fields: ClassVar[tuple[str, ...]] = ("train_data",)
    non_negative_fields: ClassVar[tuple[str, ...]] = (
        *RecipeConfig.non_negative_fields, "max_train_examples", "num_negatives", "mine_range_min"
    )

    train_data: str = ""
    train_split: str = "train"
    max_train_examples: int = 0
    num_negatives: int = 0
    mine_range_min: int = 10
    mine_margin: float | None = 0.05

    def load_train_pairs(self):
        """The training rows: ``anchor``, ``positive`` and the ``negative_i`` columns ``train_data`` supplies
        (``num_negatives``), a seeded sample of ``max_train_examples`` when that is > 0."""
        from sbert_med.data.pairs import load_training_pairs

        if not self.train_data:
            raise ConfigError("train_data is required (a .jsonl / .tsv / .csv file or a BEIR folder)")
        return load_training_pairs(
            self.train_data,
            split=self.train_split,
            num_negatives=self.num_negatives,
            max_examples=self.max_train_examples,
            seed=self.seed,
        )


def recorded_config(config: RecipeConfig, **provenance: Any) -> dict[str, Any]:
    """The config as recorded with the saved model (card data): its keys plus what the run resolved, e.g.
    ``training_max_seq_length`` and ``inference_max_seq_length``."""
    return {**config.to_dict(), **provenance}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or JSON config file into a dict; errors name the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe config must be a mapping of key: value, got {type(data).__name__}")
    return data


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``["key=value", ...]`` (as given to ``--set``); values are YAML (``3``, ``2e-5``, ``[a, b]``)."""
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            parsed[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"--set {key}: cannot parse value {raw!r} as YAML: {problem}") from exc
    return parsed


def _check_type(value: Any, annotation: Any, *, key: str, source: str) -> Any:
    """Check (and lightly coerce: int -> float) ``value`` against a type annotation, or raise ConfigError."""

    def fail(expected: str) -> typing.NoReturn:
        raise ConfigError(f"{source}: key {key!r} must be {expected}, got {value!r} ({type(value).__name__})")

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, key=key, source=source)
            except ConfigError as exc:
                errors.append(exc)
        fail(" or ".join(_type_name(a) for a in args))
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{source}: key {key!r} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            fail(_type_name(annotation))
        item_type = args[0] if args else Any
        return [_check_type(v, item_type, key=f"{key}[{i}]", source=source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            fail(_type_name(annotation))
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): _check_type(v, value_type, key=f"{key}.{k}", source=source) for k, v in value.items()}
    if annotation is bool:
        if not isinstance(value, bool):
            fail("true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads 2e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                fail("a number")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("a number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            fail("a string")
        return value
    return value


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return f"one of {list(typing.get_args(annotation))}"
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )
