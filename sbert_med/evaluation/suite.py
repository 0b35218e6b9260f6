"""Several models side by side on a suite of tasks, with encoding speed, in one run (behind ``sbert-med eval``).

Every result in ``out_dir/results.json`` is recorded in ``out_dir/provenance.json`` with the key of what produced
it: the model's fingerprint (weights + configuration, :func:`sbert_med.encoding.model_fingerprint`), the data's
fingerprint (the files' hashes) and the settings that change the number. A rerun reuses a result only when its key
is the same, so another model saved under the same name, or an edited qrels file, is evaluated again instead of
being reported with a stale number.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sbert_med.data.beir import BeirData, load_beir
from sbert_med.encoding import files_fingerprint, model_fingerprint, settings_fingerprint
from sbert_med.evaluation.efficiency import flatten_efficiency, measure_efficiency
from sbert_med.evaluation.mteb_tasks import mteb_tasks_by_name
from sbert_med.evaluation.report import EFFICIENCY_TASK, Results, write_report, write_results_json
from sbert_med.evaluation.retrieval import evaluate_retrieval, run_mteb
from sbert_med.evaluation.sts import STSData, evaluate_sts, load_sts_tsv
from sbert_med.evaluation.task_spec import TaskSpec

logger = logging.getLogger(__name__)

BM25 = "bm25"
PROVENANCE_FILE = "provenance.json"


@dataclass
class EvalSettings:
    """How :func:`evaluate_models` runs (every default is ours unless stated).

    Args:
        data_dir: Folder of local task folders (BEIR or STS).
        max_seq_length: Cap every Transformer's max_seq_length (longer texts are truncated: state it).
        batch_size: Encoding batch size (also the batched-speed batch size).
        truncate_dims: Matryoshka sweep sizes for retrieval tasks (sizes >= a model's own are skipped).
        efficiency: Measure the speed of the query and document routes.
        efficiency_queries / efficiency_documents: How many queries / documents of the first retrieval task are
            encoded batched for the speed measurement; ``efficiency_single`` of each are also encoded one by one.
        max_queries / max_corpus: Subset every BEIR task (a TaskSpec's own limits win); see :meth:`BeirData.subset`.
        seed: Seed of the subsets.
        device: Device of the models.
        overwrite: Recompute every entry, even those whose provenance matches.
        note: A line printed on the plots (e.g. the subsets used).
        show_progress_bar: Show progress bars.
    """

    data_dir: str | Path | None = None
    max_seq_length: int | None = None
    batch_size: int = 32
    truncate_dims: Sequence[int] = ()
    efficiency: bool = True
    efficiency_queries: int = 128
    efficiency_documents: int = 32
    efficiency_single: int = 20
    max_queries: int | None = None
    max_corpus: int | None = None
    seed: int = 0
    device: str | None = None
    overwrite: bool = False
    note: str = ""
    show_progress_bar: bool = True
    truncate_dims_list: list[int] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        for name in ("batch_size", "efficiency_queries", "efficiency_documents", "efficiency_single"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("max_seq_length", "max_queries", "max_corpus"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        bad = [d for d in self.truncate_dims if not isinstance(d, int) or d < 1]
        if bad:
            raise ValueError(f"truncate_dims must be positive integers, got {list(self.truncate_dims)}")
        self.truncate_dims_list = list(self.truncate_dims)
        if self.data_dir is not None and not Path(self.data_dir).is_dir():
            raise FileNotFoundError(f"data dir not found: {self.data_dir} (--data-dir must be an existing folder)")

    def to_dict(self) -> dict[str, Any]:
        """The settings that shape the numbers (what ``settings.json`` records)."""
        return {"max_seq_length": self.max_seq_length, "batch_size": self.batch_size, "seed": self.seed,
                "truncate_dims": self.truncate_dims_list}


@dataclass
class LoadedTask:
    """A task of the suite, its data (``None`` for an MTEB task) and the fingerprint of what it was read from."""

    spec: TaskSpec
    data: BeirData | STSData | None
    fingerprint: str
    mteb_tasks: list | None = None

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.spec.name, "split": self.spec.split,
                                "corpus_file": self.spec.corpus_file, "data_fingerprint": self.fingerprint}
        if isinstance(self.data, BeirData):
            info.update(queries=len(self.data.queries), corpus=len(self.data.corpus))
        elif isinstance(self.data, STSData):
            info.update(pairs=len(self.data))
        return info


def parse_models(models: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``["bm25", "NAME=PATH", "PATH_OR_HUB_ID"]`` (or a {name: path or model} mapping) -> {name: path or model}."""
    if isinstance(models, Mapping):
        return dict(models)
    parsed: dict[str, Any] = {}
    for item in models:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item.rstrip("/")).name or item, item
        if not name or not path:
            raise ValueError(f"a model is NAME=PATH, a path, a Hub id or 'bm25', got {item!r}")
        if name in parsed:
            raise ValueError(f"model name {name!r} given twice; name them with NAME=PATH")
        parsed[name] = path
    if not parsed:
        raise ValueError("no models given")
    return parsed


# ---- tasks -----------------------------------------------------------------------------------------------------
def _beir_files(spec: TaskSpec, folder: Path) -> list[Path]:
    return [folder / (spec.corpus_file or "corpus.jsonl"), folder / "queries.jsonl",
            folder / "qrels" / f"{spec.split}.tsv"]


def load_task(spec: TaskSpec, settings: EvalSettings) -> LoadedTask:
    """Read and validate one task (a bad file fails here, before any model runs) and fingerprint its files."""
    kind = spec.kind(settings.data_dir)
    if kind == "beir":
        folder = spec.folder(settings.data_dir)
        data = load_beir(folder, spec.split, corpus_file=spec.corpus_file)
        if not data.queries:
            raise ValueError(f"{folder / 'qrels' / (spec.split + '.tsv')}: no query has a relevant document "
                             "(every score is <= 0), so there is nothing to evaluate")
        n_queries = spec.max_queries if spec.max_queries is not None else settings.max_queries
        n_corpus = spec.max_corpus if spec.max_corpus is not None else settings.max_corpus
        if n_queries is not None or n_corpus is not None:
            data = data.subset(max_queries=n_queries, max_corpus=n_corpus, seed=settings.seed)
            logger.info("%s: subset %r", spec.key, data)
        data.name = spec.key
        fingerprint = settings_fingerprint({"files": files_fingerprint(_beir_files(spec, folder)),
                                            "max_queries": n_queries, "max_corpus": n_corpus,
                                            "seed": settings.seed if n_queries or n_corpus else None})
        return LoadedTask(spec, data, fingerprint)
    if kind == "sts":
        path = spec.sts_file(settings.data_dir)
        return LoadedTask(spec, load_sts_tsv(path), files_fingerprint(path))
    import mteb

    tasks = mteb_tasks_by_name(spec.name)  # fails fast when offline
    return LoadedTask(spec, None, settings_fingerprint({"mteb": spec.name, "version": mteb.__version__}), tasks)


def load_tasks(tasks: Sequence[str | TaskSpec], settings: EvalSettings) -> list[LoadedTask]:
    specs = [task if isinstance(task, TaskSpec) else TaskSpec.parse(task) for task in tasks]
    if not specs:
        raise ValueError("no tasks given")
    keys = [spec.key for spec in specs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"task names must be unique (use TaskSpec.label), got {keys}")
    return [load_task(spec, settings) for spec in specs]


def speed_texts(tasks: list[LoadedTask], settings: EvalSettings) -> tuple[list[str], list[str]] | None:
    """Queries and documents of the first retrieval task (else the first STS task) for the speed measurement."""
    beir = [t.data for t in tasks if isinstance(t.data, BeirData)]
    if beir:
        return (list(beir[0].queries.values())[: settings.efficiency_queries],
                list(beir[0].corpus.values())[: settings.efficiency_documents])
    sts = [t.data for t in tasks if isinstance(t.data, STSData)]
    if sts:
        return sts[0].sentences1[: settings.efficiency_queries], sts[0].sentences2[: settings.efficiency_documents]
    return None


# ---- models ----------------------------------------------------------------------------------------------------
def load_model(spec: Any, *, max_seq_length: int | None, device: str | None):
    if spec == BM25:
        return BM25
    if isinstance(spec, str):
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(spec, device=device)
    else:
        model = spec
    if max_seq_length is not None:
        from sentence_transformers.base.modules import Transformer

        for module in model.modules():
            if isinstance(module, Transformer) and (module.max_seq_length or 10**9) > max_seq_length:
                module.max_seq_length = max_seq_length
    return model


def _embedding_dim(model: Any) -> int | None:
    getter = getattr(model, "get_embedding_dimension", None) or getattr(model, "get_sentence_embedding_dimension")
    dim = getter()
    return getattr(model, "truncate_dim", None) or dim


def _fingerprint(model: Any) -> str:
    if model == BM25:
        import mteb

        return settings_fingerprint({"bm25": "mteb bm25s", "version": mteb.__version__})
    return model_fingerprint(model)


def _model_info(spec: Any, model: Any, fingerprint: str) -> dict[str, Any]:
    info: dict[str, Any] = {"path": spec if isinstance(spec, str) else type(spec).__name__,
                            "fingerprint": fingerprint}
    if model != BM25:
        info.update(embedding_dim=_embedding_dim(model), prompts=dict(model.prompts or {}),
                    max_seq_length=model.max_seq_length)
    return info


# ---- one run ---------------------------------------------------------------------------------------------------
class SuiteRun:
    """The output folder of a suite: results, their provenance and the settings, saved after every entry."""

    def __init__(self, out_dir: Path, settings: EvalSettings, tasks: list[LoadedTask]) -> None:
        self.out_dir = out_dir
        self.settings = settings
        self.results_path = out_dir / "results.json"
        self.settings_path = out_dir / "settings.json"
        self.provenance_path = out_dir / PROVENANCE_FILE
        self.results: Results = self._read(self.results_path)
        self.provenance: dict[str, dict[str, str]] = self._read(self.provenance_path)
        self.run_settings: dict[str, Any] = self._read(self.settings_path)
        self.run_settings.update(tasks={t.spec.key: t.describe() for t in tasks}, **settings.to_dict())
        self.run_settings.setdefault("models", {})
        self.notes: list[str] = []

    def _read(self, path: Path) -> dict:
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg}); delete it "
                             "or choose another --out folder") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return data

    def entry_key(self, fingerprint: str, task: LoadedTask | None, **extra: Any) -> str:
        """The key of what produced one entry: model fingerprint, data fingerprint, settings that change it."""
        return settings_fingerprint({"model": fingerprint, "data": task.fingerprint if task else None,
                                     "max_seq_length": self.settings.max_seq_length, **extra})

    def is_current(self, model_name: str, entry: str, key: str) -> bool:
        if self.settings.overwrite or entry not in self.results.get(model_name, {}):
            return False
        stored = self.provenance.get(model_name, {}).get(entry)
        if stored != key:
            logger.info("%s / %s: the stored result was produced by %s; recomputing", model_name, entry,
                        "another model, data or settings" if stored else "an unknown run (no provenance)")
            return False
        return True

    def record(self, model_name: str, entries: dict[str, dict[str, Any]], keys: dict[str, str]) -> None:
        self.results.setdefault(model_name, {}).update(entries)
        self.provenance.setdefault(model_name, {}).update(keys)
        self.save()

    def forget(self, model_name: str, entries: Sequence[str]) -> None:
        for entry in entries:
            self.results.get(model_name, {}).pop(entry, None)
            self.provenance.get(model_name, {}).pop(entry, None)

    def save(self, *, report: bool = False) -> None:
        """Results, provenance and settings after every entry, so a crash loses nothing; tables/plots at the end."""
        notes = write_results_json(self.results, self.results_path)
        self.run_settings["notes"] = notes
        _write_json(self.provenance_path, self.provenance)
        _write_json(self.settings_path, self.run_settings)
        if report:
            write_report(self.results, self.out_dir, note=self.settings.note,
                         full_dims={m: info.get("embedding_dim") for m, info in self.run_settings["models"].items()})


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _task_entries(model: Any, task: LoadedTask, dims: list[int], settings: EvalSettings,
                  cache_dir: Path, fingerprint: str) -> dict[str, dict[str, Any]]:
    """The results entries of one model on one task (``task`` and ``task@dim`` for a Matryoshka sweep)."""
    key = task.spec.key
    if isinstance(task.data, BeirData):
        scores = evaluate_retrieval(
            model, task.data, truncate_dims=[None, *dims] if model != BM25 else [None],
            cache_dir=cache_dir if model != BM25 else None, batch_size=settings.batch_size,
            show_progress_bar=settings.show_progress_bar,
        )
        return {key if dim is None else f"{key}@{dim}": dim_scores for dim, dim_scores in scores.items()}
    if isinstance(task.data, STSData):
        if model == BM25:
            logger.info("bm25 has no embeddings: skipping STS task %s", key)
            return {}
        return {key: evaluate_sts(model, task.data, batch_size=settings.batch_size,
                                  show_progress_bar=settings.show_progress_bar)}
    return _run_mteb_tasks(model, task.mteb_tasks, batch_size=settings.batch_size,
                           show_progress_bar=settings.show_progress_bar, cache_dir=cache_dir, fingerprint=fingerprint)


def _evaluate_model(run: SuiteRun, name: str, spec: Any, tasks: list[LoadedTask],
                    speed: tuple[list[str], list[str]] | None) -> None:
    settings = run.settings
    model = load_model(spec, max_seq_length=settings.max_seq_length, device=settings.device)
    fingerprint = _fingerprint(model)
    info = _model_info(spec, model, fingerprint)
    run.run_settings["models"][name] = info
    full_dim = info.get("embedding_dim")
    dims = [d for d in settings.truncate_dims_list if full_dim and d < full_dim and model != BM25]
    cache_dir = run.out_dir / "cache"

    for task in tasks:
        if task.data is None:  # MTEB task or benchmark: its entries are MTEB's task names
            marker, key = f"mteb:{task.spec.key}", run.entry_key(fingerprint, task)
            if not settings.overwrite and run.provenance.get(name, {}).get(marker) == key:
                logger.info("%s / %s: results present and current, skipping", name, task.spec.key)
                continue
            entries = _task_entries(model, task, dims, settings, cache_dir, fingerprint)
            run.record(name, entries, {**{entry: key for entry in entries}, marker: key})
            continue
        entry_keys = {task.spec.key: run.entry_key(fingerprint, task)}
        entry_keys.update({f"{task.spec.key}@{d}": run.entry_key(fingerprint, task, truncate_dim=d) for d in dims})
        if model == BM25 and isinstance(task.data, STSData):
            continue
        if all(run.is_current(name, entry, key) for entry, key in entry_keys.items()):
            logger.info("%s / %s: result present and current, skipping", name, task.spec.key)
            continue
        run.forget(name, [e for e in run.results.get(name, {}) if e == task.spec.key
                          or e.startswith(task.spec.key + "@")])
        entries = _task_entries(model, task, dims, settings, cache_dir, fingerprint)
        logger.info("%s / %s: %s", name, task.spec.key, entries.get(task.spec.key))
        run.record(name, entries, {entry: entry_keys[entry] for entry in entries})

    if settings.efficiency and speed:
        key = run.entry_key(fingerprint, None, speed=settings_fingerprint(speed), batch_size=settings.batch_size,
                            n_single=settings.efficiency_single)
        if not run.is_current(name, EFFICIENCY_TASK, key):
            result = measure_efficiency(model, queries=speed[0], documents=speed[1], batch_size=settings.batch_size,
                                        n_single=settings.efficiency_single,
                                        show_progress_bar=settings.show_progress_bar)
            run.record(name, {EFFICIENCY_TASK: flatten_efficiency(result)}, {EFFICIENCY_TASK: key})
            logger.info("%s speed: %s", name, run.results[name][EFFICIENCY_TASK])
    del model
    gc.collect()


def evaluate_models(
    models: Sequence[str] | Mapping[str, Any],
    tasks: Sequence[str | TaskSpec],
    *,
    out_dir: str | Path,
    settings: EvalSettings | None = None,
    **options: Any,
) -> Results:
    """Evaluate every model on every task and measure each model's query and document speed, in one run.

    Writes into ``out_dir``: ``results.json`` (``{model: {task: {metric: value}}}``: ``ndcg@10`` & co. for
    retrieval, ``spearman`` for STS, ``task@dim`` entries for the Matryoshka sweep, an ``efficiency`` entry with
    ``query_batched_per_s``, ``query_b1_p50_ms``, ``document_batched_per_s``, ...; an undefined value such as a NaN
    correlation is ``null``, with a note in ``settings.json``), ``provenance.json`` (the key of what produced each
    entry), ``results.md``, ``quality_vs_speed.png``, ``matryoshka.png``, ``settings.json`` and an embedding cache
    (``cache/``). Results are written after every (model, task); a rerun reuses an entry only when the model, the
    data and the settings that produced it are the same, and reuses cached embeddings, so an interrupted run
    resumes and a changed model or data file is evaluated again.

    Args:
        models: ``"bm25"``, paths or Hub ids, ``"NAME=PATH"`` items, or a {name: path or SentenceTransformer}.
        tasks: Task names (:meth:`TaskSpec.parse`: ``NAME[:SPLIT[:CORPUS_FILE]]``; a folder under ``data_dir``,
            else an MTEB task or benchmark name) or :class:`TaskSpec` objects.
        out_dir: Output folder.
        settings: An :class:`EvalSettings`; or give its fields as keyword arguments (``data_dir=...``, ...).
    """
    if settings is None:
        valid = [f.name for f in dataclasses.fields(EvalSettings) if f.init]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"unknown evaluate_models options {unknown}; valid options are {valid}")
        settings = EvalSettings(**options)
    elif options:
        raise ValueError(f"pass either settings or keyword options, not both (got {sorted(options)})")
    model_specs = parse_models(models)
    loaded = load_tasks(tasks, settings)  # all local data is validated before any model runs
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; choose a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    run = SuiteRun(out_dir, settings, loaded)
    speed = speed_texts(loaded, settings)
    for name, spec in model_specs.items():
        _evaluate_model(run, name, spec, loaded, speed)
    run.save(report=True)
    return run.results


def _run_mteb_tasks(model: Any, tasks: list, *, batch_size: int, show_progress_bar: bool,
                    cache_dir: Path | None = None, fingerprint: str | None = None) -> Results:
    """MTEB's own tasks, with MTEB's metric names as sbert_med keys (``ndcg_at_10`` -> ``ndcg@10``); the STS
    headline is also stored as ``spearman``."""
    from sbert_med.evaluation.cached_encoder import CachedSentenceTransformerEncoder
    from sbert_med.evaluation.report import metric_key
    from sbert_med.evaluation.retrieval import bm25_model

    encoder = bm25_model() if model == BM25 else CachedSentenceTransformerEncoder(
        model, cache_dir=cache_dir, fingerprint=fingerprint)
    scores = run_mteb(encoder, tasks, batch_size=batch_size, show_progress_bar=show_progress_bar)
    out = {}
    for task_name, task_scores in scores.items():
        picked = {metric_key(k): float(v) for k, v in task_scores.items()
                  if isinstance(v, int | float) and not isinstance(v, bool)}
        if "cosine_spearman" in picked:
            picked["spearman"] = picked["cosine_spearman"]
        out[task_name] = picked
    return out
