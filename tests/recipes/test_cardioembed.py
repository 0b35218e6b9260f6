from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.recipes import ConfigError, cardioembed
from sbert_med.recipes.cardioembed import CardioEmbedConfig, train_cardioembed
from sbert_med.recipes.paraphrase_rules import rule_paraphrase


def test_rule_paraphrase_is_deterministic_and_different():
    sentence = "The heart rate increases when red blood cells carry less oxygen (hypoxia), for example at altitude."
    out = rule_paraphrase(sentence, seed=1)
    assert out == rule_paraphrase(sentence, seed=1) and out != sentence
    assert "erythrocytes" in out.lower() and "(hypoxia)" not in out


def test_config_errors():
    with pytest.raises(ConfigError, match="generator_model"):
        CardioEmbedConfig(sentences_file="x.txt", paraphrases="llm")
    with pytest.raises(ConfigError, match="paraphrases_file"):
        CardioEmbedConfig(sentences_file="x.txt", paraphrases="file")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        train_cardioembed(CardioEmbedConfig(sentences_file="nope.txt", paraphrases="rules"))


def test_lora_eos_train_save_reload(tmp_path, tiny_decoder_path, samples, trained_in_memory, quick_run):
    config = CardioEmbedConfig(
        model=tiny_decoder_path,
        sentences_file=str(samples / "openstax_ap2e" / "sentences_cardiovascular.txt"),
        paraphrases="rules",
        max_sentences=40,
        val_fraction=0.1,
        test_fraction=0.25,
        max_seq_length=24,
        lora_r=4,
        lora_alpha=8,
        batch_size=8,
        max_steps=2,
        **quick_run,
    )
    trained = trained_in_memory(cardioembed)
    model_dir = train_cardioembed(config)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["pool_size"] == results["trained"]["pool_size"] == results["sizes"]["test"] >= 9
    assert results["paraphrase_source"] == "rules"
    assert set(results["base"]) >= {"accuracy@1", "accuracy@5", "mrr"}
    files = {p.name for p in Path(model_dir).rglob("*")}
    assert "adapter_config.json" not in files  # LoRA merged
    modules = json.loads((Path(model_dir) / "modules.json").read_text())
    assert all(m["type"].startswith("sentence_transformers.") for m in modules)
    texts = ["The heart pumps blood.", "Platelets help blood clot after an injury to a vessel."]
    # the plain reload (LoRA merged) gives the embeddings of the trained model in memory
    np.testing.assert_allclose(SentenceTransformer(model_dir).encode(texts), trained[0].encode(texts), atol=1e-5)
    pooling = json.loads((Path(model_dir) / "1_Pooling" / "config.json").read_text())
    assert pooling.get("pooling_mode") == "lasttoken" or pooling.get("pooling_mode_lasttoken") is True


def test_llm_test_paraphrases_replace_the_held_out_positives(tmp_path, tiny_decoder_path, samples, quick_run,
                                                               monkeypatch):
    """test_paraphrases='llm': only the test sentences are sent to the generator; paraphrases sharing more than
    test_max_word_overlap of their words are left out of the pool; the results say so."""
    from sbert_med.data.text_normalize import word_overlap

    sent = []

    def fake_llm(sentences, config, *, journal_name):
        sent.append((journal_name, list(sentences)))
        # every other sentence gets a near copy (one word added), the rest a rewrite with few shared words
        return [{"anchor": s, "positive": s + " indeed" if i % 2 else "In other words: " + s.split()[0] + " etc.",
                 "generator": "fake"} for i, s in enumerate(sentences)]

    monkeypatch.setattr(cardioembed, "llm_paraphrases", fake_llm)
    config = CardioEmbedConfig(
        model=tiny_decoder_path, sentences_file=str(samples / "openstax_ap2e" / "sentences_cardiovascular.txt"),
        paraphrases="rules", test_paraphrases="llm", generator_model="fake-llm", test_max_word_overlap=0.6,
        max_sentences=40, test_fraction=0.25, val_fraction=0.1, max_seq_length=24, lora_r=4, lora_alpha=8,
        batch_size=8, max_steps=1, **quick_run)
    train_cardioembed(config)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    [(journal, test_sentences)] = sent
    assert journal == "test_paraphrases.jsonl" and len(test_sentences) == results["sizes"]["test"] + len(
        test_sentences) // 2
    info = results["test_paraphrases"]
    assert info["generated"] == len(test_sentences) and info["kept"] == results["pool_size"] == (len(test_sentences)
                                                                                                + 1) // 2
    assert info["dropped_over_word_overlap"] == len(test_sentences) // 2
    assert info["mean_word_overlap"]["llm_paraphrases_kept"] <= 0.6 < word_overlap("a b c d", "a b c d indeed")
    assert results["test_paraphrase_source"] == "llm" and results["paraphrase_source"] == "rules"
    with pytest.raises(ConfigError, match="test_paraphrases='llm' needs generator_model"):
        CardioEmbedConfig(sentences_file="x.txt", paraphrases="rules", test_paraphrases="llm")


def test_cpu_config_beats_base(tmp_path, smollm2_path, samples, trained_in_memory, cpu_example):
    """examples/cardioembed/cpu.yaml on SmolLM2-135M: held-out Acc@1 and MRR above the untrained base's (here on
    the rule rewrites of the held-out sentences; the LLM paraphrases of cpu.yaml are measured by
    bench/bench_cardioembed.py)."""
    config = cpu_example("cardioembed", model=smollm2_path,
                         sentences_file=f"{samples}/openstax_ap2e/sentences_cardiovascular.txt",
                         test_paraphrases="same")
    trained = trained_in_memory(cardioembed)
    model_dir = train_cardioembed(config)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    print(json.dumps({k: results[k] for k in ("base", "trained", "pool_size", "sizes")}))
    assert results["pool_size"] == results["sizes"]["test"] >= 80, results  # all held-out paraphrases
    assert results["trained"]["mrr"] > results["base"]["mrr"], results
    texts = ["The heart pumps blood.", "Erythrocytes carry oxygen."]
    np.testing.assert_allclose(SentenceTransformer(model_dir).encode(texts), trained[0].encode(texts), atol=1e-5)


def test_split_pairs_is_seeded_disjoint_and_complete():
    pairs = [{"anchor": f"sentence {i}", "positive": f"paraphrase {i}"} for i in range(50)]
    config = CardioEmbedConfig(paraphrases="rules", test_fraction=0.1, val_fraction=0.2, seed=3)
    split = cardioembed.split_pairs(pairs, config)
    assert [len(split[name]) for name in ("test", "val", "train")] == [5, 10, 35]
    anchors = [pair["anchor"] for name in ("test", "val", "train") for pair in split[name]]
    assert sorted(anchors) == sorted(pair["anchor"] for pair in pairs)
    assert cardioembed.split_pairs(pairs, config) == split
    other = cardioembed.split_pairs(pairs, dataclasses.replace(config, seed=4))
    assert other["test"] != split["test"]
    assert len(cardioembed.split_pairs(pairs[:6], config)["test"]) == 2  # at least 2 held out
