"""examples/mar/cpu.yaml on real models (all-MiniLM-L6-v2 + SmolLM2-135M with LoRA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.recipes import load_recipe_config
from sbert_med.recipes._common import ir_evaluator
from sbert_med.recipes.data_io import load_retrieval_split
from sbert_med.recipes.mar import train_mar

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cpu_config_beats_base(tmp_path, minilm_path, smollm2_path, shared_data):
    """After init + Stage I + Stage II the asymmetric model beats the untrained document tower (the base it adapts)
    on held-out MedQuAD test queries, and reloads plainly with identical embeddings."""
    config = load_recipe_config(
        REPO / "examples" / "mar" / "cpu.yaml",
        [
            f"output_dir={tmp_path / 'run'}",
            f"query_model={minilm_path}",
            f"document_model={smollm2_path}",
            f"train_data={shared_data}/medquad/train_pairs.tsv",
            "max_train_examples=64",
            "batch_size=8",
            "stage1_batch_size=16",
            "stage2_batch_size=8",
        ],
    )
    test = load_retrieval_split(
        shared_data / "medquad", "test_mini", corpus_file="corpus_mini.jsonl", max_queries=40, max_corpus=120
    )
    evaluator = ir_evaluator(test, name="test")
    from sbert_med.modules import eos_tower

    base_document = SentenceTransformer(modules=eos_tower(smollm2_path, max_seq_length=config.document_max_length))
    before = evaluator(base_document)[evaluator.primary_metric]
    model_dir = train_mar(config)
    model = SentenceTransformer(model_dir)
    after = evaluator(model)[evaluator.primary_metric]
    assert after > before, (before, after)
    texts = ["What causes gout?", "Gout is caused by uric acid crystals."]
    np.testing.assert_allclose(
        model.encode_query(texts), SentenceTransformer(model_dir).encode_query(texts), atol=1e-6
    )
    np.testing.assert_allclose(
        model.encode_document(texts), SentenceTransformer(model_dir).encode_document(texts), atol=1e-6
    )
