"""``sbert-med tokenizer``: analyse how tokenizers fragment medical words, and extend a model's tokenizer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokenizer",
        help="medical tokenizer analysis (tokens per word, fragmentation) and extension (MedEIR)",
        description="Analyse how tokenizers fragment the words of a medical corpus, or learn whole-word medical "
        "tokens from a corpus and add them to a sentence-transformers model (embeddings = mean of the old pieces).",
    )
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
    extend.add_argument("--output", "-o", required=True, help="folder of the extended model")
    extend.add_argument("--new-tokens", type=int, default=1000, help="at most this many new tokens (default 1000)")
    extend.add_argument("--min-frequency", type=int, default=5, help="minimum corpus frequency (default 5)")
    extend.add_argument("--vocab-size", type=int, default=30000, help="WordPiece vocabulary trained on the corpus")
    extend.add_argument("--route", default=None, help="Router route to extend (models with a Router)")
    extend.add_argument("--no-progress", action="store_true", help="hide progress bars")
    extend.set_defaults(func=run_extend)


def run_analyze(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from sbert_med.medeir import analyze_tokenizer, read_texts

    texts = read_texts(args.corpus, column=args.column, limit=args.limit)
    reports = []
    for name in args.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(name)
        report = analyze_tokenizer(tokenizer, texts, name=name, top_k=args.top_k)
        reports.append(report.to_dict())
        print(report.to_markdown() + "\n")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"corpus": args.corpus, "reports": reports}, indent=2))
    return 0


def run_extend(args: argparse.Namespace) -> int:
    from sentence_transformers import SentenceTransformer

    from sbert_med.medeir import extend_tokenizer, learn_medical_tokens
    from sbert_med.medeir._towers import find_transformer
    from sbert_med.medeir.corpus import read_texts

    texts: list[str] = []
    for corpus in args.corpus:
        texts += read_texts(corpus, column=args.column)
    model = SentenceTransformer(args.model)
    tokenizer = find_transformer(model, route=args.route).tokenizer
    learned = learn_medical_tokens(texts, tokenizer, max_new_tokens=args.new_tokens, vocab_size=args.vocab_size,
                                   min_frequency=args.min_frequency, show_progress_bar=not args.no_progress)
    report = extend_tokenizer(model, learned, route=args.route, check_texts=texts)
    model.save(args.output)
    summary = {"added": len(report.added), "vocabulary": [report.old_vocab_size, report.new_vocab_size],
               "checked_texts": report.checked_texts, "texts_without_new_word_unchanged": report.unchanged_texts,
               "examples": report.added[:20]}
    Path(args.output, "tokenizer_extension.json").write_text(json.dumps(report.to_dict(), indent=2))
    print(json.dumps(summary, indent=2))
    return 0
