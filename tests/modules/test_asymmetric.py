from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense, Router

from sbert_med.modules import build_asymmetric_model, check_model, encoder_tower, eos_tower

QUERIES = ["what lowers blood pressure?", "first-line drug for type 2 diabetes"]
DOCUMENTS = ["Thiazide diuretics lower blood pressure.", "Metformin is first-line for type 2 diabetes mellitus."]


def _assert_reload_identical(model: SentenceTransformer, folder) -> SentenceTransformer:
    model.save(str(folder))
    reloaded = SentenceTransformer(str(folder))  # plain: no trust_remote_code
    np.testing.assert_array_equal(reloaded.encode_query(QUERIES), model.encode_query(QUERIES))
    np.testing.assert_array_equal(reloaded.encode_document(DOCUMENTS), model.encode_document(DOCUMENTS))
    return reloaded


def test_truncate_bridge_routes_and_reloads(tiny_model, tmp_path):
    assert isinstance(tiny_model[0], Router) and tiny_model.truncate_dim == 32
    assert tiny_model.encode_query(QUERIES).shape == (2, 32)
    assert tiny_model.encode_document(DOCUMENTS).shape == (2, 32)  # 64-d document cut to the query width
    assert tiny_model.similarity_fn_name == "cosine"
    reloaded = _assert_reload_identical(tiny_model, tmp_path / "m")
    assert reloaded.truncate_dim == 32
    assert check_model(reloaded).passed


def test_project_bridge_adds_a_linear_query_projection(tiny_encoder_path, tiny_decoder_path, tmp_path):
    model = build_asymmetric_model(
        encoder_tower(tiny_encoder_path), eos_tower(tiny_decoder_path), bridge="project",
        prompts={"query": "query: ", "document": ""},
    )
    dense = model[0].sub_modules["query"][-1]
    assert isinstance(dense, Dense) and (dense.in_features, dense.out_features) == (32, 64)
    assert type(dense.activation_function).__name__ == "Identity"  # not the Tanh default
    assert model.truncate_dim is None
    assert model.encode_query(QUERIES).shape == (2, 64) and model.encode_document(DOCUMENTS).shape == (2, 64)
    reloaded = _assert_reload_identical(model, tmp_path / "m")
    assert reloaded.prompts["query"] == "query: "


def test_paths_build_encoder_and_eos_towers(tiny_encoder_path, tiny_decoder_path):
    model = build_asymmetric_model(tiny_encoder_path, tiny_decoder_path, bridge="project")
    assert model[0].sub_modules["document"][1].pooling_mode == "lasttoken"
    assert model[0].sub_modules["query"][1].pooling_mode == "cls"
    assert check_model(model).passed


def test_width_mismatch_without_bridge_is_a_build_error(tiny_encoder_path, tiny_decoder_path):
    with pytest.raises(ValueError, match=r"query tower outputs 32 dims but the document tower 64.*bridge="):
        build_asymmetric_model(encoder_tower(tiny_encoder_path), eos_tower(tiny_decoder_path), bridge=None)


def test_truncate_cannot_widen_and_bad_options(tiny_encoder_path, tiny_decoder_path):
    with pytest.raises(ValueError, match="narrower than the query tower"):
        build_asymmetric_model(eos_tower(tiny_decoder_path), encoder_tower(tiny_encoder_path), bridge="truncate")
    with pytest.raises(ValueError, match=r"bridge must be one of \['truncate', 'project'\] or None, got 'pad'"):
        build_asymmetric_model(tiny_encoder_path, tiny_decoder_path, bridge="pad")
    with pytest.raises(ValueError, match="similarity must be one of"):
        build_asymmetric_model(tiny_encoder_path, tiny_decoder_path, similarity="jaccard")
    with pytest.raises(ValueError, match="non-empty list of sentence-transformers modules"):
        build_asymmetric_model([], tiny_decoder_path)


def test_same_width_needs_no_bridge(tiny_encoder_path):
    model = build_asymmetric_model(encoder_tower(tiny_encoder_path), encoder_tower(tiny_encoder_path), bridge=None)
    assert model.truncate_dim is None and model.encode_document(DOCUMENTS).shape == (2, 32)


def test_tower_without_pad_token_is_a_build_error(tiny_encoder_path, tiny_decoder_path):
    document = eos_tower(tiny_decoder_path)
    document[0].tokenizer.pad_token = None
    with pytest.raises(ValueError, match="document tower's tokenizer has no pad token"):
        build_asymmetric_model(encoder_tower(tiny_encoder_path), document)
