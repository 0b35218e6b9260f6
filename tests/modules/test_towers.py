from __future__ import annotations

import json
import logging
import shutil

import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize
from transformers import AutoTokenizer

from sbert_med.modules import encoder_tower


def test_encoder_tower_reuses_saved_pooling_and_matches_the_original(minilm_path):
    modules = encoder_tower(minilm_path, max_seq_length=64)
    assert modules[1].pooling_mode == "mean"  # all-MiniLM-L6-v2 was trained with mean pooling
    assert modules[0].max_seq_length == 64
    ours = SentenceTransformer(modules=[*modules, Normalize()])
    original = SentenceTransformer(minilm_path)
    texts = ["chest pain radiating to the left arm", "metformin"]
    assert (ours.encode(texts) - original.encode(texts)).__abs__().max() < 1e-5


def test_encoder_tower_cls_and_bad_pooling(tiny_encoder_path):
    assert encoder_tower(tiny_encoder_path)[1].pooling_mode == "cls"  # plain checkpoint: CLS default
    with pytest.raises(ValueError, match=r"pooling must be one of \['cls', 'mean'\], got 'max'"):
        encoder_tower(tiny_encoder_path, pooling="max")
    with pytest.raises(ValueError, match="max_seq_length"):
        encoder_tower(tiny_encoder_path, max_seq_length=0)


def test_encoder_tower_without_pad_token_is_an_error(tiny_encoder_path, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_path)
    tokenizer.pad_token = None
    folder = tmp_path / "nopad"
    tokenizer.save_pretrained(folder)
    from transformers import AutoModel

    AutoModel.from_pretrained(tiny_encoder_path).save_pretrained(folder)
    with pytest.raises(ValueError, match="has no pad token"):
        encoder_tower(str(folder))


def test_plain_checkpoint_falls_back_to_cls_and_says_so(tiny_encoder_path, caplog):
    with caplog.at_level(logging.INFO, logger="sbert_med.modules.towers"):
        assert encoder_tower(tiny_encoder_path)[1].pooling_mode == "cls"
    assert "no sentence-transformers config (modules.json): using CLS pooling" in caplog.text


def test_unreadable_sentence_transformers_config_is_an_error_not_cls(minilm_path, tmp_path, monkeypatch):
    folder = tmp_path / "model"
    shutil.copytree(minilm_path, folder)
    pooling = json.loads((folder / "modules.json").read_text())[1]["path"]
    (folder / pooling / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not a readable JSON file"):
        encoder_tower(str(folder))
    (folder / pooling / "config.json").write_text('{"word_embedding_dimension": 384, "pooling_mode_max_tokens": true}')
    with pytest.raises(ValueError, match=r"was saved with pooling 'max'; pass pooling="):
        encoder_tower(str(folder))
    assert encoder_tower(str(folder), pooling="mean")[1].pooling_mode == "mean"  # an explicit choice needs no config

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr("sbert_med.modules.towers.load_file_path", offline)
    with pytest.raises(ValueError, match=r"could not read modules\.json of org/model \(ConnectionError: no network\)"):
        encoder_tower("org/model")
