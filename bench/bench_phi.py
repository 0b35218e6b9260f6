"""PHI scrubbing: recall and precision per identifier kind, and throughput, Presidio scrubber vs the regex-only one.

Usage:
    taskset -c 0,1 python bench/bench_phi.py [--notes 200] [--seed 2026] [--prose 2000]

1. Make ``--notes`` synthetic notes of the ``"bench"`` template family (tests/data/synthetic_notes.py; the tests use
   the ``"test"`` family and another seed), with identifiers of every Safe Harbor kind planted at known spans and
   medical terms that must survive (brand drug names, eponymous diseases and signs, anatomy).
2. For each method (``presidio``: spaCy + medical recognizers + allow-list, the default; ``regex``: patterns only):
   recall per kind (a planted identifier counts when all its letters and digits are inside found spans), precision
   per found kind (a found span counts when it overlaps a planted identifier), medical terms touched, and
   throughput in notes per second (one process, warm; and ``scrub_phi`` with 2 processes, start-up included).
3. With ``--prose N``: the share of N OpenStax Anatomy & Physiology sentences (../shared/data) the scrubber changes
   (textbook prose carries no identifiers: every change there is a false positive).

Writes bench/results/phi.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SBERT_MED_SHARED", REPO.parent / "shared")) / "data"
sys.path.insert(0, str(REPO / "tests" / "data"))

from synthetic_notes import covered, make_notes, touched  # noqa: E402

from sbert_med.data.phi import ALL_KINDS, find_phi_batch, scrub_phi  # noqa: E402


def measure(notes, method: str) -> dict:
    find_phi_batch(["Warm-up: Mr. John Smith, MRN 1234567."], method=method)  # model and allow-list load
    start = time.perf_counter()
    found = find_phi_batch([note.text for note in notes], method=method)
    seconds = time.perf_counter() - start
    hit, planted, true, predicted = Counter(), Counter(), Counter(), Counter()
    keep_touched = keep_total = 0
    for note, matches in zip(notes, found):
        for kind, begin, end in note.identifiers:
            planted[kind] += 1
            hit[kind] += covered(begin, end, matches, note.text)
        spans = [_Span(begin, end) for _, begin, end in note.identifiers]
        for match in matches:
            predicted[match.kind] += 1
            true[match.kind] += touched(match.start, match.end, spans)
        keep_total += len(note.keep)
        keep_touched += sum(touched(begin, end, matches) for _, begin, end in note.keep)
    return {
        "notes_per_second": round(len(notes) / seconds, 2),
        "recall": {kind: round(hit[kind] / planted[kind], 4) for kind in ALL_KINDS if planted[kind]},
        "precision": {kind: round(true[kind] / predicted[kind], 4) for kind in ALL_KINDS if predicted[kind]},
        "recall_all": round(sum(hit.values()) / sum(planted.values()), 4),
        "precision_all": round(sum(true.values()) / max(1, sum(predicted.values())), 4),
        "planted": dict(planted),
        "medical_terms_touched": keep_touched,
        "medical_terms": keep_total,
    }


class _Span:
    def __init__(self, start: int, end: int):
        self.start, self.end = start, end


def two_processes(notes, method: str) -> float:
    from datasets import Dataset

    dataset = Dataset.from_dict({"text": [note.text for note in notes]})
    start = time.perf_counter()
    scrub_phi(dataset, method=method, num_proc=2)
    return round(len(notes) / (time.perf_counter() - start), 2)


def prose_changes(count: int, method: str) -> dict | None:
    path = SHARED_DATA / "openstax_ap2e" / "sentences_all.txt"
    if not count or not path.exists():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()[:count]
    found = find_phi_batch(lines, method=method)
    kinds = Counter(match.kind for matches in found for match in matches)
    return {"sentences": len(lines), "changed": sum(bool(matches) for matches in found), "kinds": dict(kinds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--prose", type=int, default=2000, help="OpenStax sentences to check (0: skip)")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "phi.json")
    args = parser.parse_args()

    notes = make_notes(args.notes, seed=args.seed, family="bench")
    results = {"date": date.today().isoformat(), "notes": len(notes), "seed": args.seed, "family": "bench",
               "cpus": len(os.sched_getaffinity(0)), "machine": platform.processor() or platform.machine(),
               "methods": {}}
    for method in ("presidio", "regex"):
        row = measure(notes, method)
        row["notes_per_second_2_processes"] = two_processes(notes, method)
        row["openstax_prose"] = prose_changes(args.prose, method)
        results["methods"][method] = row
        print(method, json.dumps(row), flush=True)
    presidio, regex = results["methods"]["presidio"], results["methods"]["regex"]
    results["regex_over_presidio_speed"] = round(regex["notes_per_second"] / presidio["notes_per_second"], 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(args.output.name + ".partial")
    partial.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    partial.replace(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
