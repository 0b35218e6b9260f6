"""MedEmbed from documents: one command from a document collection and a generator to a trained, evaluated model.

Steps (each journalled in ``output_dir/pipeline.json`` with its settings fingerprint and report, its output kept in
``output_dir/steps/``; a rerun skips every step whose settings and input did not change, and the generate step
resumes item by item from its LLM journal):

``documents`` (read MEDLINE XML; drop documents that are in an evaluation corpus, by id and by text) →
``scrub`` (PHI, :func:`sbert_med.data.scrub_phi`) → ``generate`` (:func:`sbert_med.data.generate_queries`) →
``filter`` (parse and score: an embedding model's cosine between each query and its document) →
``diversify`` (:func:`sbert_med.data.diversify`) → ``mine`` (:func:`sbert_med.data.mine_negatives`) →
``decontaminate`` (:func:`sbert_med.data.decontaminate` against evaluation queries and corpora, by text; and by id) →
``train`` (:func:`sbert_med.recipes.medembed.train_medembed`) → ``evaluate``.

The data card (``output_dir/data_card.json`` and ``.md``) holds the funnel (rows in and out of every step with the
drop reasons), the generator, prompt name and version, seed, and the licences of the sources.

Every call into other parts of the package is in the ``_call_*`` functions at the end of this module.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from datasets import Dataset

logger = logging.getLogger(__name__)

STEPS = ("documents", "scrub", "generate", "filter", "diversify", "mine", "decontaminate", "train", "evaluate")


class PipelineError(ValueError):
    """A user error in the pipeline's config (one line naming the key and the value)."""


# --------------------------------------------------------------------------------------------------------- config
@dataclasses.dataclass
class DocumentsConfig:
    """The document collection. ``medline``: MEDLINE/PubMed XML files or folders (``.xml``/``.xml.gz``)."""

    medline: list[str] = dataclasses.field(default_factory=list)
    max_documents: int = 1000  # ours: >= 1,000 abstracts (issue #12)
    min_abstract_words: int = 80  # ours: short abstracts give little to ask about
    prompt_words: int = 150  # ours: the prompt shows the title and the first 150 words (speed on CPU)
    licence: str = ""  # default: MEDLINE's (NLM terms and conditions)


@dataclasses.dataclass
class ScrubConfig:
    """The PHI step (:func:`sbert_med.data.scrub_phi`). ``kinds`` None: every Safe Harbor kind (the default, for
    clinical text). Published abstracts hold no patient identifiers, and there spaCy's people and places are genes,
    species and drugs: on 1,400 MEDLINE abstracts all kinds changed 822 of them (1,860 ``[NAME]``, 663
    ``[LOCATION]``: "Drosophila", "taurine"), so ``examples/medembed/synthetic.yaml`` keeps only the contact kinds.
    ``enabled: false`` skips the step (the funnel says so)."""

    enabled: bool = True
    kinds: list[str] | None = None
    method: Literal["presidio", "regex"] = "presidio"


@dataclasses.dataclass
class GeneratorConfig:
    """The LLM. ``kind``: ``transformers`` (a local model folder or Hub id) or ``openai`` (an OpenAI-compatible
    server at ``base_url``). Defaults (ours, measured with SmolLM2-135M-Instruct on 16 MEDLINE abstracts,
    ``bench/results/synthetic_decoding.json``): the ``medline_queries`` prompt (3 labelled lines after one worked
    example; without the example 1 of 8 replies held a usable query), greedy decoding and no repetition penalty
    (2.81 queries per abstract, 87% above the score filter, vs 2.31 / 65% with penalty 1.1, which also penalises
    the abstract's own words, and 1.81 / 69% sampling at T=0.7), 48 new tokens (three short lines)."""

    kind: str = "transformers"
    model: str = ""
    base_url: str = ""
    api_key_env: str | None = "OPENAI_API_KEY"
    prompt: str = "medline_queries"
    prompt_version: int | None = None
    batch_size: int = 16
    max_new_tokens: int = 48
    temperature: float = 0.0
    top_p: float = 0.95
    repetition_penalty: float = 1.0
    max_concurrency: int = 8
    licence: str = ""


@dataclasses.dataclass
class FilterConfig:
    """The parse-and-score filter. Queries with fewer than ``min_query_words`` words, copies of the title, or an
    embedding cosine with their own document below ``min_score`` (scored by ``score_model``, default: the base
    model) are dropped. ``min_score`` 0.3 is ours (all-MiniLM-L6-v2: matching query-abstract pairs score ~0.5-0.8,
    unrelated ones ~0-0.2)."""

    min_query_words: int = 2
    min_score: float = 0.3
    score_model: str = ""


@dataclasses.dataclass
class DiversifyConfig:
    """:func:`sbert_med.data.diversify` over the queries; ``threshold`` None uses its default for the ``route``."""

    enabled: bool = True
    route: str = "query"
    threshold: float | None = None


@dataclasses.dataclass
class MineConfig:
    """:func:`sbert_med.data.mine_negatives`: negatives per query from the generated documents."""

    num_negatives: int = 1
    range_min: int = 0
    relative_margin: float | None = 0.05


@dataclasses.dataclass
class EvalTask:
    """An evaluation task: ``kind`` ``beir`` (``path`` a BEIR folder, ``split``, ``corpus_file``) or ``sts``
    (``path`` a TSV with ``sentence1, sentence2, score``)."""

    name: str
    kind: str
    path: str
    split: str = "test"
    corpus_file: str | None = None


@dataclasses.dataclass
class PipelineConfig:
    output_dir: str = "runs/medembed-synthetic"
    model: str = ""
    seed: int = 42
    documents: DocumentsConfig = dataclasses.field(default_factory=DocumentsConfig)
    scrub: ScrubConfig = dataclasses.field(default_factory=ScrubConfig)
    generator: GeneratorConfig = dataclasses.field(default_factory=GeneratorConfig)
    filter: FilterConfig = dataclasses.field(default_factory=FilterConfig)
    diversify: DiversifyConfig = dataclasses.field(default_factory=DiversifyConfig)
    mine: MineConfig = dataclasses.field(default_factory=MineConfig)
    evaluation: list[EvalTask] = dataclasses.field(default_factory=list)
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    baseline: bool = False  # also train on title -> abstract pairs of the same documents (no LLM), same count
    #: tokens per text when evaluating every model (0: the base model's max_seq_length). Training length
    #: (train.passage_max_length) and inference length are separate settings (#16.10): a model trained on short
    #: passages is still evaluated, like the base, at the base's inference length.
    evaluation_max_length: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_SECTIONS = {"documents": DocumentsConfig, "scrub": ScrubConfig, "generator": GeneratorConfig, "filter": FilterConfig,
             "diversify": DiversifyConfig, "mine": MineConfig}


def _build(cls, values: Any, where: str):
    if not isinstance(values, dict):
        raise PipelineError(f"{where}: expected a mapping, got {type(values).__name__}")
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise PipelineError(f"{where}: unknown key {unknown[0]!r}; known keys: {sorted(known)}")
    return cls(**values)


def _expand(path: str, base: Path, data_dir: str | None = None) -> str:
    if data_dir is not None:
        path = path.replace("${DATA_DIR}", str(data_dir))
    expanded = Path(os.path.expanduser(os.path.expandvars(path)))
    return str(expanded if expanded.is_absolute() or not (base / expanded).exists() else base / expanded)


def load_pipeline_config(path: str | os.PathLike, *, data_dir: str | None = None) -> PipelineConfig:
    """Read a pipeline YAML; ``${DATA_DIR}`` in paths is replaced by ``data_dir`` (or the ``DATA_DIR`` variable)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"no such config file: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise PipelineError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: expected a mapping at the top level")
    raw.pop("recipe", None)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECTIONS:
            values[key] = _build(_SECTIONS[key], value or {}, f"{path}: {key}")
        elif key == "evaluation":
            if not isinstance(value, list):
                raise PipelineError(f"{path}: evaluation: expected a list of tasks")
            values[key] = [_build(EvalTask, task, f"{path}: evaluation[{i}]") for i, task in enumerate(value)]
        else:
            values[key] = value
    try:
        config = _build(PipelineConfig, values, str(path))
    except TypeError as exc:
        raise PipelineError(f"{path}: {exc}") from None
    base = path.parent
    config.model = _expand(config.model, base) if config.model else config.model
    config.documents.medline = [_expand(entry, base, data_dir) for entry in config.documents.medline]
    if config.generator.kind == "transformers" and config.generator.model:
        config.generator.model = _expand(config.generator.model, base)
    for task in config.evaluation:
        task.path = _expand(task.path, base, data_dir)
        if "${DATA_DIR}" in task.path:
            raise PipelineError(f"{path}: evaluation task {task.name!r}: path {task.path!r} needs --data-dir "
                                "(or the DATA_DIR environment variable)")
        if task.kind not in ("beir", "sts"):
            raise PipelineError(f"{path}: evaluation task {task.name!r}: kind must be 'beir' or 'sts', "
                                f"got {task.kind!r}")
    if config.generator.kind not in ("transformers", "openai"):
        raise PipelineError(f"{path}: generator.kind must be 'transformers' or 'openai', got "
                            f"{config.generator.kind!r}")
    if not config.generator.model:
        raise PipelineError(f"{path}: generator.model is required")
    if not config.documents.medline:
        raise PipelineError(f"{path}: documents.medline is required (MEDLINE XML files or folders)")
    if config.scrub.kinds is not None:
        from sbert_med.data.phi.kinds import check_kinds

        try:
            check_kinds(config.scrub.kinds)
        except ValueError as exc:
            raise PipelineError(f"{path}: scrub.kinds: {exc}") from None
    if config.scrub.method not in ("presidio", "regex"):
        raise PipelineError(f"{path}: scrub.method must be 'presidio' or 'regex', got {config.scrub.method!r}")
    if config.documents.max_documents < 1:
        raise PipelineError(f"{path}: documents.max_documents must be >= 1, got {config.documents.max_documents}")
    return config


# -------------------------------------------------------------------------------------------------------- journal
def fingerprint(*parts: Any) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


class StepJournal:
    """``pipeline.json``: for each finished step, its fingerprint (settings + input), report and output file."""

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / "pipeline.json"
        self.steps: dict[str, dict] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def done(self, step: str, key: str) -> dict | None:
        entry = self.steps.get(step)
        return entry if entry and entry.get("fingerprint") == key and entry.get("complete", True) else None

    def record(self, step: str, key: str, report: dict, output: str | None, *, complete: bool = True) -> None:
        """Record a step; ``complete=False`` (work left to do) keeps its report for the card, never counts as done."""
        self.steps[step] = {"fingerprint": key, "report": report, "output": output, "complete": complete,
                            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _atomic_write(self.path, json.dumps(self.steps, indent=2, ensure_ascii=False))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _report(step: str, rows_in: int, rows_out: int, dropped: dict | None = None, **extra) -> dict:
    return {"step": step, "rows_in": rows_in, "rows_out": rows_out, "dropped": dict(dropped or {}), **extra}


# ------------------------------------------------------------------------------------------------------- pipeline
class SyntheticPipeline:
    """Runs the steps of a :class:`PipelineConfig`; ``run(until=...)`` stops after a step (e.g. ``generate``)."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.steps_dir = self.output_dir / "steps"
        self.steps_dir.mkdir(parents=True, exist_ok=True)
        self.journal = StepJournal(self.output_dir)
        self._eval_cache: dict | None = None
        self._generator = None
        #: steps that ran but did not finish their work (generation with new_generation=False): their reports
        self.partial: dict[str, dict] = {}
        #: False: the generate step uses only what its journal already holds (a deadline), generating nothing
        self.new_generation = True

    # each step: (fingerprint parts) -> Dataset | dict, saved as steps/<name>.jsonl (or .json)
    def _step(self, name: str, settings: Any, previous: str | None, compute: Callable[[], tuple[Any, dict]], *,
              chain_data: bool = False):
        """Run (or reuse) one step. Returns its result and the key the next step builds on: the step's fingerprint,
        and with ``chain_data`` also the hash of its output file, so a step whose output changed (e.g. a generate
        step completed after a partial run) invalidates every later step."""
        key = fingerprint(name, settings, previous)
        entry = self.journal.done(name, key)
        if entry is not None and (entry["output"] is None or Path(entry["output"]).exists()):
            logger.info("step %s: done before (%s), reused", name, entry["output"])
            output = entry["output"]
            result = self._load(output)
        else:
            began = time.perf_counter()
            result, report = compute()
            report["seconds"] = round(time.perf_counter() - began, 1)
            output = self._save(name, result)
            incomplete = report.pop("incomplete", False)  # not done: a rerun does the missing work
            if incomplete:
                self.partial[name] = report
            self.journal.record(name, key, report, output, complete=not incomplete)
            logger.info("step %s: %s rows in, %s out, dropped %s", name, report.get("rows_in"),
                        report.get("rows_out"), report.get("dropped"))
        if chain_data and output is not None:
            key = fingerprint(key, _file_sha(output))
        return result, key

    def _save(self, name: str, result: Any) -> str | None:
        if result is None:
            return None
        if isinstance(result, Dataset):
            from sbert_med.data.jsonl import write_jsonl

            return str(write_jsonl(result, self.steps_dir / f"{name}.jsonl"))
        path = self.steps_dir / f"{name}.json"
        _atomic_write(path, json.dumps(result, indent=2, ensure_ascii=False))
        return str(path)

    @staticmethod
    def _load(output: str | None):
        if output is None:
            return None
        if output.endswith(".jsonl"):
            from sbert_med.data.jsonl import iter_jsonl

            rows = list(iter_jsonl(output))
            return Dataset.from_list(rows) if rows else Dataset.from_dict({})
        return json.loads(Path(output).read_text(encoding="utf-8"))

    # ---------------------------------------------------------------------------------------------------- steps
    def run(self, until: str | None = None) -> dict:
        if until is not None and until not in STEPS:
            raise PipelineError(f"--until must be one of {STEPS}, got {until!r}")
        config = self.config
        stop = STEPS.index(until) if until else len(STEPS) - 1
        documents, key = self._step("documents", [dataclasses.asdict(config.documents), self._eval_ids_texts_key()],
                                    None, self._documents)
        if stop < 1:
            return self.card()
        scrubbed, key = self._step("scrub", dataclasses.asdict(config.scrub), key,
                                   lambda: _call_scrub(documents, config.scrub))
        if stop < 2:
            return self.card()
        generated, key = self._step("generate", self._generator_identity(), key,
                                    lambda: self._generate(scrubbed), chain_data=True)
        if stop < 3:
            return self.card()
        filtered, key = self._step("filter", [dataclasses.asdict(config.filter), self._score_model()], key,
                                   lambda: self._filter(generated), chain_data=True)
        if stop < 4:
            return self.card()
        diversified, key = self._step("diversify", [dataclasses.asdict(config.diversify), self._score_model()], key,
                                      lambda: self._diversify(filtered), chain_data=True)
        if stop < 5:
            return self.card()
        mined, key = self._step("mine", [dataclasses.asdict(config.mine), config.model], key,
                                lambda: self._mine(diversified), chain_data=True)
        if stop < 6:
            return self.card()
        clean, key = self._step("decontaminate", self._eval_ids_texts_key(), key, lambda: self._decontaminate(mined),
                                chain_data=True)
        if stop < 7:
            return self.card()
        trained, key = self._step("train", [config.train, config.model, config.seed, config.baseline], key,
                                  lambda: self._train(clean, scrubbed))
        if stop < 8:
            return self.card()
        self._step("evaluate", [[dataclasses.asdict(task) for task in config.evaluation],
                                config.evaluation_max_length], key, lambda: self._evaluate(trained))
        return self.card()

    # documents ------------------------------------------------------------------------------------------------
    def _eval_sets(self) -> dict:
        """Evaluation queries and documents (texts and ids) of every ``beir`` task, all splits' queries."""
        if self._eval_cache is None:
            self._eval_cache = _call_eval_texts(self.config.evaluation)
        return self._eval_cache

    def _eval_ids_texts_key(self) -> list:
        return [[task.name, task.path, task.split] for task in self.config.evaluation]

    def _documents(self) -> tuple[Dataset, dict]:
        from sbert_med.data.text_normalize import normalize_for_match

        options = self.config.documents
        eval_sets = self._eval_sets()
        corpus = _call_load_medline(options, exclude_ids=eval_sets["ids"])
        banned = {normalize_for_match(text) for text in eval_sets["documents"]}
        banned_titles = {normalize_for_match(title) for title in eval_sets["titles"] if len(title.split()) >= 4}
        keep, dropped = [], {}
        for index, (title, text) in enumerate(zip(corpus["title"], corpus["text"])):
            if normalize_for_match(text) in banned or normalize_for_match(title) in banned_titles:
                dropped["in_eval_corpus"] = dropped.get("in_eval_corpus", 0) + 1
                continue
            keep.append(index)
            if len(keep) == options.max_documents:
                break
        corpus = corpus.select(keep)
        prompts = [f"Title: {title}\nAbstract: {' '.join(text.split()[: options.prompt_words])}"
                   for title, text in zip(corpus["title"], corpus["text"])]
        documents = [f"{title} {text}".strip() for title, text in zip(corpus["title"], corpus["text"])]
        corpus = corpus.add_column("prompt_text", prompts).add_column("document", documents)
        report = _report("documents", len(keep) + sum(dropped.values()), len(corpus), dropped,
                         sources=options.medline, excluded_eval_ids=len(eval_sets["ids"]))
        return corpus, report

    # generate -------------------------------------------------------------------------------------------------
    def _generator_identity(self) -> dict:
        options = dataclasses.asdict(self.config.generator)
        for name in ("batch_size", "max_concurrency", "api_key_env", "licence"):  # how, not what, is generated
            options.pop(name, None)
        return {**options, "seed": self.config.seed}

    def generator(self):
        if self._generator is None:
            self._generator = _call_make_generator(self.config.generator, self.config.seed)
        return self._generator

    def _generate(self, scrubbed: Dataset) -> tuple[Dataset, dict]:
        options = self.config.generator
        journal = self.steps_dir / "generate.journal.jsonl"
        generator = self.generator()
        if not self.new_generation:  # read a copy of the journal: a job still generating keeps the original
            import shutil

            copy = self.steps_dir / "generate.partial.journal.jsonl"
            if journal.exists():
                shutil.copyfile(journal, copy)
            elif copy.exists():
                copy.unlink()
            journal = copy
            generator = JournalOnlyGenerator(self._generator_provenance())
        rows, step_report = _call_generate(scrubbed, generator, options, journal)
        unfinished = sum(step_report["counts"].get(status, 0) for status in ("failed", "error"))
        if not self.new_generation:  # what throughput the generating job measured, when it has finished a part
            step_report["counts"].update(_throughput_from_log(self.steps_dir / "generate.throughput.json"))
        dropped = dict(step_report["dropped"])
        if step_report["counts"].get("rejected"):  # outputs the prompt's parser refused (reasons in details)
            dropped["rejected_output"] = step_report["counts"]["rejected"]
        report = _report("generate", len(scrubbed), len(rows), dropped,
                         counts=step_report["counts"], details=step_report["details"], journal=str(journal),
                         queries_generated=step_report["counts"].get("queries_parsed"), unfinished=unfinished,
                         incomplete=unfinished > 0)
        return rows, report

    def _generator_provenance(self) -> dict:
        """What the configured generator records as its provenance (the journal's keys), without loading it."""
        options = self.config.generator
        if options.kind == "openai":
            base = {"generator": options.model, "generator_kind": "OpenAICompatibleGenerator"}
        else:
            base = {"generator": options.model, "generator_kind": "TransformersGenerator",
                    "top_p": options.top_p if options.temperature > 0 else None,
                    "repetition_penalty": options.repetition_penalty}
        return {**base, "seed": self.config.seed, "temperature": options.temperature,
                "max_new_tokens": options.max_new_tokens}

    # filter ---------------------------------------------------------------------------------------------------
    def _score_model(self) -> str:
        return self.config.filter.score_model or self.config.model

    def _encoder(self, path: str):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(path, device="cpu")

    def _filter(self, generated: Dataset) -> tuple[Dataset, dict]:
        from sbert_med.data.text_normalize import normalize_for_match

        options = self.config.filter
        dropped: dict[str, int] = {}
        keep = []
        seen = set()
        queries = [_first_sentence(query) for query in generated["query"]]
        shortened = sum(new != old for new, old in zip(queries, generated["query"]))
        generated = generated.remove_columns("query").add_column("query", queries)
        for index, row in enumerate(generated):
            query = row["query"]
            normal = normalize_for_match(query)
            if len(query.split()) < options.min_query_words:
                reason = "too_short"
            elif normal and normal in normalize_for_match(row["document"])[: len(normal) + 200] and \
                    len(query.split()) >= 6:
                reason = "copied_from_document"
            elif (row["source_id"], normal) in seen:
                reason = "duplicate_for_document"
            else:
                reason = None
            if reason:
                dropped[reason] = dropped.get(reason, 0) + 1
                continue
            seen.add((row["source_id"], normal))
            keep.append(index)
        kept = generated.select(keep)
        scores = _call_pair_scores(self._encoder(self._score_model()), kept["query"], kept["document"],
                                   self.output_dir / "encodings")
        kept = kept.add_column("score", [round(float(score), 4) for score in scores])
        low = [index for index, score in enumerate(scores) if score < options.min_score]
        if low:
            dropped["low_score"] = len(low)
        low_set = set(low)
        kept = kept.select([index for index in range(len(kept)) if index not in low_set])
        return kept, _report("filter", len(generated), len(kept), dropped, score_model=self._score_model(),
                             min_score=options.min_score, cut_to_first_sentence=shortened)

    # diversify ------------------------------------------------------------------------------------------------
    def _diversify(self, filtered: Dataset) -> tuple[Dataset, dict]:
        options = self.config.diversify
        if not options.enabled:
            return filtered, _report("diversify", len(filtered), len(filtered), {}, skipped=True)
        result, report = _call_diversify(filtered, self._encoder(self._score_model()), options)
        return result, _report("diversify", len(filtered), len(result), report["dropped"], counts=report["counts"])

    # mine -----------------------------------------------------------------------------------------------------
    def _mine(self, rows: Dataset) -> tuple[Dataset, dict]:
        result, report = _call_mine(rows, self._encoder(self.config.model), self.config.mine,
                                    self.output_dir / "encodings")
        # the funnel counts rows; the miner's own drops are candidate negatives (kept in candidates_dropped)
        lost = len(rows) - len(result)
        return result, _report("mine", len(rows), len(result), {"no_negative_left": lost} if lost else {},
                               counts=report["counts"], candidates_dropped=report["dropped"])

    # decontaminate --------------------------------------------------------------------------------------------
    def _decontaminate(self, rows: Dataset) -> tuple[Dataset, dict]:
        eval_sets = self._eval_sets()
        text_columns = [name for name in rows.column_names if name in ("query", "document")
                        or name.startswith("negative")]
        result, report = _call_decontaminate(rows, eval_sets["queries"] + eval_sets["documents"], eval_sets["ids"],
                                             text_columns)
        return result, _report("decontaminate", len(rows), len(result), report["dropped"],
                               eval_texts=len(eval_sets["queries"]) + len(eval_sets["documents"]),
                               eval_ids=len(eval_sets["ids"]))

    # train ----------------------------------------------------------------------------------------------------
    def _train(self, rows: Dataset, documents: Dataset) -> tuple[dict, dict]:
        negatives = sorted(name for name in rows.column_names if name.startswith("negative"))
        triplets = [{"query": row["query"], "pos": row["document"], "neg": [row[name] for name in negatives]}
                    for row in rows]
        from sbert_med.data.jsonl import write_jsonl

        train_file = write_jsonl(triplets, self.steps_dir / "train_triplets.jsonl")
        models = {"synthetic": _call_train(self.config, train_file, self.output_dir / "synthetic",
                                           num_negatives=len(negatives))}
        if self.config.baseline:  # the same number of title -> abstract pairs from the same documents, no LLM
            used = list(dict.fromkeys(rows["source_id"]))
            pool = documents.filter(lambda row: row["_id"] in set(used)) if used else documents
            pairs = [{"query": row["title"], "pos": row["document"]} for row in pool if row["title"]]
            import random

            random.Random(self.config.seed).shuffle(pairs)
            # one pair per document: repeat the documents' titles in order until the count matches
            pairs = (pairs * (len(triplets) // max(len(pairs), 1) + 1))[: len(triplets)]
            baseline_file = write_jsonl(pairs, self.steps_dir / "train_title_abstract.jsonl")
            models["title_abstract"] = _call_train(self.config, baseline_file, self.output_dir / "title_abstract",
                                                   num_negatives=0)
        return models, _report("train", len(rows), len(triplets), {}, models=models,
                               baseline_pairs=len(triplets) if self.config.baseline else 0)

    # evaluate -------------------------------------------------------------------------------------------------
    def _evaluate(self, trained: dict) -> tuple[dict, dict]:
        models = {"base": self.config.model, **trained}
        length = self.config.evaluation_max_length or self._encoder(self.config.model).max_seq_length
        # task by task (every model on the first task before the second), each figure saved as soon as it exists:
        # a run stopped midway keeps (and reports) what it measured
        partial_path = self.steps_dir / "evaluate.partial.json"
        partial = json.loads(partial_path.read_text()) if partial_path.is_file() else {}
        results: dict[str, dict] = {name: {} for name in models}
        for task in self.config.evaluation:
            for name, path in models.items():
                cache_key = fingerprint(path, _file_sha(str(Path(path) / "model.safetensors"))
                                        if (Path(path) / "model.safetensors").is_file() else path,
                                        dataclasses.asdict(task), length)
                if cache_key not in partial:
                    metrics = _call_evaluate(path, [task], length, self.output_dir / "encodings")
                    partial[cache_key] = {"model": name, "task": task.name, "metrics": metrics}
                    _atomic_write(partial_path, json.dumps(partial, indent=2))
                results[name].update(partial[cache_key]["metrics"])
        return results, _report("evaluate", len(models), len(models), {}, results=results, max_seq_length=length)

    def _saved_partial_results(self) -> dict | None:
        """Figures of an evaluate step that has not finished (``steps/evaluate.partial.json``), by model and task."""
        path = self.steps_dir / "evaluate.partial.json"
        if not path.is_file():
            return None
        results: dict[str, dict] = {}
        for entry in json.loads(path.read_text()).values():
            results.setdefault(entry["model"], {}).update(entry["metrics"])
        return results

    # card -----------------------------------------------------------------------------------------------------
    def card(self) -> dict:
        from sbert_med.data.medline import MEDLINE_LICENSE

        reports = {name: self.journal.steps[name]["report"] for name in STEPS if name in self.journal.steps}
        funnel = [{key: report.get(key) for key in ("step", "rows_in", "rows_out", "dropped", "seconds")}
                  for report in reports.values()]
        for entry in funnel:
            unfinished = reports[entry["step"]].get("unfinished")
            if unfinished:  # items the generator has not done (yet): a rerun generates them
                entry["dropped"] = {**(entry["dropped"] or {}), "not_generated_yet": unfinished}
        generate = reports.get("generate", {})
        options = self.config.generator
        card = {
            "pipeline": "medembed synthetic (sbert_med.recipes.synthetic_pipeline)",
            "funnel": funnel,
            "generator": {"kind": options.kind, "model": options.model or options.base_url,
                          "temperature": options.temperature, "top_p": options.top_p if options.temperature else None,
                          "repetition_penalty": options.repetition_penalty, "max_new_tokens": options.max_new_tokens,
                          "licence": options.licence or "see the model's card"},
            "prompt": {"name": options.prompt, "version": _call_prompt_version(options)},
            "seed": self.config.seed,
            "scrub": {**dataclasses.asdict(self.config.scrub),
                      **{key: reports.get("scrub", {}).get(key) for key in ("rows_changed", "replacements")}},
            "throughput": {key: generate.get("counts", {}).get(key)
                           for key in ("replies_per_min", "queries_per_min", "generation_seconds")},
            "sources": [{"documents": self.config.documents.medline,
                         "licence": self.config.documents.licence or MEDLINE_LICENSE}],
            "evaluation": [dataclasses.asdict(task) for task in self.config.evaluation],
            "results": self.journal.steps.get("evaluate", {}).get("report", {}).get("results")
            or self._saved_partial_results(),
            "complete": all(entry.get("complete", True) for entry in self.journal.steps.values()),
        }
        _atomic_write(self.output_dir / "data_card.json", json.dumps(card, indent=2, ensure_ascii=False))
        _atomic_write(self.output_dir / "data_card.md", render_card(card))
        return card


def _file_sha(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _throughput_from_log(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


class JournalOnlyGenerator:
    """Stands in for the configured generator when no new generation is allowed: same provenance (so the journal's
    work keys match), and every item not in the journal comes back as a :class:`GenerationFailure`."""

    def __init__(self, provenance: dict) -> None:
        self._provenance = provenance
        self.model_name = provenance["generator"]

    def provenance(self) -> dict:
        return dict(self._provenance)

    def stream(self, conversations):
        from sbert_med.data.llm import GenerationFailure

        for index in range(len(conversations)):
            yield index, GenerationFailure("not generated: the run was told to generate nothing new")


def _first_sentence(query: str) -> str:
    """A query that runs on into a second sentence (small models go on to answer) is cut after the first one."""
    import re

    match = re.search(r"[.!?](?=\s+[A-Z])", query)
    return query[: match.start() + 1].strip() if match else query.strip()


def render_card(card: dict) -> str:
    lines = ["# Data card: synthetic MedEmbed training data", "",
             f"Generator: `{card['generator']['model']}` ({card['generator']['kind']}), prompt "
             f"`{card['prompt']['name']}` v{card['prompt']['version']}, seed {card['seed']}, temperature "
             f"{card['generator']['temperature']}, repetition penalty {card['generator']['repetition_penalty']}, "
             f"max {card['generator']['max_new_tokens']} new tokens; generator licence: "
             f"{card['generator']['licence']}.", ""]
    if card["throughput"].get("queries_per_min"):
        lines += [f"Throughput: {card['throughput']['replies_per_min']} replies/min, "
                  f"{card['throughput']['queries_per_min']} parsed queries/min.", ""]
    lines += ["## Sources", ""]
    lines += [f"- {', '.join(source['documents'])}: {source['licence']}" for source in card["sources"]]
    scrub = card.get("scrub") or {}
    if scrub:
        kinds = "every kind" if scrub.get("kinds") is None else ", ".join(scrub["kinds"])
        done = (f"{scrub['rows_changed']} documents changed, replacements "
                f"{dict(scrub.get('replacements') or {})}" if scrub.get("rows_changed") is not None else "")
        lines += ["", "PHI scrub: " + (f"{scrub['method']}, {kinds}; {done}".rstrip("; ") if scrub.get("enabled")
                                       else "off") + "."]
    lines += ["", "## Funnel", "", "| step | rows in | rows out | dropped |", "|---|---:|---:|---|"]
    for entry in card["funnel"]:
        dropped = ", ".join(f"{reason} {count}" for reason, count in (entry["dropped"] or {}).items()) or "-"
        lines.append(f"| {entry['step']} | {entry['rows_in']} | {entry['rows_out']} | {dropped} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------- call sites
# Every call into other parts of the package (whose APIs other work may change) is here.
def _report_dict(report) -> dict:
    """A :class:`~sbert_med.data.StepReport` as a dict (``to_dict``, the shared vocabulary's name)."""
    return report.to_dict() if hasattr(report, "to_dict") else report.as_dict()

def _call_load_medline(options: DocumentsConfig, exclude_ids) -> Dataset:
    from sbert_med.data.medline import load_medline

    # read more than needed: documents in an evaluation corpus are dropped afterwards
    return load_medline(options.medline, min_abstract_words=options.min_abstract_words, exclude_ids=exclude_ids,
                        limit=options.max_documents * 2)


def _call_scrub(documents: Dataset, options: ScrubConfig) -> tuple[Dataset, dict]:
    from sbert_med.data import scrub_phi
    from sbert_med.data.phi import ALL_KINDS

    if not options.enabled:
        return documents, _report("scrub", len(documents), len(documents), {}, skipped=True)
    kinds = ALL_KINDS if options.kinds is None else options.kinds
    scrubbed, phi = scrub_phi(documents, columns=["prompt_text", "document"], kinds=kinds, method=options.method,
                              return_report=True)
    replacements = dict(getattr(phi, "replacements", {}) or {})
    return scrubbed, _report("scrub", len(documents), len(scrubbed), {}, kinds=list(kinds), method=options.method,
                             rows_changed=getattr(phi, "rows_changed", None), replacements=replacements)


def _call_make_generator(options: GeneratorConfig, seed: int):
    from sbert_med.data.llm import OpenAICompatibleGenerator, TransformersGenerator

    if options.kind == "openai":
        if not options.base_url:
            raise PipelineError("generator.base_url is required when generator.kind is 'openai'")
        return OpenAICompatibleGenerator(options.base_url, model=options.model, api_key_env=options.api_key_env,
                                         max_concurrency=options.max_concurrency,
                                         max_new_tokens=options.max_new_tokens, temperature=options.temperature,
                                         seed=seed)
    if not Path(options.model).exists() and "/" not in options.model:
        raise PipelineError(f"generator.model: no such model folder: {options.model}")
    return TransformersGenerator(options.model, max_new_tokens=options.max_new_tokens,
                                 temperature=options.temperature, top_p=options.top_p,
                                 repetition_penalty=options.repetition_penalty, batch_size=options.batch_size,
                                 seed=seed, device="cpu" if os.environ.get("SBERT_MED_CPU") else None)


def _call_generate(documents: Dataset, generator, options: GeneratorConfig, journal: Path) -> tuple[Dataset, dict]:
    from sbert_med.data import generate_queries

    rows, report = generate_queries(documents, generator=generator, text_column="prompt_text",
                                    document_column="document", id_column="_id", prompt=options.prompt,
                                    prompt_version=options.prompt_version, scrub_phi=False, journal_path=journal,
                                    reparse=True, return_report=True)
    parsed = _report_dict(report)
    parsed["counts"]["queries_parsed"] = len(rows) + sum(parsed["dropped"].values()) \
        - parsed["dropped"].get("invalid_item", 0)
    return rows, parsed


def _call_prompt_version(options: GeneratorConfig) -> int:
    from sbert_med.data import load_prompt

    return load_prompt(options.prompt, options.prompt_version).version


def _call_pair_scores(model, queries: list[str], documents: list[str], cache_dir: Path | None = None):
    import numpy as np

    from sbert_med.encoding import encode_cached

    if not queries:
        return np.zeros(0)
    # documents first: model_fingerprint changes once the tokenizer has been used (its truncation state), so the
    # cache key of a freshly loaded model is the one other steps (evaluation) compute too
    document_embeddings = encode_cached(model, documents, cache_dir=cache_dir, route="document", batch_size=32,
                                        show_progress_bar=False)  # each abstract once, however many queries
    query_embeddings = model.encode_query(queries, normalize_embeddings=True, batch_size=64)
    return (query_embeddings * document_embeddings).sum(axis=1)


def _call_diversify(rows: Dataset, model, options: DiversifyConfig) -> tuple[Dataset, dict]:
    from sbert_med.data import diversify

    extra = {"threshold": options.threshold} if options.threshold is not None else {}
    result, report = diversify(rows, column="query", route=options.route, model=model, return_report=True, **extra)
    return result, _report_dict(report)


def _call_mine(rows: Dataset, model, options: MineConfig, cache_dir: Path | None = None) -> tuple[Dataset, dict]:
    from sbert_med.data import mine_negatives

    result, report = mine_negatives(rows, model, anchor_column="query", positive_column="document",
                                    group_column="source_id", num_negatives=options.num_negatives,
                                    range_min=options.range_min, relative_margin=options.relative_margin,
                                    output_format="n-tuple", cache_dir=cache_dir, show_progress_bar=False,
                                    return_report=True)
    return result, _report_dict(report)


def _call_eval_texts(tasks: list[EvalTask]) -> dict:
    """Queries (every split), documents, titles and ids of the evaluation tasks (STS sentences count as queries)."""
    from sbert_med.data.jsonl import iter_jsonl

    queries, documents, titles, ids = [], [], [], set()
    for task in tasks:
        folder = Path(task.path)
        if task.kind == "sts":
            import csv

            with open(folder, encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle, delimiter="\t"):
                    queries += [row.get("sentence1") or "", row.get("sentence2") or ""]
            continue
        for corpus_file in sorted(folder.glob("corpus*.jsonl")):
            for record in iter_jsonl(corpus_file):
                documents.append(str(record.get("text") or ""))
                titles.append(str(record.get("title") or ""))
                ids.add(str(record.get("_id")))
                pmid = (record.get("metadata") or {}).get("pmid") if isinstance(record.get("metadata"), dict) \
                    else None
                if pmid:
                    ids.add(str(pmid))
        queries += [str(record.get("text") or "") for record in iter_jsonl(folder / "queries.jsonl")]
    return {"queries": [text for text in queries if text.strip()], "documents": [t for t in documents if t.strip()],
            "titles": titles, "ids": sorted(ids)}


def _call_decontaminate(rows: Dataset, eval_texts: list[str], eval_ids: list[str],
                        columns: list[str]) -> tuple[Dataset, dict]:
    from sbert_med.data import decontaminate

    # by id: a row whose source PMID is an evaluation id (query or document); by text: every text column
    result, report = decontaminate(rows, eval_texts=eval_texts, eval_ids=eval_ids, columns=columns,
                                   id_columns=["source_id"], show_progress_bar=False, return_report=True)
    return result, _report_dict(report)


def _call_train(config: PipelineConfig, train_file: Path, output_dir: Path, *, num_negatives: int) -> str:
    from sbert_med.recipes.medembed import MedEmbedConfig, train_medembed

    settings = {"use_cpu": True, **config.train}
    medembed = MedEmbedConfig(output_dir=str(output_dir), model=config.model, train_data=str(train_file),
                              num_negatives=num_negatives, seed=config.seed, **settings)
    return str(train_medembed(medembed))


def _call_evaluate(model_path: str, tasks: list[EvalTask], max_seq_length: int, cache_dir: Path | None = None) -> dict:
    """``{task: {"ndcg@10": x}}`` for BEIR tasks (whole split) and ``{task: {"spearman": x}}`` for STS tasks; corpus
    embeddings cached in ``cache_dir`` under the model's fingerprint (:func:`sbert_med.encoding.encode_cached`)."""
    import csv

    import torch
    from scipy.stats import spearmanr
    from sentence_transformers import SentenceTransformer

    from sbert_med.data.beir import load_beir
    from sbert_med.encoding import encode_cached, model_fingerprint
    from sbert_med.recipes.evaluators import ir_evaluator

    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = max_seq_length
    model_key = model_fingerprint(model)
    results = {}
    for task in tasks:
        if task.kind == "beir":
            split = load_beir(task.path, task.split, corpus_file=task.corpus_file)
            evaluator = ir_evaluator(split, name=task.name, batch_size=64)
            corpus = encode_cached(model, evaluator.corpus, cache_dir=cache_dir, route="document", batch_size=32,
                                   fingerprint=model_key, show_progress_bar=False)
            metrics = evaluator(model, corpus_embeddings=torch.from_numpy(corpus))
            results[task.name] = {"ndcg@10": round(float(metrics[f"{task.name}_cosine_ndcg@10"]), 4)}
        else:
            with open(task.path, encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
            first = model.encode([row["sentence1"] for row in rows], normalize_embeddings=True)
            second = model.encode([row["sentence2"] for row in rows], normalize_embeddings=True)
            cosine = (first * second).sum(axis=1)
            results[task.name] = {"spearman": round(float(spearmanr(cosine, [float(r["score"]) for r in rows])[0]),
                                                    4)}
    return results


# ---------------------------------------------------------------------------------------------------------- main
def run_pipeline_file(path: str | os.PathLike, *, data_dir: str | None = None, output_dir: str | None = None,
                      max_documents: int | None = None, until: str | None = None,
                      new_generation: bool = True) -> dict:
    """Run (or resume) the pipeline of a YAML file; returns its data card. Used by ``sbert-med train`` and ``main``.

    Args:
        path: The pipeline YAML (``recipe: medembed_synthetic``).
        data_dir: Replaces ``${DATA_DIR}`` in the config's paths.
        output_dir: Overrides the config's ``output_dir``.
        max_documents: Overrides ``documents.max_documents``.
        until: Stop after this step (one of :data:`STEPS`).
        new_generation: ``False``: use only the queries already in the generation journal.
    """
    config = load_pipeline_config(path, data_dir=data_dir)
    if output_dir:
        config.output_dir = output_dir
    if max_documents is not None:
        if max_documents < 1:
            raise PipelineError(f"--max-documents must be >= 1, got {max_documents}")
        config.documents.max_documents = max_documents
    pipeline = SyntheticPipeline(config)
    pipeline.new_generation = new_generation
    return pipeline.run(until=until)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sbert_med.recipes.synthetic_pipeline",
                                     description="MedEmbed from documents: generate, clean, train, evaluate.")
    parser.add_argument("config", help="pipeline YAML (e.g. examples/medembed/synthetic.yaml)")
    parser.add_argument("--until", choices=STEPS, help="stop after this step")
    parser.add_argument("--data-dir", help="replaces ${DATA_DIR} in the config's paths")
    parser.add_argument("--output-dir", help="override output_dir")
    parser.add_argument("--max-documents", type=int, help="override documents.max_documents")
    parser.add_argument("--no-new-generation", action="store_true",
                        help="use only the queries already in the generation journal (e.g. at a deadline, while "
                             "the generating run goes on); the generate step is then not marked done")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        card = run_pipeline_file(args.config, data_dir=args.data_dir, output_dir=args.output_dir,
                                 max_documents=args.max_documents, until=args.until,
                                 new_generation=not args.no_new_generation)
    except (PipelineError, ValueError, OSError) as exc:  # OSError: files, model folders
        print(f"error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    print(json.dumps({"funnel": card["funnel"], "results": card["results"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
