"""Several models side by side on a suite of tasks, with encoding speed, in one run (behind ``sbert-med eval``)."""

from __future__ import annotations

import gc
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sbert_med.data.beir import BeirData, load_beir
from sbert_med.evaluation.efficiency import flatten_efficiency, measure_efficiency
from sbert_med.evaluation.mteb_tasks import mteb_tasks_by_name
from sbert_med.evaluation.report import EFFICIENCY_TASK, Results, write_report, write_results_json
from sbert_med.evaluation.retrieval import evaluate_retrieval, run_mteb
from sbert_med.evaluation.sts import STSData, evaluate_sts, load_sts_tsv
from sbert_med.evaluation.task_spec import TaskSpec

logger = logging.getLogger(__name__)

BM25 = "bm25"


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


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", text)


def _load_model(spec: Any, *, max_seq_length: int | None, device: str | None):
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


def evaluate_models(
    models: Sequence[str] | Mapping[str, Any],
    tasks: Sequence[str | TaskSpec],
    *,
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    max_seq_length: int | None = None,
    batch_size: int = 32,
    truncate_dims: Sequence[int] = (),
    efficiency: bool = True,
    efficiency_queries: int = 128,
    efficiency_documents: int = 32,
    efficiency_single: int = 20,
    max_queries: int | None = None,
    max_corpus: int | None = None,
    seed: int = 0,
    device: str | None = None,
    overwrite: bool = False,
    note: str = "",
    show_progress_bar: bool = True,
) -> Results:
    """Evaluate every model on every task and measure each model's query and document speed, in one run.

    Writes into ``out_dir``: ``results.json`` (``{model: {task: {metric: value}}}``: ``ndcg_at_10`` & co. for
    retrieval, ``spearman`` for STS, ``task@dim`` entries for the Matryoshka sweep, an ``efficiency`` entry with
    ``query_batched_per_s``, ``query_b1_p50_ms``, ``document_batched_per_s``, ...), ``results.md``,
    ``quality_vs_speed.png``, ``matryoshka.png``, ``settings.json`` and an embedding cache (``cache/``). Results are
    written after every (model, task); a rerun skips what is there (``overwrite=False``) and reuses cached
    embeddings, so an interrupted run resumes.

    Args:
        models: ``"bm25"``, paths or Hub ids, ``"NAME=PATH"`` items, or a {name: path or SentenceTransformer}.
        tasks: Task names (:meth:`TaskSpec.parse`: ``NAME[:SPLIT[:CORPUS_FILE]]``; a folder under ``data_dir``,
            else an MTEB task or benchmark name) or :class:`TaskSpec` objects.
        out_dir: Output folder.
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
        overwrite: Recompute entries already in ``out_dir/results.json``.
        note: A line printed on the plots (e.g. the subsets used).
        show_progress_bar: Show progress bars.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_specs = parse_models(models)
    specs = [task if isinstance(task, TaskSpec) else TaskSpec.parse(task) for task in tasks]
    if not specs:
        raise ValueError("no tasks given")
    keys = [spec.key for spec in specs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"task names must be unique (use TaskSpec.label), got {keys}")

    # Load and validate all local data before any model runs, so a bad file fails fast.
    local: dict[str, BeirData | STSData] = {}
    mteb_specs: list[TaskSpec] = []
    for spec in specs:
        kind = spec.kind(data_dir)
        if kind == "beir":
            data = load_beir(spec.folder(data_dir), spec.split, corpus_file=spec.corpus_file)
            n_queries = spec.max_queries if spec.max_queries is not None else max_queries
            n_corpus = spec.max_corpus if spec.max_corpus is not None else max_corpus
            if n_queries is not None or n_corpus is not None:
                data = data.subset(max_queries=n_queries, max_corpus=n_corpus, seed=seed)
                logger.info("%s: subset %r", spec.key, data)
            data.name = spec.key
            local[spec.key] = data
        elif kind == "sts":
            local[spec.key] = load_sts_tsv(spec.sts_file(data_dir))
        else:
            mteb_specs.append(spec)
    mteb_tasks = {spec.key: mteb_tasks_by_name(spec.name) for spec in mteb_specs}  # fails fast when offline

    results_path = out_dir / "results.json"
    results: Results = {}
    if results_path.exists() and not overwrite:
        results = json.loads(results_path.read_text())
    settings_path = out_dir / "settings.json"
    settings = json.loads(settings_path.read_text()) if settings_path.exists() and not overwrite else {}
    settings.update(
        tasks={spec.key: {"name": spec.name, "split": spec.split, "corpus_file": spec.corpus_file,
                          **({"queries": len(d.queries), "corpus": len(d.corpus)} if isinstance(d, BeirData)
                             else {"pairs": len(d)} if isinstance(d, STSData) else {})}
               for spec in specs for d in [local.get(spec.key)]},
        max_seq_length=max_seq_length, batch_size=batch_size, seed=seed, truncate_dims=list(truncate_dims),
    )
    settings.setdefault("models", {})

    beir_tasks = [d for d in local.values() if isinstance(d, BeirData)]
    speed_queries = speed_documents = None
    if beir_tasks:
        first = beir_tasks[0]
        speed_queries = list(first.queries.values())[:efficiency_queries]
        speed_documents = list(first.corpus.values())[:efficiency_documents]
    else:
        sts = [d for d in local.values() if isinstance(d, STSData)]
        if sts:
            speed_queries = sts[0].sentences1[:efficiency_queries]
            speed_documents = sts[0].sentences2[:efficiency_documents]

    def save(*, report: bool = False) -> None:
        """Results and settings after every (model, task), so a crash loses nothing; tables and plots at the end."""
        settings_path.write_text(json.dumps(settings, indent=2) + "\n")
        if report:
            write_report(results, out_dir, note=note,
                         full_dims={m: info.get("embedding_dim") for m, info in settings["models"].items()})
        else:
            write_results_json(results, results_path)

    for name, spec in model_specs.items():
        model_results = results.setdefault(name, {})
        todo = [s for s in specs if s.key not in model_results]
        want_speed = efficiency and speed_queries and EFFICIENCY_TASK not in model_results
        if not todo and not want_speed:
            logger.info("%s: all results present in %s, skipping", name, results_path)
            continue
        logger.info("Evaluating %s on %s", name, [s.key for s in todo])
        model = _load_model(spec, max_seq_length=max_seq_length, device=device)
        info = {"path": spec if isinstance(spec, str) else type(spec).__name__}
        if model != BM25:
            info.update(embedding_dim=_embedding_dim(model), prompts=dict(model.prompts or {}),
                        max_seq_length=model.max_seq_length)
        settings["models"][name] = info
        cache_dir = out_dir / "cache" / _slug(name) / f"seq{max_seq_length or 'default'}"
        full_dim = info.get("embedding_dim")
        dims = [d for d in truncate_dims if full_dim and d < full_dim]

        for task_spec in todo:
            data = local.get(task_spec.key)
            if isinstance(data, BeirData):
                scores = evaluate_retrieval(
                    model, data, truncate_dims=[None, *dims] if model != BM25 else [None], cache_dir=cache_dir
                    if model != BM25 else None, batch_size=batch_size, show_progress_bar=show_progress_bar,
                )
                model_results[task_spec.key] = scores.pop(None)
                for dim, dim_scores in scores.items():
                    model_results[f"{task_spec.key}@{dim}"] = dim_scores
            elif isinstance(data, STSData):
                if model == BM25:
                    logger.info("bm25 has no embeddings: skipping STS task %s", task_spec.key)
                    continue
                model_results[task_spec.key] = evaluate_sts(model, data, batch_size=batch_size,
                                                            show_progress_bar=show_progress_bar)
            else:
                model_results.update(_run_mteb_tasks(model, mteb_tasks[task_spec.key], batch_size=batch_size,
                                                      show_progress_bar=show_progress_bar))
            logger.info("%s / %s: %s", name, task_spec.key, model_results.get(task_spec.key))
            save()

        if want_speed:
            speed = measure_efficiency(model, queries=speed_queries, documents=speed_documents,
                                       batch_size=batch_size, n_single=efficiency_single,
                                       show_progress_bar=show_progress_bar)
            model_results[EFFICIENCY_TASK] = flatten_efficiency(speed)
            logger.info("%s speed: %s", name, model_results[EFFICIENCY_TASK])
            save()
        del model
        gc.collect()
    save(report=True)
    return results


def _run_mteb_tasks(model: Any, tasks: list, *, batch_size: int, show_progress_bar: bool) -> Results:
    """MTEB's own tasks; the headline metric is also stored as ``ndcg_at_10`` / ``spearman`` where it is one."""
    from sbert_med.evaluation.cached_encoder import CachedSentenceTransformerEncoder
    from sbert_med.evaluation.retrieval import bm25_model

    encoder = bm25_model() if model == BM25 else CachedSentenceTransformerEncoder(model)
    scores = run_mteb(encoder, tasks, batch_size=batch_size, show_progress_bar=show_progress_bar)
    out = {}
    for task_name, task_scores in scores.items():
        picked = {k: float(v) for k, v in task_scores.items() if isinstance(v, int | float)}
        if "cosine_spearman" in picked:
            picked["spearman"] = picked["cosine_spearman"]
        out[task_name] = picked
    return out
