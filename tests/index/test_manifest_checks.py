"""A query model whose width or identity does not match the index's manifest is refused."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize

from sbert_med.index import MedIndex, build_index
from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower


@pytest.fixture(scope="module")
def tiny_index(tiny_model, tmp_path_factory, tiny_corpus):
    from datasets import Dataset

    corpus = Dataset.from_dict({"id": [f"d{i}" for i in range(len(tiny_corpus))], "text": tiny_corpus})
    out = tmp_path_factory.mktemp("idx")
    build_index(tiny_model, corpus, out, model_name="tiny-encoder", show_progress_bar=False)
    return MedIndex.load(out)


def test_same_model_is_accepted(tiny_index, tiny_model):
    hits = tiny_index.search(tiny_model, "What are the symptoms of a stroke?", top_k=3)[0]
    assert len(hits) == 3


def test_wider_query_model_is_refused(tiny_index, tiny_decoder_path):
    decoder = SentenceTransformer(modules=[*eos_tower(tiny_decoder_path), Normalize()], device="cpu")
    with pytest.raises(ValueError, match=r"my-decoder gives 64-d query embeddings, but this index holds 32-d "
                                         r"embeddings built with 'tiny-encoder'"):
        tiny_index.search(decoder, "stroke", model_name="my-decoder")


def test_same_width_other_weights_is_refused(tiny_index, tiny_model):
    other = SentenceTransformer(modules=[*encoder_tower(tiny_model[0].model.name_or_path, pooling="mean"),
                                         Normalize()], device="cpu")
    with torch.no_grad():
        other[0].model.embeddings.word_embeddings.weight.add_(0.5 * torch.randn_like(
            other[0].model.embeddings.word_embeddings.weight))
    with pytest.raises(ValueError, match=r"is not the model this index was built with \('tiny-encoder'\)"):
        tiny_index.search(other, "stroke")
    with pytest.raises(ValueError, match="is not the model"):
        tiny_index.encode_queries(other, ["stroke"])


def test_asymmetric_model_with_another_query_tower_is_refused(tiny_encoder_path, tiny_decoder_path, tiny_corpus,
                                                              tmp_path):
    def asym():
        return build_asymmetric_model(encoder_tower(tiny_encoder_path, pooling="cls"), eos_tower(tiny_decoder_path),
                                      bridge="project")

    torch.manual_seed(0)
    model = asym()
    out = tmp_path / "asym"
    from datasets import Dataset

    corpus = Dataset.from_dict({"_id": [str(i) for i in range(len(tiny_corpus))], "text": tiny_corpus})
    index = build_index(model, corpus, out, show_progress_bar=False)
    assert index.manifest.embedding_dim == 64
    assert len(index.search(model, "stroke", top_k=2)[0]) == 2
    # documents were encoded with the document route
    import numpy as np

    np.testing.assert_allclose(np.asarray(index.embeddings), model.encode_document(tiny_corpus), atol=1e-5)
    torch.manual_seed(1)
    retrained_query_tower = asym()  # same document tower, another (random) query projection
    with pytest.raises(ValueError, match="its query route embeds the probe texts differently"):
        index.search(retrained_query_tower, "stroke")
