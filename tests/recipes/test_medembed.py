from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from sbert_med.recipes import medembed
from sbert_med.recipes.medembed import MedEmbedConfig, build_medembed_evaluator, train_medembed


def test_triplets_train_save_reload(tmp_path, tiny_encoder_path, tiny_corpus, trained_in_memory, quick_run):
    rows = [
        {"query": f"question {i}: {t[:30]}", "pos": [t], "neg": [tiny_corpus[(i + 1) % 8]]}
        for i, t in enumerate(tiny_corpus)
    ]
    path = tmp_path / "triplets.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    config = MedEmbedConfig(model=tiny_encoder_path, train_data=str(path), num_negatives=1, batch_size=4, max_steps=2,
                            query_max_length=8, **quick_run)
    trained = trained_in_memory(medembed)
    model_dir = train_medembed(config)
    assert (Path(model_dir) / "README.md").is_file()
    info = json.loads((tmp_path / "run" / "train_info.json").read_text())
    assert info["global_step"] == 2 and info["resumed_from"] is None
    reloaded = SentenceTransformer(model_dir)
    emb = reloaded.encode(tiny_corpus)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)  # Normalize appended
    assert len(trained) == 1  # the reload gives the trained model's embeddings
    np.testing.assert_allclose(emb, trained[0].encode(tiny_corpus), atol=1e-6)


def test_mined_negatives_are_cached_for_resume(tmp_path, tiny_encoder_path, qa_pairs_tsv, quick_run):
    config = MedEmbedConfig(model=tiny_encoder_path, train_data=qa_pairs_tsv, mine_negatives=1, mine_range_min=0,
                            batch_size=4, max_steps=1, **quick_run)
    train_medembed(config)
    from datasets import load_from_disk

    mined = load_from_disk(str(tmp_path / "run" / "data" / "train_mined"))
    assert mined.column_names == ["anchor", "positive", "negative_1"]
    assert all(neg != pos for pos, neg in zip(mined["positive"], mined["negative_1"]))


def test_cpu_config_beats_base(minilm_path, samples, trained_in_memory, cpu_example):
    """examples/medembed/cpu.yaml end to end on all-MiniLM-L6-v2: dev nDCG@10 above the untrained model's."""
    config = cpu_example("medembed", model=minilm_path, train_data=f"{samples}/medquad/train_pairs.tsv",
                         dev_data=f"{samples}/medquad", max_train_examples=256)
    evaluator = build_medembed_evaluator(config)
    base = SentenceTransformer(minilm_path, device="cpu")
    base.max_seq_length = config.passage_max_length
    before = evaluator(base)[evaluator.primary_metric]
    trained = trained_in_memory(medembed)
    model_dir = train_medembed(config)
    model = SentenceTransformer(model_dir, device="cpu")
    after = evaluator(model)[evaluator.primary_metric]
    assert after > before, (before, after)
    texts = ["What causes gout?", "Gout is caused by uric acid crystals."]
    np.testing.assert_allclose(model.encode(texts), trained[0].encode(texts), atol=1e-6)
