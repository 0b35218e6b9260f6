"""`sbert-med data <step>`: run one data step on a JSONL file (a thin layer over :mod:`sbert_med.data`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

STEPS = ("generate", "paraphrase", "label", "mine", "diversify", "textbook", "scrub", "decontaminate")


HELP = "build training data (generate, paraphrase, label, mine, diversify, textbook, scrub, ...)"
DESCRIPTION = "Run one data step: read --input (JSONL; textbook also .txt/.md/.pdf), write --output (JSONL)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    for step in STEPS:
        sub = steps.add_parser(step, help=_HELP[step])
        sub.add_argument("--input", required=True, type=Path, help="input file")
        sub.add_argument("--output", required=True, type=Path, help="output JSONL file")
        sub.add_argument("--column", help=f"text column (default: {_DEFAULT_COLUMN[step]})")
        sub.add_argument("--report", type=Path, help="also write the step's report as JSON here")
        _STEP_OPTIONS[step](sub)
        sub.set_defaults(func=run)
    parser.set_defaults(func=run)


_HELP = {
    "generate": "MedEmbed queries for each text with an LLM",
    "paraphrase": "CardioEmbed paraphrases of each sentence with an LLM",
    "label": "MAR S/A/B/C/D relevance grades of (query, document) rows by one or more LLMs, with consensus",
    "mine": "hard negatives with false-negative control",
    "diversify": "MAR's dynamic vector-index diversity filter",
    "textbook": "textbook (.txt/.md/.pdf/.jsonl) to clean deduplicated sentences",
    "scrub": "replace personal health identifiers",
    "decontaminate": "drop rows overlapping evaluation texts",
}
_DEFAULT_COLUMN = {"generate": "text", "paraphrase": "text", "label": "document", "mine": "document",
                   "diversify": "query", "textbook": "text", "scrub": "text", "decontaminate": "all string columns"}


def _generator_options(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    group = parser.add_argument_group("generator")
    group.add_argument("--generator", choices=("transformers", "openai"), default="transformers")
    group.add_argument("--model", required=True, action="append" if several else "store",
                       help="local model folder / Hub id, or the server's model name" +
                            (" (repeat for several graders)" if several else ""))
    group.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://localhost:8000/v1")
    group.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    group.add_argument("--max-concurrency", type=int, default=8)
    group.add_argument("--timeout", type=float, default=120.0)
    group.add_argument("--max-retries", type=int, default=5)
    group.add_argument("--no-scrub-phi", action="store_true",
                       help="send texts to the HTTP server without scrubbing PHI (explicit opt-out)")
    group.add_argument("--batch-size", type=int, default=8, help="local generation batch size")
    group.add_argument("--max-new-tokens", type=int, default=512)
    group.add_argument("--temperature", type=float, default=0.0)
    group.add_argument("--seed", type=int, default=42)
    group.add_argument("--prompt-version", type=int, help="prompt template version (default: latest)")
    group.add_argument("--id-column", default="_id", help="unique id column recorded as source_id")
    group.add_argument("--journal", type=Path,
                       help="JSONL journal of every LLM output (default: OUTPUT.journal.jsonl); reruns resume from it")


def _generate_options(parser):
    _generator_options(parser)
    parser.add_argument("--min-relevance", type=float, default=0.5)


def _label_options(parser):
    _generator_options(parser, several=True)
    parser.add_argument("--query-column", default="query")
    parser.add_argument("--positive-grades", default="SA", help="grades that count as relevant (default SA)")
    parser.add_argument("--negative-grades", default="CD", help="grades that count as irrelevant (default CD)")


def _embedding_model_option(parser):
    parser.add_argument("--model", help="SentenceTransformer path or id (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--encode-batch-size", type=int, default=32)


def _mine_options(parser):
    _embedding_model_option(parser)
    parser.add_argument("--anchor-column", default="query")
    parser.add_argument("--corpus", type=Path, help="JSONL of extra candidate documents (field --corpus-column)")
    parser.add_argument("--corpus-column", default="text")
    parser.add_argument("--group-column", help="rows with the same value share positives (e.g. a query id)")
    parser.add_argument("--num-negatives", type=int, default=3)
    parser.add_argument("--candidates-per-query", type=int)
    parser.add_argument("--range-min", type=int, default=0)
    parser.add_argument("--relative-margin", type=float, default=0.05)
    parser.add_argument("--absolute-margin", type=float)
    parser.add_argument("--max-score", type=float)
    parser.add_argument("--output-format", choices=("n-tuple", "triplet"), default="n-tuple")
    parser.add_argument("--cache-dir", type=Path,
                        help="resumable cache of encodings and results (a rerun with the same inputs reuses them)")


def _diversify_options(parser):
    _embedding_model_option(parser)
    parser.add_argument("--route", "--kind", dest="route", choices=("query", "document"), default="query",
                        help="encode the column as queries or documents (--kind is the former name)")
    parser.add_argument("--threshold", type=float, help="default 0.85 for queries, 0.78 for documents")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--index-factory", default="Flat")
    parser.add_argument("--cache-dir", type=Path, help="resumable embedding cache")


def _textbook_options(parser):
    parser.add_argument("--book", help="book name used in sentence ids (default: file name)")
    parser.add_argument("--min-words", type=int, default=5)
    parser.add_argument("--max-words", type=int, default=80)
    parser.add_argument("--near-duplicate-threshold", type=float, default=0.8, help="0 for exact duplicates only")


def _scrub_options(parser):
    from sbert_med.data.phi import ALL_KINDS, METHODS

    parser.add_argument("--kinds", nargs="+", choices=ALL_KINDS, default=list(ALL_KINDS))
    parser.add_argument("--extra-column", action="append", default=[], help="further columns to scrub")
    parser.add_argument("--method", choices=METHODS, default="presidio",
                        help="presidio (default: spaCy people and places, medical recognizers) or regex (patterns)")
    parser.add_argument("--unnumbered", action="store_true", help="write [NAME] rather than [NAME_1], [NAME_2]...")
    parser.add_argument("--num-proc", type=int, help="processes (each loads its own spaCy pipeline)")


def _decontaminate_options(parser):
    parser.add_argument("--eval", required=True, action="append", type=Path,
                        help="evaluation data (repeatable): a BEIR folder (its queries and documents), or a JSONL of "
                             "texts such as a BEIR queries.jsonl or corpus.jsonl")
    parser.add_argument("--eval-column", default="text", help="text field of --eval JSONL files")
    parser.add_argument("--eval-id-column", default="_id", help="id field of --eval JSONL files (if present)")
    parser.add_argument("--eval-split", default="test", help="qrels split of --eval BEIR folders")
    parser.add_argument("--eval-corpus", choices=("judged", "all", "none"), default="judged",
                        help="documents of --eval BEIR folders to check: those judged in the split (default), all, "
                             "or none")
    parser.add_argument("--id-column", dest="id_columns", action="append",
                        help="training column holding query/document ids (repeatable; default: the usual id names)")
    parser.add_argument("--near-duplicate-threshold", type=float, default=0.8, help="0 to disable")
    parser.add_argument("--ngram-overlap", type=int, default=13, help="0 to disable")
    parser.add_argument("--model", help="SentenceTransformer for embedding near-duplicates (optional)")
    parser.add_argument("--embedding-threshold", type=float, default=0.95)


_STEP_OPTIONS = {"generate": _generate_options, "paraphrase": _generate_options, "label": _label_options,
                 "mine": _mine_options, "diversify": _diversify_options, "textbook": _textbook_options,
                 "scrub": _scrub_options, "decontaminate": _decontaminate_options}


def _generator(args, model: str):
    try:
        return _new_generator(args, model)
    except ValueError:
        raise
    except Exception as exc:  # a wrong path or id surfaces as OSError, HFValidationError, ...
        raise ValueError(f"--model {model}: cannot load the generator ({_one_line(exc)})") from None


def _new_generator(args, model: str):
    from sbert_med.data.llm import OpenAICompatibleGenerator, TransformersGenerator

    if args.generator == "openai":
        if not args.base_url:
            raise ValueError("--generator openai needs --base-url")
        return OpenAICompatibleGenerator(
            args.base_url, model=model, api_key_env=args.api_key_env, max_concurrency=args.max_concurrency,
            timeout=args.timeout, max_retries=args.max_retries, max_new_tokens=args.max_new_tokens,
            temperature=args.temperature, seed=args.seed, scrub_phi=not args.no_scrub_phi,
        )
    return TransformersGenerator(model, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                 seed=args.seed, batch_size=args.batch_size)


def _embedding_model(args):
    from sentence_transformers import SentenceTransformer

    from sbert_med.models import ModelNotAvailableError, resolve_model

    name = args.model or "minilm"
    try:
        path = resolve_model(name)
    except ModelNotAvailableError as exc:
        raise ValueError(f"--model {name}: {exc}") from None
    try:
        return SentenceTransformer(path)
    except Exception as exc:  # a wrong path or id surfaces as OSError, ValueError, HFValidationError, ...
        raise ValueError(f"--model {name}: cannot load a SentenceTransformer ({_one_line(exc)})") from None


def _eval_set(args, path: Path):
    """Texts and ids of one --eval source: a BEIR folder or a JSONL file."""
    from sbert_med import data
    from sbert_med.data.jsonl import read_jsonl

    if path.is_dir():
        return data.beir_eval_set(data.load_beir(path, args.eval_split), corpus=args.eval_corpus)
    rows = read_jsonl(path, required_columns=[args.eval_column])
    texts = [text for text in rows[args.eval_column] if isinstance(text, str)]
    ids = set()
    if args.eval_id_column in rows.column_names:
        ids = {str(value) for value in rows[args.eval_id_column] if value is not None}
    return data.EvalSet(texts=texts, ids=ids)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _inputs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    inputs = [("--input", args.input)]
    if getattr(args, "corpus", None):
        inputs.append(("--corpus", args.corpus))
    inputs.extend(("--eval", path) for path in getattr(args, "eval", None) or [])
    return inputs


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _is_below(path: Path, folder: Path) -> bool:
    return folder.is_dir() and path.resolve().is_relative_to(folder.resolve())


def check_outputs(outputs: list[tuple[str, Path]], inputs: list[tuple[str, Path]]) -> None:
    """Refuse outputs that would write over an input (or into an input BEIR folder), that are folders, or whose
    parent is a file: one ``ValueError`` naming the option and the path."""
    for option, path in outputs:
        for input_option, source in inputs:
            if _same_file(path, source) or _is_below(path, source):
                raise ValueError(f"{option} {path} would overwrite the input {input_option} {source}; write the "
                                 f"output somewhere else")
        if path.is_dir():
            raise ValueError(f"{option} {path} is a folder; give a file name")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ValueError(f"{option} {path}: {parent} is a file, not a folder")
                break
    for option, path in outputs:  # fail now, not after hours of work
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
                pass
        except OSError as exc:
            raise ValueError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _report_dict(report) -> dict:
    return report.to_dict() if hasattr(report, "to_dict") else report.as_dict()


_TEXT_COLUMNS = {  # columns that must hold a non-empty text in every row of --input
    "mine": lambda args: [args.anchor_column, args.column or "document"],
    "diversify": lambda args: [args.column or "query"],
    "label": lambda args: [args.query_column, args.column or "document"],
}


def run(args: argparse.Namespace) -> int:
    """Run the step; any input or output problem is a one-line ``ValueError`` (no traceback)."""
    try:
        return _run(args)
    except (ValueError, FileNotFoundError):
        raise
    except OSError as exc:  # a folder given as a file, no permission, disk full, ...
        where = f"{exc.filename}: " if getattr(exc, "filename", None) and str(exc.filename) not in str(exc) else ""
        raise ValueError(f"{where}{_one_line(exc)}") from None


def _run(args: argparse.Namespace) -> int:
    from sbert_med import data
    from sbert_med.data.jsonl import read_jsonl, write_jsonl

    step, column = args.step, args.column
    journal = getattr(args, "journal", None) or args.output.with_name(args.output.name + ".journal.jsonl")
    outputs = [("--output", args.output)]
    if args.report:
        outputs.append(("--report", args.report))
    if step in ("generate", "paraphrase", "label"):
        outputs.append(("--journal", journal))
    check_outputs(outputs, _inputs(args))
    if step == "textbook":
        dataset = data.load_textbook(args.input, book=args.book)
    else:
        dataset = read_jsonl(args.input, text_columns=_TEXT_COLUMNS[step](args) if step in _TEXT_COLUMNS else ())
    if step in ("generate", "paraphrase"):
        function = data.generate_queries if step == "generate" else data.generate_paraphrases
        options = {"min_relevance": args.min_relevance} if step == "generate" else {}
        result, report = function(dataset, generator=_generator(args, args.model), text_column=column or "text",
                                  id_column=args.id_column, prompt_version=args.prompt_version, journal_path=journal,
                                  return_report=True, **options)
    elif step == "label":
        generators = [_generator(args, model) for model in args.model]
        result, report = data.label_relevance(
            dataset, generators=generators, query_column=args.query_column, document_column=column or "document",
            id_column=args.id_column if args.id_column in dataset.column_names else None,
            positive_grades=tuple(args.positive_grades), negative_grades=tuple(args.negative_grades),
            prompt_version=args.prompt_version, journal_path=journal, return_report=True)
    elif step == "mine":
        corpus = read_jsonl(args.corpus, text_columns=[args.corpus_column])[args.corpus_column] if args.corpus \
            else None
        options = data.MiningOptions(
            anchor_column=args.anchor_column, positive_column=column or "document", group_column=args.group_column,
            num_negatives=args.num_negatives, candidates_per_query=args.candidates_per_query,
            range_min=args.range_min, relative_margin=args.relative_margin, absolute_margin=args.absolute_margin,
            max_score=args.max_score, output_format=args.output_format, batch_size=args.encode_batch_size)
        result, report = data.mine_negatives(dataset, _embedding_model(args), options=options, corpus=corpus,
                                             cache_dir=args.cache_dir, return_report=True)
    elif step == "diversify":
        result, report = data.diversify(
            dataset, column=column or "query", route=args.route, model=_embedding_model(args),
            threshold=args.threshold, k=args.k, n=args.n, batch_size=args.batch_size, index_factory=args.index_factory,
            cache_dir=args.cache_dir, encode_batch_size=args.encode_batch_size, return_report=True)
    elif step == "textbook":
        result, report = data.ingest_textbook(
            dataset, min_words=args.min_words, max_words=args.max_words,
            near_duplicate_threshold=args.near_duplicate_threshold or None, return_report=True)
    elif step == "scrub":
        columns = [column or "text", *args.extra_column]
        result, phi_report = data.scrub_phi(dataset, columns=columns, kinds=args.kinds, method=args.method,
                                            numbered=not args.unnumbered, num_proc=args.num_proc, return_report=True)
        report = phi_report
    else:  # decontaminate
        eval_set = data.EvalSet()
        for path in args.eval:
            eval_set.add(_eval_set(args, path))
        model = _embedding_model(args) if args.model else None
        result, report = data.decontaminate(
            dataset, eval_texts=eval_set, columns=[column] if column else None, id_columns=args.id_columns,
            near_duplicate_threshold=args.near_duplicate_threshold or None, ngram_overlap=args.ngram_overlap or None,
            model=model, embedding_threshold=args.embedding_threshold, return_report=True)
    write_jsonl(result, args.output)  # a temporary file moved into place
    summary = json.dumps(_report_dict(report), indent=2, ensure_ascii=False)
    if args.report:
        _write_text_atomic(args.report, summary + "\n")
    print(summary, file=sys.stderr)
    print(f"wrote {len(result)} rows to {args.output}")
    return 0
