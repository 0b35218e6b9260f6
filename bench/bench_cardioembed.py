"""CardioEmbed ``examples/cardioembed/cpu.yaml`` before/after, measured on LLM paraphrases (issue #12, point 4).

Usage:
    sbert-med models fetch smollm2-135m qwen2.5-0.5b
    python bench/bench_cardioembed.py --data-dir ../shared/data

One run: ``train_cardioembed`` on the config as it is (SmolLM2-135M + LoRA + EOS pooling, trained on rule rewrites;
the held-out test sentences paraphrased by Qwen2.5-0.5B-Instruct, near copies left out by ``test_max_word_overlap``),
then the untrained base and the trained model both scored on the same held-out sentences twice: against their LLM
paraphrases (the recipe's own test pool) and against their rule rewrites (what the config measured before).
Acc@1 / Acc@5 / MRR of each sentence's paraphrase among all paraphrases of its pool; pool sizes and the mean word
overlap (Jaccard of word sets) of each pool are written beside the scores. Writes
``bench/results/cardioembed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="the shared data folder (openstax_ap2e/)")
    parser.add_argument("--config", type=Path, default=REPO / "examples" / "cardioembed" / "cpu.yaml")
    parser.add_argument("--work-dir", type=Path, default=HERE / "_work" / "cardioembed")
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    from sbert_med.models import resolve_model
    from sbert_med.recipes import cardioembed as recipe
    from sbert_med.recipes import load_recipe_config

    sentences = args.data_dir / "openstax_ap2e" / "sentences_cardiovascular.txt"
    config = load_recipe_config(args.config, [
        f"output_dir={args.work_dir}", f"sentences_file={sentences}",
        f"model={resolve_model('smollm2-135m')}", f"generator_model={resolve_model('qwen2.5-0.5b')}",
    ])
    start = time.perf_counter()
    model_dir = recipe.train_cardioembed(config)
    seconds = time.perf_counter() - start
    trained_results = json.loads((args.work_dir / "results.json").read_text())

    # the same held-out sentences, once with their LLM paraphrases (as kept), once with their rule rewrites
    split = recipe.split_pairs(recipe.build_paraphrase_pairs(config), config)
    llm_pool, _ = recipe.llm_test_pairs(split["test"], config)  # from the journal: nothing generated again
    kept = {pair["anchor"] for pair in llm_pool}
    rules_pool = [pair for pair in split["test"] if pair["anchor"] in kept]
    pools = {"llm paraphrases (kept)": llm_pool, "rule rewrites (same sentences)": rules_pool,
             "rule rewrites (all held-out)": split["test"]}
    models = {"SmolLM2-135M base (EOS pooling)": recipe.build_cardioembed_model(config),
              "cpu.yaml trained": SentenceTransformer(model_dir, device="cpu")}
    rows = {}
    for model_name, model in models.items():
        model.max_seq_length = config.max_seq_length
        for pool_name, pool in pools.items():
            scores = recipe.evaluate_paraphrase_retrieval(model, pool)
            rows.setdefault(model_name, {})[pool_name] = {key: round(value, 4) for key, value in scores.items()}
            print(f"{model_name} | {pool_name}: {rows[model_name][pool_name]}")
    result = {
        "command": "python bench/bench_cardioembed.py --data-dir ../shared/data",
        "config": str(args.config.relative_to(REPO)) if args.config.is_relative_to(REPO) else str(args.config),
        "rows": rows,
        "pools": {name: {"size": len(pool), "mean_word_overlap": recipe.mean_word_overlap(pool)}
                  for name, pool in pools.items()},
        "test_paraphrases": trained_results["test_paraphrases"],
        "recipe_results": {key: trained_results[key] for key in ("base", "trained", "pool_size", "sizes")},
        "examples": [{"sentence": p["anchor"], "llm": p["positive"],
                      "rules": next(r["positive"] for r in rules_pool if r["anchor"] == p["anchor"])}
                     for p in llm_pool[:5]],
        "train_and_generate_seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
    }
    (HERE / "results" / "cardioembed.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
