"""``sbert-med tokenizer``: analyse how tokenizers fragment medical words, and extend a model's tokenizer."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

#: Text files of a tokenizer or model folder that must be UTF-8 (checked to name the bad one in an error).
_TEXT_SUFFIXES = (".txt", ".json", ".model_card")


HELP = "medical tokenizer analysis (tokens per word, fragmentation) and extension (MedEIR)"
DESCRIPTION = (
    "Analyse how tokenizers fragment the words of a medical corpus, or learn whole-word medical "
    "tokens from a corpus and add them to a sentence-transformers model (embeddings = mean of the old pieces)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    analyze = actions.add_parser("analyze", help="tokens per word and share of fragmented words on a corpus")
    analyze.add_argument("--tokenizer", "-t", action="append", required=True,
                         help="tokenizer or model path / Hub id (repeat to compare)")
    analyze.add_argument("--corpus", "-c", required=True, help=".txt (a text per line), .jsonl or .tsv file")
    analyze.add_argument("--column", default=None, help="field/column of a .jsonl/.tsv file (e.g. 'term')")
    analyze.add_argument("--limit", type=int, default=None, help="read at most this many texts")
    analyze.add_argument("--top-k", type=int, default=20, help="most frequent fragmented words to list")
    analyze.add_argument("--json", default=None, help="also write the reports to this JSON file")
    analyze.set_defaults(func=run_analyze)

    extend = actions.add_parser("extend", help="learn medical tokens from a corpus and add them to a model")
    extend.add_argument("--model", "-m", required=True, help="sentence-transformers model path or Hub id")
    extend.add_argument("--corpus", "-c", action="append", required=True, help="corpus file (repeatable)")
    extend.add_argument("--column", default=None, help="field/column of .jsonl/.tsv corpus files")
    extend.add_argument("--output", "-o", required=True,
                        help="folder of the extended model: new or empty, never the model's own folder")
    extend.add_argument("--overwrite", action="store_true",
                        help="replace an existing output folder (never the source model's folder)")
    extend.add_argument("--new-tokens", type=int, default=1000, help="at most this many new tokens (default 1000)")
    extend.add_argument("--min-frequency", type=int, default=5, help="minimum corpus frequency (default 5)")
    extend.add_argument("--vocab-size", type=int, default=30000, help="WordPiece vocabulary trained on the corpus")
    extend.add_argument("--route", default=None, help="Router route to extend (models with a Router)")
    extend.add_argument("--no-progress", action="store_true", help="hide progress bars")
    extend.set_defaults(func=run_extend)


def run_analyze(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from sbert_med.data.corpus import read_texts
    from sbert_med.tokenizer import analyze_tokenizer

    if args.json and _same_file(args.json, args.corpus):
        raise ValueError(f"--json {args.json} is the corpus file; choose another path")
    texts = read_texts(args.corpus, column=args.column, limit=args.limit)
    reports = []
    for name in args.tokenizer:
        tokenizer = _load(AutoTokenizer.from_pretrained, name, what="tokenizer")
        report = analyze_tokenizer(tokenizer, texts, name=name, top_k=args.top_k)
        reports.append(report.to_dict())
        print(report.to_markdown() + "\n")
    if args.json:
        _write_text(Path(args.json), json.dumps({"corpus": args.corpus, "reports": reports}, indent=2))
    return 0


def run_extend(args: argparse.Namespace) -> int:
    from sentence_transformers import SentenceTransformer

    from sbert_med.data.corpus import read_texts
    from sbert_med.modules import find_transformer
    from sbert_med.tokenizer import extend_tokenizer, learn_medical_tokens

    output = Path(args.output)
    _check_output(output, source=args.model, overwrite=args.overwrite)
    texts: list[str] = []
    for corpus in args.corpus:
        texts += read_texts(corpus, column=args.column)
    model = _load(SentenceTransformer, args.model, what="model")
    tokenizer = find_transformer(model, route=args.route).tokenizer
    learned = learn_medical_tokens(texts, tokenizer, max_new_tokens=args.new_tokens, vocab_size=args.vocab_size,
                                   min_frequency=args.min_frequency, show_progress_bar=not args.no_progress)
    report = extend_tokenizer(model, learned, route=args.route, check_texts=texts)
    _save_into_place(output, overwrite=args.overwrite, write=lambda folder: (
        model.save(str(folder)),
        (folder / "tokenizer_extension.json").write_text(json.dumps(report.to_dict(), indent=2)),
    ))
    summary = {"added": len(report.added), "vocabulary": [report.old_vocab_size, report.new_vocab_size],
               "checked_texts": report.checked_texts, "texts_without_new_word_unchanged": report.unchanged_texts,
               "examples": report.added[:20]}
    print(json.dumps(summary, indent=2))
    return 0


def _check_output(output: Path, *, source: str, overwrite: bool) -> None:
    """Refuse an output that overlaps the source model's folder, is a file, or holds files (unless overwrite)."""
    if Path(source).exists():
        source_dir, out_dir = Path(source).resolve(), output.resolve()
        if source_dir == out_dir or source_dir in out_dir.parents or out_dir in source_dir.parents:
            raise ValueError(f"--output {output} overlaps the source model folder {source}; the source is never "
                             "written to, choose another folder")
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file, expected a folder")
    for parent in output.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"--output {output} is below {parent}, which is a file")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ValueError(f"--output {output} already holds files; pass --overwrite to replace them or choose "
                         "an empty folder")


def _save_into_place(output: Path, *, overwrite: bool, write) -> None:
    """Write the output into a temporary folder beside ``output``, then move it into place."""
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        write(staging)
        if output.is_dir():
            if overwrite:
                shutil.rmtree(output)
            else:
                output.rmdir()  # empty (checked before): replaced by the finished folder
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _same_file(a: str, b: str) -> bool:
    return Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve()


def _load(loader, name: str, *, what: str):
    """Load a model or tokenizer; a failure is a one-line error naming it (and its non-UTF-8 file, if any)."""
    try:
        return loader(name)
    except Exception as exc:  # transformers/tokenizers raise OSError, ValueError or a bare Exception
        bad = _first_non_utf8_file(Path(name)) if Path(name).is_dir() else None
        if bad is not None:
            raise ValueError(f"cannot load the {what} {name}: {bad} is not UTF-8 text") from exc
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = "no such folder, and not a Hub id available offline" if not Path(name).exists() else reason
        raise ValueError(f"cannot load the {what} {name}: {where}") from exc


def _first_non_utf8_file(folder: Path) -> Path | None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in _TEXT_SUFFIXES:
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                return path
    return None
