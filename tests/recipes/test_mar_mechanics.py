"""MAR stages, switches and per-stage resume on tiny in-code models (mechanics only; quality: test_cpu_configs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from sbert_med.recipes import ConfigError
from sbert_med.recipes.mar import MARConfig, train_mar


def _config(tmp_path, tiny_encoder_path, tiny_decoder_path, qa_pairs_tsv, **kw):
    base = dict(
        output_dir=str(tmp_path / "mar"),
        query_model=tiny_encoder_path,
        query_pooling="mean",
        document_model=tiny_decoder_path,
        bridge="project",
        train_data=qa_pairs_tsv,
        batch_size=4,
        stage1_batch_size=8,
        stage2_batch_size=4,
        init_max_steps=2,
        stage1_max_steps=2,
        stage2_max_steps=2,
        document_max_length=32,
        query_max_length=16,
        lora_r=4,
        lora_alpha=8,
        mine_range_min=0,
        save_steps=1,
        use_cpu=True,
        show_progress_bar=False,
        learning_rate=1e-3,
    )
    base.update(kw)
    return MARConfig(**base)


def test_all_stages_reload_plainly(tmp_path, tiny_encoder_path, tiny_decoder_path, qa_pairs_tsv, tiny_corpus):
    config = _config(tmp_path, tiny_encoder_path, tiny_decoder_path, qa_pairs_tsv)
    model_dir = train_mar(config)
    stages = Path(config.output_dir) / "stages"
    for stage in ("init_query", "init_document", "stage1", "stage2"):
        assert (stages / stage / "STAGE_DONE").is_file(), stage
        SentenceTransformer(str(stages / stage))  # every stage leaves a loadable model
    model = SentenceTransformer(model_dir)
    q, d = model.encode_query(tiny_corpus[:2]), model.encode_document(tiny_corpus[:2])
    assert q.shape == d.shape == (2, 64)  # "project": queries mapped to the decoder's width
    assert "adapter_config.json" not in {p.name for p in Path(model_dir).rglob("*")}  # LoRA merged
    # Stage I changed the query tower only; Stage II both.
    s1, s2 = SentenceTransformer(str(stages / "stage1")), SentenceTransformer(str(stages / "stage2"))
    init_doc = SentenceTransformer(str(stages / "init_document"))
    np.testing.assert_allclose(s1.encode_document(tiny_corpus), init_doc.encode(tiny_corpus), atol=1e-5)
    assert not np.allclose(s2.encode_document(tiny_corpus), s1.encode_document(tiny_corpus), atol=1e-5)
    # rerunning skips finished stages
    info = json.loads((stages / "stage2" / "STAGE_DONE").read_text())
    train_mar(config)
    assert json.loads((stages / "stage2" / "STAGE_DONE").read_text()) == info


def test_ablation_switches(tmp_path, tiny_encoder_path, tiny_decoder_path, qa_pairs_tsv):
    config = _config(
        tmp_path,
        tiny_encoder_path,
        tiny_decoder_path,
        qa_pairs_tsv,
        run_init=False,
        run_stage2=False,
        stage1_mse_weight=0.0,
        bridge="truncate",
        logging_steps=1,
    )
    model = SentenceTransformer(train_mar(config))
    stages = Path(config.output_dir) / "stages"
    assert sorted(p.name for p in stages.iterdir()) == ["stage1"]
    assert model.encode_query(["chest pain"]).shape == (1, 32)  # truncate_dim = query width
    logs = json.loads((Path(config.checkpoint_dir) / "stage1" / "checkpoint-2" / "trainer_state.json").read_text())
    # the no-MSE ablation: the loss logs its MSE term at weight 0, the contrastive term alone drives training
    logged = [entry for entry in logs["log_history"] if "alignment_mse" in entry]
    assert logged and all(entry["alignment_mse"] == 0.0 for entry in logged)
    assert all(entry["alignment_contrastive"] > 0.0 for entry in logged)


def test_switch_errors(tmp_path, tiny_encoder_path, tiny_decoder_path, qa_pairs_tsv):
    with pytest.raises(ConfigError, match="at least one of run_init"):
        _config(
            tmp_path,
            tiny_encoder_path,
            tiny_decoder_path,
            qa_pairs_tsv,
            run_init=False,
            run_stage1=False,
            run_stage2=False,
        )
    with pytest.raises(ConfigError, match="cannot both be 0"):
        _config(
            tmp_path,
            tiny_encoder_path,
            tiny_decoder_path,
            qa_pairs_tsv,
            stage1_mse_weight=0,
            stage1_contrastive_weight=0,
        )


def test_document_learning_rates_reach_the_trainer(tmp_path, tiny_encoder_path, tiny_decoder_path, qa_pairs_tsv,
                                                   trainer_calls):
    """init_document_learning_rate sets the document LoRA's rate in the initialisation; Stage II maps
    stage2_document_learning_rate onto the document route's parameters with learning_rate_mapping."""
    from sbert_med.recipes import mar_towers

    seen = trainer_calls(mar_towers, lambda kwargs: kwargs["args"])
    config = _config(
        tmp_path,
        tiny_encoder_path,
        tiny_decoder_path,
        qa_pairs_tsv,
        init_learning_rate=5e-5,
        init_document_learning_rate=2e-3,
        stage2_learning_rate=1e-4,
        stage2_document_learning_rate=3e-3,
        run_stage1=False,
    )
    train_mar(config)
    assert seen["init_query"].learning_rate == 5e-5 and seen["init_document"].learning_rate == 2e-3
    assert seen["stage2"].learning_rate == 1e-4
    assert seen["stage2"].learning_rate_mapping == {r"sub_modules\.document\.": 3e-3}


def test_supplied_negatives_reach_stage2(tmp_path, tiny_encoder_path, tiny_decoder_path, tiny_corpus, trainer_calls):
    """Negatives in the training data are Stage II's hard negatives (nothing is mined over them)."""
    from sbert_med.recipes import mar_towers

    rows = [{"query": f"question {i}: {t[:30]}", "pos": [t], "neg": [tiny_corpus[(i + 3) % 8]]}
            for i, t in enumerate(tiny_corpus)]
    path = tmp_path / "triplets.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    seen = trainer_calls(mar_towers, lambda kwargs: kwargs["train_dataset"])
    config = _config(tmp_path, tiny_encoder_path, tiny_decoder_path, str(path), run_init=False, run_stage1=False,
                     num_negatives=1)
    train_mar(config)
    stage2 = seen["stage2"]
    assert stage2.column_names == ["anchor", "positive", "negative_1"]
    supplied = {row["pos"][0]: row["neg"][0] for row in rows}
    assert [supplied[p] for p in stage2["positive"]] == stage2["negative_1"]
    assert not (Path(config.output_dir) / "data").exists()  # nothing mined
