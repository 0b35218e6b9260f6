"""How many NFCorpus **train** pairs a Stage II could use without touching an evaluation's labels.

Usage:
    python bench/nfcorpus_train_pairs_left.py --data-dir ../shared/data

Pairs: every train query with one of its highest-graded documents (seeded), the pairs a Stage II would take. They are
decontaminated with :func:`sbert_med.data.decontaminate` against NFCorpus dev, against test, and
against both, using :func:`sbert_med.data.beir_eval_set`'s default: a pair goes when its query repeats an evaluation
query (exact, near-duplicate, 13-gram) or its document is one the evaluation judges. NFCorpus's splits share one
corpus, so a document that is only a distractor of the evaluation leaks no label. Writes the counts to
``bench/results/nfcorpus_train_pairs_left.json`` (``--out``) and prints them.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "nfcorpus_train_pairs_left.json")
    args = parser.parse_args()
    from datasets import Dataset

    from sbert_med.data.beir import load_beir
    from sbert_med.data.decontaminate import EvalSet, beir_eval_set, decontaminate

    folder = args.data_dir / "nfcorpus"
    train = load_beir(folder, "train")
    rng = random.Random(42)
    best = []
    for qid in sorted(train.qrels):
        grades = train.qrels[qid]
        top = max(grades.values())
        if top > 0:
            document = rng.choice(sorted(doc for doc, grade in grades.items() if grade == top))
            best.append({"anchor": train.queries[qid], "positive": train.corpus[document]})
    splits = {"dev": [load_beir(folder, "dev")], "test": [load_beir(folder, "test")]}
    splits["dev+test"] = splits["dev"] + splits["test"]
    counts = {"train queries with a relevant document": len(best)}
    for against, evaluations in splits.items():
        eval_set = EvalSet()
        for data in evaluations:
            eval_set.add(beir_eval_set(data))
        kept = decontaminate(Dataset.from_list(best), eval_texts=eval_set, columns=["anchor", "positive"],
                             show_progress_bar=False)
        counts[f"pairs left against {against}"] = len(kept)
    args.out.write_text(json.dumps({"data": str(folder), "counts": counts}, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(counts, indent=1))


if __name__ == "__main__":
    main()
