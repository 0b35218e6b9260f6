from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.recipes import ConfigError, load_recipe_config, medembed
from sbert_med.recipes.medeir import MedEIRConfig, train_medeir

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "medeir"


def test_example_configs_load():
    full = load_recipe_config(EXAMPLES / "full.yaml")
    assert isinstance(full, MedEIRConfig)
    assert full.model == "answerdotai/ModernBERT-base" and full.max_seq_length == 8192
    cpu = load_recipe_config(EXAMPLES / "cpu.yaml", ["contrastive.max_train_examples=10", "max_steps=3"])
    assert cpu.contrastive["max_train_examples"] == 10 and cpu.max_steps == 3
    assert cpu.contrastive["train_data"].endswith("train_pairs.tsv") and cpu.new_tokens == 500


def test_config_errors():
    with pytest.raises(ConfigError, match="new_tokens > 0 needs tokenizer_corpus"):
        MedEIRConfig(new_tokens=10)
    with pytest.raises(ConfigError, match=r"contrastive must not set \['model'\]"):
        MedEIRConfig(contrastive={"model": "x"})
    with pytest.raises(ConfigError, match="mlm_probability"):
        MedEIRConfig.from_dict({"mlm_probability": 2.0})
    with pytest.raises(ConfigError, match="unknown key 'mlm_step'"):
        MedEIRConfig.from_dict({"mlm_step": 3})


def _write_data(folder: Path, texts: list[str]) -> tuple[str, str]:
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(texts * 3))
    pairs = folder / "pairs.tsv"
    rows = ["query\tdocument"] + [f"{' '.join(text.split()[:4])}?\t{text}" for text in texts]
    pairs.write_text("\n".join(rows) + "\n")
    return str(corpus), str(pairs)


def test_tiny_recipe_end_to_end(tiny_encoder_path, tmp_path, tiny_corpus, trained_in_memory):
    corpus, pairs = _write_data(tmp_path, tiny_corpus)
    config = MedEIRConfig(
        output_dir=str(tmp_path / "run"), model=tiny_encoder_path, pooling="mean", max_seq_length=128,
        tokenizer_corpus=[corpus], new_tokens=5, token_min_frequency=2, token_vocab_size=2000,
        mlm_corpus=[corpus], mlm_max_steps=2, mlm_batch_size=4, mlm_max_length=32, mlm_eval_texts=4,
        contrastive={"train_data": pairs, "passage_max_length": 32, "query_max_length": 16},
        max_steps=2, batch_size=4, use_cpu=True, show_progress_bar=False, save_steps=100,
    )
    trained = trained_in_memory(medembed)  # the contrastive stage: the last model trained in memory
    model_dir = train_medeir(config)
    info = json.loads((tmp_path / "run" / "medeir_info.json").read_text())
    added = info["tokenizer_extension"]["num_added"]
    assert 1 <= added <= 5 and info["mlm"]["global_step"] == 2 and info["contrastive"]["global_step"] == 2
    model = SentenceTransformer(model_dir, device="cpu")
    assert len(model.tokenizer) == 30522 + added and model.max_seq_length == 128
    assert (Path(model_dir) / "README.md").is_file()
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Normalize"]
    np.testing.assert_allclose(model.encode(tiny_corpus), trained[0].encode(tiny_corpus), atol=1e-6)


@pytest.mark.slow
def test_cpu_recipe_on_minilm(tmp_path, minilm_path, samples, trained_in_memory):
    """Must be shown 2: extended all-MiniLM-L6-v2 after a short MLM + contrastive run reloads plainly."""
    config = load_recipe_config(EXAMPLES / "cpu.yaml", [
        f"output_dir={tmp_path / 'run'}", f"model={minilm_path}", "new_tokens=200", "mlm_max_texts=300",
        "mlm_max_steps=4", "mlm_eval_texts=16", "mlm_batch_size=8", "max_steps=4", "batch_size=8",
        "show_progress_bar=false", "contrastive.max_train_examples=64", "contrastive.dev_max_queries=20",
        "contrastive.dev_max_corpus=100",
        f"tokenizer_corpus=[{samples / 'openstax_ap2e' / 'paragraphs.jsonl'}]",
        f"mlm_corpus=[{samples / 'openstax_ap2e' / 'paragraphs.jsonl'}]",
        f"contrastive.train_data={samples / 'medquad' / 'train_pairs.tsv'}",
        f"contrastive.dev_data={samples / 'medquad'}",
    ])
    trained = trained_in_memory(medembed)
    model_dir = train_medeir(config)
    pretrained = json.loads((tmp_path / "run" / "stages" / "pretrained" / "STAGE_DONE").read_text())
    assert pretrained["tokenizer_extension"]["num_added"] == 200
    assert pretrained["mlm"]["eval_loss_after"] < pretrained["mlm"]["eval_loss_before"]
    model = SentenceTransformer(model_dir, device="cpu")  # plain reload, no trust_remote_code
    assert len(model.tokenizer) == 30522 + 200
    added = pretrained["tokenizer_extension"]["added"][0]
    assert model.tokenizer.tokenize(f"the {added} is") == ["the", added, "is"]
    texts = ["What causes high blood pressure?", f"The {added} is affected by hypertension."]
    np.testing.assert_allclose(model.encode(texts), trained[0].encode(texts), atol=1e-6)
    info = json.loads((tmp_path / "run" / "medeir_info.json").read_text())
    assert info["contrastive"]["dev"]["ndcg@10"] > 0.5
