"""examples/mar/cpu.yaml end to end on real models (all-MiniLM-L6-v2 + SmolLM2-135M with LoRA, truncate bridge), ~3-11
min on 2 cores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from sbert_med.data.beir import load_beir
from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower
from sbert_med.recipes import load_recipe_config, mar
from sbert_med.recipes.evaluators import ir_evaluator
from sbert_med.recipes.mar import train_mar

REPO = Path(__file__).resolve().parents[2]


def test_cpu_config_beats_base(tmp_path, minilm_path, smollm2_path, samples, trained_in_memory):
    """After init + Stage I + Stage II the asymmetric model beats, on held-out MedQuAD test queries, both untrained
    starting points: the asymmetric model assembled from the untrained towers (by a clear margin) and the document
    tower it adapts (SmolLM2 pooled on EOS). At this CPU size the gain is modest (truncate bridge: 0.081 nDCG@10
    against 0.034 / 0.033); BENCHMARKS.md has the longer run. It reloads plainly with identical embeddings on both
    routes."""
    config = load_recipe_config(
        REPO / "examples" / "mar" / "cpu.yaml",
        [
            f"output_dir={tmp_path / 'run'}",
            f"query_model={minilm_path}",
            f"document_model={smollm2_path}",
            f"train_data={samples}/medquad/train_pairs.tsv",
            "show_progress_bar=false",
        ],
    )
    test = load_beir(
        samples / "medquad", "test", max_queries=150, max_corpus=200
    )
    evaluator = ir_evaluator(test, name="test")
    document_tower = eos_tower(smollm2_path, max_seq_length=config.document_max_length)
    base_document = SentenceTransformer(modules=document_tower, device="cpu")
    base_document_score = evaluator(base_document)[evaluator.primary_metric]
    untrained = build_asymmetric_model(
        encoder_tower(minilm_path, pooling="mean", max_seq_length=config.query_max_length),
        document_tower,
        bridge=config.bridge,
    )
    untrained_score = evaluator(untrained)[evaluator.primary_metric]
    del base_document, untrained, document_tower

    trained = trained_in_memory(mar)
    model_dir = train_mar(config)
    model = SentenceTransformer(model_dir, device="cpu")
    after = evaluator(model)[evaluator.primary_metric]
    print({"untrained document tower": base_document_score, "untrained asymmetric": untrained_score, "MAR": after})
    scores = (base_document_score, untrained_score, after)
    assert after > untrained_score + 0.03 and after > base_document_score, scores
    texts = ["What causes gout?", "Gout is caused by uric acid crystals."]
    # the plain reload gives the trained model's embeddings on both routes
    np.testing.assert_allclose(model.encode_query(texts), trained[0].encode_query(texts), atol=1e-5)
    np.testing.assert_allclose(model.encode_document(texts), trained[0].encode_document(texts), atol=1e-5)
