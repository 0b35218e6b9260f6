"""Fragmentation of medical terms before vs after extending all-MiniLM-L6-v2's WordPiece tokenizer.

Usage:
    python bench/bench_tokenizer.py [--new-tokens 2000] [--write]

1. Learn ``--new-tokens`` whole-word medical tokens (``sbert_med.tokenizer.learn_medical_tokens``: a WordPiece
   vocabulary trained with ``tokenizers`` on the corpus; its whole words that the base tokenizer splits, ranked by
   tokens saved) from two corpora of ../shared/data, each kept apart from what it is measured on:
   * MedQuAD answers of the *train* topic pages + NFCorpus abstracts;
   * OpenStax Anatomy & Physiology 2e paragraphs of chapters 1-14.
2. Add them to all-MiniLM-L6-v2 (``extend_tokenizer``: single-word added tokens, embeddings = mean of old pieces).
3. Measure tokens per word and the share of words split into several tokens on held-out medical text:
   the OpenStax glossary terms of chapters 15-28 and the MedQuAD answers of the *test* topic pages; other
   tokenizers (mpnet, EmbeddingGemma, SmolLM2, Qwen2.5) are measured on the same text for reference.
4. Check on all 19,794 OpenStax sentences that every sentence without a new word tokenises exactly as before.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SBERT_MED_SHARED", REPO.parent / "shared")) / "data"


def split_docs(split: str) -> set[str]:
    with (SHARED_DATA / "medquad" / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
        next(handle)
        return {line.split("\t")[1] for line in handle if line.strip()}


def medquad_answers(doc_ids: set[str]) -> list[str]:
    with (SHARED_DATA / "medquad" / "corpus.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [row["text"] for row in rows if row["_id"] in doc_ids]


def openstax(chapters: range, *, file: str, field: str) -> list[str]:
    path = SHARED_DATA / "openstax_ap2e" / file
    if file.endswith(".jsonl"):
        with path.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        return [row[field] for row in rows if int(row["chapter"]) in chapters]
    with path.open(encoding="utf-8") as handle:
        header = next(handle).rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in handle if line.strip()]
    return list(dict.fromkeys(row[field] for row in rows if int(row["chapter"]) in chapters))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new-tokens", type=int, default=2000)
    parser.add_argument("--min-frequency", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write bench/tokenizer_fragmentation.{json,png}")
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from sbert_med.data.corpus import read_texts
    from sbert_med.models import models_dir, resolve_model
    from sbert_med.tokenizer import analyze_tokenizer, extend_tokenizer, learn_medical_tokens

    started = time.perf_counter()
    learn_corpora = {
        "MedQuAD train answers + NFCorpus": medquad_answers(split_docs("train"))
        + read_texts(SHARED_DATA / "nfcorpus" / "corpus.jsonl"),
        "OpenStax A&P ch. 1-14": openstax(range(1, 15), file="paragraphs.jsonl", field="text"),
    }
    eval_sets = {
        "glossary terms ch. 15-28": openstax(range(15, 29), file="glossary.tsv", field="term"),
        "MedQuAD test answers": medquad_answers(split_docs("test")),
    }
    sentences = read_texts(SHARED_DATA / "openstax_ap2e" / "sentences_all.txt")
    print({name: len(texts) for name, texts in {**learn_corpora, **eval_sets}.items()}, flush=True)

    rows = []

    def measure(label: str, tokenizer, extra: dict) -> None:
        row = {"tokenizer": label, **extra}
        for set_name, texts in eval_sets.items():
            report = analyze_tokenizer(tokenizer, texts, name=label, top_k=8)
            row[set_name] = {"tokens_per_word": report.tokens_per_word, "fragmented": report.fragmented_share,
                             "most_fragmented": report.most_fragmented}
        rows.append(row)
        print(json.dumps(row)[:400], flush=True)

    minilm_path = resolve_model("minilm")
    measure("all-MiniLM-L6-v2 (WordPiece, 30,522)", AutoTokenizer.from_pretrained(minilm_path), {})
    for corpus_name, corpus in learn_corpora.items():
        model = SentenceTransformer(minilm_path, device="cpu")
        new_tokens = learn_medical_tokens(corpus, model.tokenizer, max_new_tokens=args.new_tokens,
                                          min_frequency=args.min_frequency)
        report = extend_tokenizer(model, new_tokens, check_texts=sentences)
        measure(
            f"all-MiniLM-L6-v2 + {len(report.added):,} tokens from {corpus_name}",
            model.tokenizer,
            {"added": len(report.added), "examples": report.added[:12], "checked_sentences": report.checked_texts,
             "sentences_without_new_word_unchanged": report.unchanged_texts},
        )
    models = models_dir()
    references = [("all-mpnet-base-v2 (30,527)", "mpnet"), ("EmbeddingGemma-300m (262k)", "embeddinggemma-300m"),
                  ("SmolLM2-135M (49,152)", "smollm2-135m"), ("Qwen2.5-0.5B (151k)", "qwen2.5-0.5b")]
    for label, folder in references:
        if (models / folder / "DONE").exists():
            measure(label, AutoTokenizer.from_pretrained(str(models / folder)), {"reference": True})
    output = {"date": str(date.today()), "command": "python bench/bench_tokenizer.py " + " ".join(os.sys.argv[1:]),
              "sizes": {name: len(texts) for name, texts in {**learn_corpora, **eval_sets}.items()},
              "seconds": time.perf_counter() - started, "rows": rows}
    if args.write:
        (REPO / "bench" / "tokenizer_fragmentation.json").write_text(json.dumps(output, indent=2))
        plot(rows, list(eval_sets), REPO / "bench" / "tokenizer_fragmentation.png")
    print(markdown_table(rows, list(eval_sets)))


def markdown_table(rows: list[dict], set_names: list[str]) -> str:
    header = "| tokenizer | " + " | ".join(f"{name}: tokens/word | {name}: words split" for name in set_names) + " |"
    lines = [header, "|---|" + "---:|" * (2 * len(set_names))]
    for row in rows:
        cells = [f"{row[name]['tokens_per_word']:.3f} | {row[name]['fragmented']:.1%}" for name in set_names]
        lines.append(f"| {row['tokenizer']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], set_names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.8))
    y = np.arange(len(rows))[::-1]
    for offset, name in zip((-0.2, 0.2), set_names):
        ax.barh(y + offset, [row[name]["tokens_per_word"] for row in rows], height=0.38, label=name)
    ax.set_yticks(y, [row["tokenizer"] for row in rows], fontsize=7)
    ax.set_xlabel("tokens per word (lower = less fragmented)")
    ax.axvline(1.0, color="grey", lw=0.8)
    ax.legend(fontsize=8)
    ax.set_title("Medical term fragmentation (OpenStax glossary ch. 15-28; MedQuAD test answers)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
