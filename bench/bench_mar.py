"""MAR with a frozen embedding model as document tower: does a cheap query tower retrieve like the big model?

Towers: query all-MiniLM-L6-v2 (22M parameters); document EmbeddingGemma-300M, frozen, with its own prompts,
cut to the query width (384 of its 768 dimensions). Evaluation on whole splits: MedQuAD ``test_mini`` (300 queries
over 3,000 answers) and NFCorpus ``test`` (323 queries over 3,633 abstracts), documents cut to
``--document-max-length`` tokens for every row.

Rows, all measured in one run: MiniLM alone, the document tower alone, MAR after Stage I, MAR after Stage I + II,
MAR without Stage I (Stage II only); the query throughput (batch 32) and latency (batch 1, p50) of every row; the
time of one Stage I step with cached targets against the live frozen tower (same batch); the alignment curve
(mean nDCG@10 after Stage I on part of the alignment corpus); every row against MiniLM alone on the same queries
(``paired_vs_minilm``: a paired bootstrap of the two splits' mean, resampled within each split, and of each split,
from per-query graded nDCG@10 that must average to the row's MTEB figure).

The frozen document tower never changes, so everything it encodes is cached once (``sbert_med.encoding``, keyed by
the document route's fingerprint): Stage I targets, Stage II documents, and both evaluation corpora are encoded
once and shared by every row. A rerun resumes from the cache and from each finished training run.

Usage (the first run encodes ~30,000 texts with EmbeddingGemma on the CPU: start it in the background):
    nice -n 5 python bench/bench_mar.py --data-dir ../shared/data --medline-dir /tmp/medline/data \\
        --work-dir bench/_work/mar > /tmp/bench_mar.log 2>&1 &

Writes ``bench/results/mar.json`` and prints the Markdown table for BENCHMARKS.md. Until the run ends, every row it
measures here (not the scored GPU rows) is also written to ``bench/results/mar_partial.json`` (removed when
``mar.json`` is written), so that a commit keeps the rows measured so far when the work folder itself is lost.
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

from sbert_med.data.beir import load_beir  # noqa: E402
from sbert_med.encoding import encode_cached  # noqa: E402
from sbert_med.models import resolve_model  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED_DATA = Path(os.environ.get("SBERT_MED_SHARED", HERE.parents[1] / "shared")) / "data"
logger = logging.getLogger("bench_mar")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA)
    parser.add_argument("--medline-dir", type=Path, default=Path("/tmp/medline/data"))
    parser.add_argument("--work-dir", type=Path, default=HERE / "_work" / "mar")
    parser.add_argument("--query-model", default="minilm")
    parser.add_argument("--document-model", default="embeddinggemma-300m")
    parser.add_argument("--alignment-size", type=int, default=20000)
    parser.add_argument("--alignment-sources", choices=["benchmark", "with-nfcorpus-train-queries"],
                        default="benchmark",
                        help="the alignment corpus's sources (mar_alignment_corpus.py): SHARES, or "
                             "SHARES_WITH_NFCORPUS (adds NFCorpus train queries)")
    parser.add_argument("--curve", type=int, nargs="*", default=[2000, 5000], help="smaller Stage I corpora")
    parser.add_argument("--stage2-pairs", type=int, default=4000, help="MedQuAD train pairs of Stage II")
    parser.add_argument("--query-max-length", type=int, default=64)
    parser.add_argument("--document-max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=128, help="Stage I batch (the paper: 2,560)")
    parser.add_argument("--stage1-epochs", type=float, default=2.0)
    parser.add_argument("--stage1-learning-rate", type=float, default=2e-4)
    parser.add_argument("--stage1-linear-head", action="store_true",
                        help="fit the query tower's linear head before Stage I (stage1_linear_head, ours)")
    parser.add_argument("--stage1-negative-bank", type=int, default=0,
                        help="cached targets ranked as extra negatives in Stage I (stage1_negative_bank, ours)")
    parser.add_argument("--stage1-score-documents", type=int, default=0, metavar="N",
                        help="Stage I also distils EmbeddingGemma's ranking of N Stage II training answers "
                             "(stage1_score_documents, ours; 0: off)")
    parser.add_argument("--step-time-steps", type=int, default=4, help="Stage I steps timed, cached vs live")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--speed-rounds", type=int, default=3, help="rounds of the query speed pass (median)")
    parser.add_argument("--device-vectors", type=Path, default=None,
                        help="vectors of the frozen tower computed on a GPU machine (mar_device_encode.py's $OUT, "
                             "with the payload's texts.json.gz beside them): stored in the cache before anything runs")
    parser.add_argument("--device-rows", type=Path, default=None,
                        help="the MAR rows trained on a GPU machine (mar_device_train.py's $OUT): scored here "
                             "instead of training on this machine")
    parser.add_argument("--decoder-rows", type=Path, default=None,
                        help="the SmolLM2 decoder-path table computed on a GPU machine (mar_decoder_device.py)")
    parser.add_argument("--decoder-rows-from", type=Path, default=None,
                        help="an earlier run's mar.json: its decoder-path table is carried into this one, labelled "
                             "with that run's command and settings (for a run without a GPU, where the SmolLM2 "
                             "recipe is too slow to rerun)")
    parser.add_argument("--phase", choices=["prepare", "all"], default="all",
                        help="prepare: only encode what the frozen document tower must encode (the long part)")
    args = parser.parse_args()
    if args.decoder_rows is not None and args.decoder_rows_from is not None:
        parser.error("--decoder-rows and --decoder-rows-from are exclusive")
    return args


def document_tower(args: argparse.Namespace, query_width: int):
    """The frozen document model as the benchmark uses it everywhere: its own prompts, ``max_seq_length`` =
    ``--document-max-length``, cut to the query width."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model(args.document_model), device="cpu", truncate_dim=query_width)
    model.max_seq_length = args.document_max_length
    return model


def evaluate_row(model, tasks: dict, cache_dir: Path, batch_size: int) -> dict[str, float]:
    """nDCG@10 on every task (whole splits), their mean, and the query route's speed on the MedQuAD queries."""
    from sbert_med.evaluation.efficiency import measure_route_speed
    from sbert_med.evaluation.retrieval import evaluate_retrieval

    row = {}
    for name, data in tasks.items():
        row[name] = evaluate_retrieval(model, data, cache_dir=cache_dir, batch_size=batch_size,
                                       show_progress_bar=False)[None]["ndcg@10"]
    row["mean"] = sum(row[name] for name in tasks) / len(tasks)
    queries = list(tasks["medquad"].queries.values())
    speed = measure_route_speed(model, queries, route="query", batch_size=32, n_single=50, show_progress_bar=False)
    row.update(query_per_s=speed["batched_per_s"], query_p50_ms=speed["b1_p50_ms"])
    logger.info("row: %s", row)
    return row


def per_query_scores(model, tasks: dict, cache_dir: Path) -> dict[str, dict[str, float]]:
    """Graded nDCG@10 of every query of every task (``{task: {query_id: ndcg}}``, for the paired comparison with
    MiniLM), from the vectors the row's MTEB pass stored in its evaluation cache
    (``CachedSentenceTransformerEncoder.cache_for``): the very vectors MTEB scored, so nothing is encoded twice (a
    MAR row's documents are its frozen tower's, cached once for every row; on the GPU path they are the imported
    ones)."""
    from mar_decoder_score import per_query_ndcg_at_10
    from mteb.types import PromptType

    from sbert_med.evaluation.cached_encoder import CachedSentenceTransformerEncoder
    from sbert_med.evaluation.mteb_tasks import beir_retrieval_task

    encoder = CachedSentenceTransformerEncoder(model, cache_dir=cache_dir)
    scores = {}
    for task, data in tasks.items():
        metadata = beir_retrieval_task(data).metadata
        vectors = {}
        for prompt_type, texts in ((PromptType.query, data.queries.values()), (PromptType.document,
                                                                               data.corpus.values())):
            texts = list(dict.fromkeys(texts))
            cache = encoder.cache_for(metadata, prompt_type)
            missing = sum(text not in cache for text in texts)
            if missing:
                raise SystemExit(f"{task}: {missing} of {len(texts)} {prompt_type.value} texts are not in the MTEB "
                                 f"evaluation cache under {cache_dir}; the row must be evaluated first")
            vectors[prompt_type] = dict(zip(texts, cache.get(texts)))
        scores[task] = per_query_ndcg_at_10(data, vectors[PromptType.query], vectors[PromptType.document])
    return scores


def check_per_query(name: str, row: dict, scores: dict[str, dict[str, float]], tolerance: float = 5e-4) -> None:
    """The per-query scores must average to the row's figure (MTEB's, from its own encoding pass), or the paired
    comparison would speak about other numbers than the table's."""
    for task, by_query in scores.items():
        mean = sum(by_query.values()) / len(by_query)
        if abs(mean - row[task]) > tolerance:
            raise SystemExit(f"{name}, {task}: per-query scores average {mean:.5f}, the row says {row[task]:.5f}")


def paired_against_minilm(per_query: dict[str, dict]) -> dict[str, dict]:
    """Every row against MiniLM alone on the same queries: a paired bootstrap of the two splits' mean (resampled
    within each split) and of each split."""
    from sbert_med.evaluation.paired import paired_bootstrap, paired_bootstrap_over_datasets

    reference = per_query["MiniLM alone"]
    return {name: {"mean": paired_bootstrap_over_datasets(reference, scores),
                   **{task: paired_bootstrap(reference[task], by_query) for task, by_query in scores.items()}}
            for name, scores in per_query.items() if name != "MiniLM alone"}


def import_device_vectors(folder: Path, document, tasks: dict, cache_dir: Path) -> None:
    """Store the GPU machine's vectors under the keys this machine's code looks them up by: the encoding cache of
    ``encode_cached`` (document route fingerprint, route) and the MTEB evaluation cache (per task and prompt type).
    Only texts not yet cached are added, so importing twice is harmless."""
    import gzip

    import numpy as np
    from mteb.types import PromptType

    from sbert_med.encoding import EncodingCache, encoding_key
    from sbert_med.evaluation.cached_encoder import CachedSentenceTransformerEncoder
    from sbert_med.evaluation.mteb_tasks import beir_retrieval_task

    report = json.loads((folder / "report.json").read_text())
    if (report["max_seq_length"], report["truncate_dim"]) != (document.max_seq_length, document.truncate_dim):
        raise SystemExit(f"{folder}: vectors of max_seq_length/truncate_dim {report['max_seq_length']}/"
                         f"{report['truncate_dim']}, the benchmark uses {document.max_seq_length}/"
                         f"{document.truncate_dim}")
    groups = json.loads(gzip.decompress((folder / "texts.json.gz").read_bytes()))["groups"]
    by_route: dict[str, dict[str, np.ndarray]] = {"query": {}, "document": {}}
    for name, group in groups.items():
        vectors = np.load(folder / f"{name}.npy")
        by_route[group["route"]].update(zip(group["texts"], vectors))

    def add(cache: EncodingCache, texts: list[str], route: str) -> None:
        todo = [text for text in dict.fromkeys(texts) if text not in cache]
        if todo:
            cache.add(todo, np.stack([by_route[route][text] for text in todo]))

    for route, vectors in by_route.items():
        add(EncodingCache(cache_dir, encoding_key(document, route)), list(vectors), route)
    encoder = CachedSentenceTransformerEncoder(document, cache_dir=cache_dir)
    for data in tasks.values():
        metadata = beir_retrieval_task(data).metadata
        add(encoder.cache_for(metadata, PromptType.document), list(data.corpus.values()), "document")
        add(encoder.cache_for(metadata, PromptType.query), list(data.queries.values()), "query")
    logger.info("imported %d query and %d document vectors computed on %s", len(by_route["query"]),
                len(by_route["document"]), report.get("device"))


def prepare(args: argparse.Namespace, tasks: dict, cache_dir: Path):
    """Build the alignment corpus, encode with the frozen document tower everything the rows need (or import what
    a GPU machine encoded), and return the document tower."""
    from mar_alignment_corpus import SHARES, SHARES_WITH_NFCORPUS, build_alignment_corpus
    from sentence_transformers import SentenceTransformer

    from sbert_med.data.pairs import load_training_pairs

    work = args.work_dir
    shares = SHARES if args.alignment_sources == "benchmark" else SHARES_WITH_NFCORPUS
    alignment = build_alignment_corpus(args.data_dir, args.medline_dir, list(tasks.values()),
                                       size=args.alignment_size, seed=args.seed, path=work / "alignment.jsonl",
                                       shares=shares)
    query_width = SentenceTransformer(resolve_model(args.query_model), device="cpu").get_embedding_dimension()
    document = document_tower(args, query_width)
    if args.device_vectors is not None:
        import_device_vectors(args.device_vectors, document, tasks, cache_dir)
    start = time.perf_counter()
    encode_cached(document, [row["text"] for row in alignment], cache_dir=cache_dir, route="query",
                  batch_size=args.batch_size)
    logger.info("alignment targets: %.0f s", time.perf_counter() - start)
    pairs = load_training_pairs(str(args.data_dir / "medquad" / "train_pairs.tsv"), max_examples=args.stage2_pairs,
                                seed=args.seed)
    start = time.perf_counter()
    encode_cached(document, list(dict.fromkeys(pairs["positive"])), cache_dir=cache_dir, route="document",
                  batch_size=16)
    logger.info("Stage II documents: %.0f s", time.perf_counter() - start)
    return document


def mar_config(args: argparse.Namespace, name: str, cache_dir: Path, **overrides):
    """The benchmark's MAR config (frozen EmbeddingGemma document tower, ``examples/mar/frozen_cpu.yaml`` at the
    benchmark's scale): one run folder per row under ``--work-dir/runs``, one shared encoding cache."""
    from sbert_med.recipes.mar import MARConfig

    settings = dict(
        output_dir=str(args.work_dir / "runs" / name),
        query_model=resolve_model(args.query_model),
        query_pooling="mean",
        document_model=resolve_model(args.document_model),
        document_kind="sentence_transformers",
        bridge="truncate",
        query_max_length=args.query_max_length,
        document_max_length=args.document_max_length,
        train_data=str(args.data_dir / "medquad" / "train_pairs.tsv"),
        max_train_examples=args.stage2_pairs,
        alignment_data=str(args.work_dir / "alignment.jsonl"),
        alignment_max_texts=args.alignment_size,
        stage1_target_route="query",
        run_init=False,
        num_hard_negatives=1,
        mine_range_min=5,
        stage1_batch_size=args.batch_size,
        stage1_epochs=args.stage1_epochs,
        stage1_learning_rate=args.stage1_learning_rate,
        stage1_linear_head=getattr(args, "stage1_linear_head", False),
        stage1_negative_bank=getattr(args, "stage1_negative_bank", 0),
        stage1_score_documents=getattr(args, "stage1_score_documents", 0),
        stage1_temperature=0.1,
        stage2_batch_size=32,
        stage2_epochs=1,
        stage2_learning_rate=2e-5,
        stage2_temperature=0.02,
        encode_batch_size=16,
        cache_dir=str(cache_dir),
        save_steps=200,
        logging_steps=20,
        use_cpu=True,
        resume=True,
        show_progress_bar=False,
        seed=args.seed,
    )
    settings.update(overrides)
    return MARConfig(**settings)


def train(config) -> Path:
    from sbert_med.recipes.mar import train_mar

    start = time.perf_counter()
    model_dir = Path(train_mar(config))
    logger.info("%s trained in %.0f s", config.output_dir, time.perf_counter() - start)
    return model_dir


def load(path: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu")


def seconds_per_step(info: dict) -> float:
    """A stage's training-loop seconds per optimizer step, from what ``RunFolder.train`` recorded."""
    return info["train_runtime_s"] / info["global_step"]


#: The step-time runs (cached against live targets, same batch) leave out what needs cached targets, the linear head,
#: the negative bank and the score bank (``MARConfig`` refuses them with live targets), in both runs alike: the two
#: differ only in where the targets come from. The head alone is one 384 x 384 ``Dense`` layer a step.
STEP_TIME_SETTINGS = {"run_stage2": False, "stage1_linear_head": False, "stage1_negative_bank": 0,
                      "stage1_score_documents": 0}


def stage1_step_seconds(args: argparse.Namespace, cache_dir: Path, steps: int) -> dict[str, float]:
    """Seconds per Stage I step (same batch, same texts) with cached targets and with the live frozen tower."""
    result = {}
    for targets in ("cached", "live"):
        config = mar_config(args, f"step_time_{targets}", cache_dir, **STEP_TIME_SETTINGS, stage1_targets=targets,
                            stage1_max_steps=steps, alignment_max_texts=steps * args.batch_size)
        model_dir = train(config)
        info = json.loads((model_dir.parent / "stages" / "stage1" / "STAGE_DONE").read_text())
        result[targets] = seconds_per_step(info)
    return result


def train_rows_here(args: argparse.Namespace, cache_dir: Path, rows: dict, row) -> tuple[dict, dict]:
    """The MAR rows trained and evaluated on this machine (MTEB, the cached document vectors)."""
    full = train(mar_config(args, "full", cache_dir))
    row("MAR after Stage I", lambda: load(full.parent / "stages" / "stage1"))
    row("MAR after Stage I + II", lambda: load(full))
    no_stage1 = train(mar_config(args, "no_stage1", cache_dir, run_stage1=False))
    row("MAR without Stage I (Stage II only)", lambda: load(no_stage1))
    curve = {}
    for size in args.curve:
        model_dir = train(mar_config(args, f"stage1_{size}", cache_dir, run_stage2=False, alignment_max_texts=size))
        row(f"MAR after Stage I on {size} texts", lambda model_dir=model_dir: load(model_dir))
        curve[size] = rows[f"MAR after Stage I on {size} texts"]["mean"]
    curve[args.alignment_size] = rows["MAR after Stage I"]["mean"]
    return curve, {"device": "this machine", **stage1_step_seconds(args, cache_dir, steps=args.step_time_steps)}


#: ``mar_device_train.py``'s rows (the same configs trained on the GPU machine) and their names here
DEVICE_ROWS = {
    "mar_stage1": "MAR after Stage I",
    "mar_stage1_2": "MAR after Stage I + II",
    "mar_no_stage1": "MAR without Stage I (Stage II only)",
    "mar_stage1_2000": "MAR after Stage I on 2000 texts",
    "mar_stage1_5000": "MAR after Stage I on 5000 texts",
}
DECODER_ROWS = {
    "document_tower": "SmolLM2-135M document tower alone (after its Matryoshka + LoRA initialisation)",
    "query_tower": "MiniLM query tower alone (after its initialisation)",
    "mar_stage1": "MAR after Stage I",
    "mar_stage1_2": "MAR after Stage I + II",
    "mar_no_stage1": "MAR without Stage I (Stage II only)",
}


def score_device_rows(args: argparse.Namespace, tasks: dict, rows: dict, extra: dict,
                      per_query: dict) -> tuple[dict, dict]:
    """Rows trained on the GPU machine (``mar_device_train.py``): their query vectors against the frozen tower's
    document vectors, scored as MTEB scores them (``mar_decoder_score.ndcg_at_10``, checked on the document tower
    row first); the decoder table (``mar_decoder_device.py``) likewise when ``--decoder-rows`` is given."""
    import numpy as np
    from mar_decoder_score import check, eval_texts, per_query_ndcg_at_10, score_rows

    texts = args.device_vectors / "texts.json.gz"
    checked = check(args.device_vectors, tasks)
    for task, value in checked.items():  # the scorer must give MTEB's figure on the same vectors
        if abs(value - rows["document tower alone"][task]) > 1e-4:
            raise SystemExit(f"scorer check failed on {task}: {value} vs MTEB {rows['document tower alone'][task]}")
    extra["scorer_check"] = {"document tower alone, MTEB": {t: rows["document tower alone"][t] for t in tasks},
                             "document tower alone, mar_decoder_score": checked}
    queries, documents = eval_texts(texts)
    by_document = dict(zip(documents, np.load(args.device_vectors / "eval_documents.npy")))
    for name, label in DEVICE_ROWS.items():
        by_query = dict(zip(queries, np.load(args.device_rows / f"{name}.npz")["queries"]))
        per_query[label] = {task: per_query_ndcg_at_10(data, by_query, by_document) for task, data in tasks.items()}
        rows[label] = {task: sum(scores.values()) / len(scores) for task, scores in per_query[label].items()}
        rows[label]["mean"] = sum(rows[label][task] for task in tasks) / len(tasks)
    report = json.loads((args.device_rows / "report.json").read_text())
    extra["device_training"] = report
    curve = {size: rows[f"MAR after Stage I on {size} texts"]["mean"] for size in (2000, 5000)}
    curve[args.alignment_size] = rows["MAR after Stage I"]["mean"]
    runs = report["runs"]
    step_seconds = {"device": report["gpu"]}
    for targets in ("cached", "live"):
        step_seconds[targets] = seconds_per_step(runs[f"step_time_{targets}"]["stages"]["stage1"])
    if args.decoder_rows is not None:
        decoder = score_rows(args.decoder_rows, texts, tasks, list(DECODER_ROWS))
        extra["decoder_rows"] = {DECODER_ROWS[name]: row for name, row in decoder.items()}
        extra["decoder_training"] = json.loads((args.decoder_rows / "report.json").read_text())
    return curve, step_seconds


def speed_pass(args: argparse.Namespace, rows: dict, minilm) -> None:
    """Query throughput (batch 32) and latency (batch 1, p50) of every row, measured one after the other in this
    call. Every MAR row has the same query route (all-MiniLM-L6-v2 at ``--query-max-length``, with the linear head
    when Stage I fitted one), measured once: on the full run's trained model when it was trained here, else (rows
    trained on a GPU machine) on the assembled untrained model, whose query route lacks the head (one 384 x 384
    ``Dense`` layer)."""
    import numpy as np

    from sbert_med.evaluation.efficiency import measure_route_speed
    from sbert_med.recipes.mar import assemble_mar_model

    queries = [json.loads(line)["text"] for line in
               (args.data_dir / "medquad" / "queries.jsonl").read_text().splitlines()[:300]]
    trained = args.work_dir / "runs" / "full" / "model"
    mar = load(trained) if trained.is_dir() else assemble_mar_model(mar_config(args, "speed", args.work_dir / "cache"),
                                                                    resolve_model(args.query_model))
    models = {"MiniLM alone": minilm(), "document tower alone": document_tower(args, 384), "MAR": mar}
    # rounds over the models in turn, the median of each: a machine whose load changes during the pass slows every
    # model alike instead of the one measured at the worst moment
    measured: dict[str, list[dict]] = {name: [] for name in models}
    for _ in range(args.speed_rounds):
        for name, model in models.items():
            speed = measure_route_speed(model, queries, route="query", batch_size=32, n_single=50,
                                        show_progress_bar=False)
            measured[name].append(speed)
    speeds = {}
    for name, runs in measured.items():
        speeds[name] = {"query_per_s": float(np.median([run["batched_per_s"] for run in runs])),
                        "query_p50_ms": float(np.median([run["b1_p50_ms"] for run in runs]))}
        logger.info("%s query speed: %s", name, speeds[name])
    for name, row in rows.items():
        row.update(speeds[name] if name in speeds else speeds["MAR"])


def earlier_decoder_table(path: Path) -> dict:
    """The decoder-path table of an earlier ``mar.json``, with where it comes from (read before this run writes)."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"--decoder-rows-from {path}: {error}") from None
    if "decoder_rows" not in earlier:
        raise SystemExit(f"{path} holds no decoder_rows")
    return {"decoder_rows": earlier["decoder_rows"], "decoder_training": earlier.get("decoder_training"),
            "decoder_rows_from": {"file": str(path), "command": earlier.get("command"),
                                  "settings": earlier.get("settings"),
                                  "note": "the decoder table of that earlier run, not rerun in this one"}}


def table(rows: dict[str, dict]) -> str:
    document = rows["document tower alone"]
    minilm = rows["MiniLM alone"]
    lines = ["| row | MedQuAD test_mini | NFCorpus test | mean nDCG@10 | % of document tower | queries/s (batch 32) "
             "| p50 ms (batch 1) | query time vs MiniLM |", "|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['medquad']:.4f} | {row['nfcorpus']:.4f} | {row['mean']:.4f} | "
                     f"{100 * row['mean'] / document['mean']:.1f}% | {row['query_per_s']:.1f} | "
                     f"{row['query_p50_ms']:.1f} | {minilm['query_per_s'] / row['query_per_s']:.2f}x |")
    return "\n".join(lines)


def run_settings(args: argparse.Namespace) -> dict:
    """What the rows depend on besides the data: recorded in ``mar.json`` and beside ``rows.json``."""
    return {"document_max_length": args.document_max_length, "query_max_length": args.query_max_length,
            "truncate_dim": 384, "alignment_size": args.alignment_size, "stage2_pairs": args.stage2_pairs,
            "alignment_sources": args.alignment_sources,
            "stage1_epochs": args.stage1_epochs, "stage1_batch_size": args.batch_size,
            "stage1_learning_rate": args.stage1_learning_rate,
            "stage1_linear_head": args.stage1_linear_head,
            "stage1_negative_bank": args.stage1_negative_bank,
            "stage1_score_documents": args.stage1_score_documents}


def check_rows_settings(work_dir: Path, settings: dict) -> None:
    """Refuse a work folder whose finished rows (``rows.json``) were measured with other settings: a rerun reuses
    every finished row, so they must be this call's. ``rows.settings.json`` records them at the first call past
    ``--phase prepare`` (whose one row, the document tower alone, depends on the document length only); a folder from
    before it existed takes this call's (a setting it lacks counts as this call's too: the option is newer)."""
    recorded_path = work_dir / "rows.settings.json"
    if recorded_path.exists():
        recorded = json.loads(recorded_path.read_text())
        changed = {key: (recorded[key], value) for key, value in settings.items()
                   if key in recorded and recorded[key] != value}
        if changed:
            shown = ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changed.items())
            raise SystemExit(f"{work_dir}: its finished rows were measured with other settings ({shown}); "
                             "give another --work-dir, or delete rows.json, per_query.json and rows.settings.json")
    recorded_path.write_text(json.dumps(settings, indent=2))


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.manual_seed(args.seed)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = args.work_dir / "cache"
    tasks = {
        "medquad": load_beir(args.data_dir / "medquad", "test_mini", corpus_file="corpus_mini.jsonl"),
        "nfcorpus": load_beir(args.data_dir / "nfcorpus", "test"),
    }
    started = time.perf_counter()
    earlier_decoder = earlier_decoder_table(args.decoder_rows_from) if args.decoder_rows_from else {}
    rows_path = args.work_dir / "rows.json"
    rows = json.loads(rows_path.read_text()) if rows_path.exists() else {}
    per_query_path = args.work_dir / "per_query.json"
    per_query = json.loads(per_query_path.read_text()) if per_query_path.exists() else {}

    partial = HERE / "results" / "mar_partial.json"

    def row(name: str, make_model) -> None:
        model = None
        if name not in rows:
            model = make_model()
            rows[name] = evaluate_row(model, tasks, cache_dir, batch_size=32)
            rows_path.write_text(json.dumps(rows, indent=2))
            # beside the work folder, where a commit keeps it: the rows measured so far outlive a lost work folder
            partial.write_text(json.dumps({
                "state": "unfinished run: the rows measured so far (mar.json is written when the run ends)",
                "command": "python bench/bench_mar.py " + " ".join(sys.argv[1:]),
                "settings": run_settings(args), "rows": rows}, indent=2) + "\n")
        if name not in per_query:
            per_query[name] = per_query_scores(model or make_model(), tasks, cache_dir)
            check_per_query(name, rows[name], per_query[name])
            per_query_path.write_text(json.dumps(per_query))

    row("document tower alone", lambda: prepare(args, tasks, cache_dir))
    if args.phase == "prepare":
        logger.info("prepared in %.0f s", time.perf_counter() - started)
        return
    check_rows_settings(args.work_dir, run_settings(args))

    def minilm():
        model = load(resolve_model(args.query_model))
        model.max_seq_length = args.document_max_length  # documents cut as for every row
        return model

    row("MiniLM alone", minilm)
    extra: dict = dict(earlier_decoder)
    if args.device_rows is not None:
        curve, step_seconds = score_device_rows(args, tasks, rows, extra, per_query)
    else:
        curve, step_seconds = train_rows_here(args, cache_dir, rows, row)
    speed_pass(args, rows, minilm)
    rows_path.write_text(json.dumps(rows, indent=2))

    document, minilm_mean = rows["document tower alone"]["mean"], rows["MiniLM alone"]["mean"]
    result = {
        "rows": {name: {key: row[key] for key in ("medquad", "nfcorpus", "mean", "query_per_s", "query_p50_ms")}
                 for name, row in rows.items()},
        "paired_vs_minilm": paired_against_minilm(per_query),
        "stage1_step_s": step_seconds,
        "alignment_curve": {str(size): curve[size] for size in sorted(curve)},
        "goal": {"half_gap_mean": minilm_mean + (document - minilm_mean) / 2, "paper_98pct_mean": 0.98 * document},
        "settings": run_settings(args),
        **extra,
        "device_encoding": json.loads((args.device_vectors / "report.json").read_text())
        if args.device_vectors else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), "
                   f"torch threads {torch.get_num_threads()}",
        "command": "python bench/bench_mar.py " + " ".join(sys.argv[1:]),
        "wall_seconds_this_call": time.perf_counter() - started,
    }
    out = HERE / "results" / "mar.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    partial.unlink(missing_ok=True)
    print(table(rows))
    for name, row in extra.get("decoder_rows", {}).items():
        print(f"| {name} | {row['medquad']:.4f} | {row['nfcorpus']:.4f} | {row['mean']:.4f} |")
    print(json.dumps({key: result[key] for key in ("stage1_step_s", "alignment_curve", "goal")}, indent=2))


if __name__ == "__main__":
    logger.info("machine: %s, %d CPU cores", platform.machine(), os.cpu_count())
    main()
