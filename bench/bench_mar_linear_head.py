"""Does a closed-form linear head make MAR's Stage I pay off at CPU scale? (``stage1_linear_head``, ours)

Usage:
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 3000 8000 --stage1-epochs 2
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 3000 --stage1-epochs 8 --variants head \
        --out bench/results/mar_linear_head_8_epochs.json    # a longer Stage I after the head
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 3000 --variants head bank \
        --out bench/results/mar_negative_bank.json    # every cached target as extra negatives (stage1_negative_bank)
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 3000 --variants head \
        --stage1-learning-rates 1e-3 3e-4 1e-4 3e-3 --out bench/results/mar_head_learning_rate.json
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes --models "MAR=runs/mar-frozen-cpu/model" \
        --out bench/results/mar_frozen_cpu_dev.json    # score trained models on the same split, no training

The setting of ``examples/mar/frozen_cpu.yaml``: query tower all-MiniLM-L6-v2, document tower EmbeddingGemma-300M
frozen (its own prompts, cut to 384), alignment texts cut to 48 MiniLM tokens, Stage I only (no Stage II), the
recipe's own code (``train_mar``). Alignment texts: the questions and answers of MedQuAD **train** (seeded order).

Evaluation: MedQuAD **dev**, every query (1,406) over the pool of documents they judge (1,358), documents at 128
tokens, nDCG@10. A model-selection split, not the issue's figure (MedQuAD test_mini + NFCorpus test, 256 tokens):
the pool holds no distractors, so figures are higher than on test_mini. Every row is measured in the same run;
document vectors are EmbeddingGemma's (the MAR models' document route is EmbeddingGemma unchanged, so its vectors
are shared). Rows: MiniLM alone, EmbeddingGemma alone, the linear head alone (fitted, no training), Stage I without
the head (the recipe as before), Stage I after the head, Stage I after the head with a negative bank of all the
size's cached targets, Stage I after the head with one of its two terms (the paper's ablations), and any
``--models``. Writes ``--out`` (default
``bench/results/mar_linear_head.json``). A rerun resumes the finished run folders under ``--work-dir`` (the
recipe skips done stages; each row's ``train_runtime_s`` and ``seconds_per_step`` are the stage's own record, which
a resumed run keeps, while ``wall_s`` is this call's time for the row).
Every trained row after the first of its size carries a paired bootstrap over the queries against that first row
(``vs <row>``: mean difference, 95% interval, wins and losses).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
# variant -> (row name suffix, overrides); a {size} in an override is the run's number of alignment texts
VARIANTS = {
    "plain": ("", ["stage1_linear_head=false"]),
    "head": (" after the linear head", ["stage1_linear_head=true"]),
    "bank": (" after the linear head, negative bank of all targets",
             ["stage1_linear_head=true", "stage1_negative_bank={size}"]),
    "mse-only": (" after the linear head, MSE term only", ["stage1_linear_head=true", "stage1_contrastive_weight=0"]),
    "infonce-only": (" after the linear head, InfoNCE term only", ["stage1_linear_head=true", "stage1_mse_weight=0"]),
}
CONFIG = HERE.parent / "examples" / "mar" / "frozen_cpu.yaml"


def _alignment_texts(data_dir: Path, tokenizer, max_tokens: int) -> list[str]:
    from sbert_med.data.alignment import load_alignment_texts
    from sbert_med.data.pairs import truncate_to_tokens

    texts = load_alignment_texts(data_dir / "medquad" / "train_pairs.tsv")
    random.Random(42).shuffle(texts)
    return [t for t in dict.fromkeys(truncate_to_tokens(texts, tokenizer, max_tokens)) if t.strip()]


def _per_query(query_vectors, doc_vectors, data, pool) -> dict[str, float]:
    from sbert_med.evaluation.paired import per_query_ndcg

    return per_query_ndcg(query_vectors, doc_vectors, list(data.queries), pool, data.relevant_docs)


def _ndcg(query_vectors, doc_vectors, data, pool) -> float:
    scores = _per_query(query_vectors, doc_vectors, data, pool)
    return round(sum(scores.values()) / len(scores), 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="*", default=[3000, 8000], help="alignment texts per run")
    parser.add_argument("--models", nargs="*", default=[], metavar="NAME=PATH",
                        help="trained MAR models to score beside the baselines (e.g. a frozen_cpu.yaml run)")
    parser.add_argument("--stage1-epochs", type=float, default=2.0)
    parser.add_argument("--stage1-learning-rates", type=float, nargs="*", default=[],
                        help="train every variant at each of these Stage I rates (default: the config's, 1e-3)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["plain", "head"],
                        help="which Stage I runs to train per size: without the head, after it, after it with "
                             "every cached target of the size as extra negatives (stage1_negative_bank), after it "
                             "with the MSE or the InfoNCE term alone")
    parser.add_argument("--work-dir", type=Path, default=HERE / "_work" / "mar_linear_head")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "mar_linear_head.json")
    args = parser.parse_args()
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from sbert_med.data.beir import load_beir
    from sbert_med.encoding import encode_cached
    from sbert_med.evaluation.paired import paired_bootstrap
    from sbert_med.modules import fit_linear_head
    from sbert_med.modules.query_head import _route_outputs
    from sbert_med.recipes import mar as mar_module
    from sbert_med.recipes.registry import load_recipe_config

    torch.manual_seed(0)
    cache = args.work_dir / "cache"
    base = load_recipe_config(CONFIG, [f"cache_dir={cache}", "run_stage2=false", "alignment_max_texts=0",
                                       f"stage1_epochs={args.stage1_epochs}"])
    data = load_beir(args.data_dir / "medquad", "dev", corpus_file="corpus.jsonl")
    pool = sorted({doc for relevant in data.relevant_docs.values() for doc in relevant})
    queries = list(data.queries.values())
    gemma = SentenceTransformer(base.document_model, device="cpu")
    gemma.max_seq_length = base.document_max_length
    minilm = SentenceTransformer(base.query_model, device="cpu")
    minilm.max_seq_length = base.document_max_length

    def gemma_vectors(texts, route):
        return encode_cached(gemma, texts, cache_dir=cache, route=route, truncate_dim=384, batch_size=16)

    docs = gemma_vectors([data.corpus[d] for d in pool], "document")
    rows: dict[str, dict] = {
        "all-MiniLM-L6-v2 alone": {"ndcg@10": _ndcg(
            minilm.encode(queries, convert_to_numpy=True, show_progress_bar=False),
            encode_cached(minilm, [data.corpus[d] for d in pool], cache_dir=cache, route="document"), data, pool)},
        "EmbeddingGemma-300M alone (cut to 384)": {"ndcg@10": _ndcg(gemma_vectors(queries, "query"), docs, data,
                                                                     pool)},
    }
    minilm.max_seq_length = base.query_max_length
    texts = _alignment_texts(args.data_dir, minilm.tokenizer, base.alignment_max_length)
    model, prompts = mar_module._assemble(base, base.query_model, base.document_model)
    view = mar_module._document_view(model, base, {"query": prompts.get("query", ""),
                                                   "document": prompts.get("document", "")})
    query_inputs = _route_outputs(list(minilm)[:-1], queries, batch_size=64)  # MiniLM without its Normalize
    for size in args.sizes:
        chosen = texts[:size]
        targets = mar_module._encode_targets(base, view, chosen, route=base.stage1_target_route)
        start = time.perf_counter()
        head = fit_linear_head(_route_outputs(list(minilm)[:-1], chosen, batch_size=64), targets,
                               ridge=base.stage1_head_ridge)
        with torch.no_grad():
            mapped = head({"sentence_embedding": torch.from_numpy(query_inputs)})["sentence_embedding"].numpy()
        rows[f"linear head alone, {size} texts"] = {"ndcg@10": _ndcg(mapped, docs, data, pool),
                                                    "fit_s": round(time.perf_counter() - start, 2)}
        source = args.work_dir / f"alignment_{size}.jsonl"
        source.write_text("".join(json.dumps({"text": t}) + "\n" for t in chosen), encoding="utf-8")
        reference = None
        for variant, rate in [(v, r) for v in args.variants for r in args.stage1_learning_rates or [None]]:
            suffix, overrides = VARIANTS[variant]
            with_head = "stage1_linear_head=true" in overrides
            name = f"Stage I{suffix}, {size} texts" + (f", lr {rate:g}" if rate else "")
            folder = (f"run_{size}_{int(with_head)}" if variant in ("plain", "head") else f"run_{size}_{variant}") + (
                f"_lr{rate:g}" if rate else "")
            config = load_recipe_config(CONFIG, [
                f"cache_dir={cache}", "run_stage2=false", "alignment_max_texts=0",
                f"stage1_epochs={args.stage1_epochs}", f"alignment_data={source}",
                *[o.format(size=size) for o in overrides], *([f"stage1_learning_rate={rate}"] if rate else []),
                f"output_dir={args.work_dir / folder}",
            ])
            start = time.perf_counter()
            model_dir = mar_module.train_mar(config)
            trained = SentenceTransformer(model_dir, device="cpu")
            vectors = trained.encode_query(queries, convert_to_numpy=True, show_progress_bar=False)
            done = json.loads((Path(config.output_dir) / "stages" / "stage1" / "STAGE_DONE").read_text())
            scores = _per_query(vectors, docs, data, pool)
            rows[name] = {"ndcg@10": round(sum(scores.values()) / len(scores), 5),
                          "wall_s": round(time.perf_counter() - start),
                          **{key: done.get(key) for key in ("global_step", "train_runtime_s", "seconds_per_step",
                                                            "train_loss", "negative_bank")},
                          **({"fit": done["linear_head"]} if with_head else {})}
            if reference is None:
                reference = (name, scores)
            else:  # the size's first trained row is the reference of the others (paired bootstrap over queries)
                rows[name][f"vs {reference[0]}"] = paired_bootstrap(reference[1], scores)
            print(name, rows[name], flush=True)
    for spec in args.models:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).is_dir():
            parser.error(f"--models takes NAME=PATH with PATH a model folder, got {spec!r}")
        vectors = SentenceTransformer(path, device="cpu").encode_query(queries, convert_to_numpy=True,
                                                                        show_progress_bar=False)
        rows[name] = {"ndcg@10": _ndcg(vectors, docs, data, pool), "model": path}
    result = {
        "evaluation": f"MedQuAD dev: {len(queries)} queries over the {len(pool)} documents they judge, 128 tokens",
        "rows": rows,
        "settings": {"config": "examples/mar/frozen_cpu.yaml", "stage1_epochs": args.stage1_epochs,
                     "stage1_learning_rates": args.stage1_learning_rates or "the config's",
                     "sizes": args.sizes, "variants": args.variants, "stage2": "no (trained rows)",
                     "alignment": "MedQuAD train questions and answers"},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
        "numpy": np.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
