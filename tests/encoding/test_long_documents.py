from __future__ import annotations

import copy
import json
import logging

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from sbert_med.encoding import encode_long_documents, split_into_chunks


@pytest.fixture()
def tiny_model(tiny_encoder_path):
    model = SentenceTransformer(tiny_encoder_path, device="cpu")
    model.max_seq_length = 32
    return model


def _long_text(sentences: int) -> str:
    return " ".join(f"Sentence number {i} describes organ {i % 7} of the body." for i in range(sentences))


def test_split_into_chunks_covers_the_document(tiny_model):
    tokenizer = tiny_model.tokenizer
    document = _long_text(30)
    chunks = split_into_chunks(tokenizer, document, chunk_tokens=40, stride=10)
    assert len(chunks) > 3
    assert document.startswith(chunks[0]) and document.endswith(chunks[-1])
    all_tokens = tokenizer.tokenize(document)
    for chunk in chunks:
        assert len(tokenizer.tokenize(chunk)) <= 40
    # consecutive windows overlap by `stride` tokens: starts advance by 30 tokens
    assert tokenizer.tokenize(chunks[1])[:10] == tokenizer.tokenize(chunks[0])[-10:]
    assert sum(len(tokenizer.tokenize(c)) for c in chunks) == len(all_tokens) + 10 * (len(chunks) - 1)
    assert split_into_chunks(tokenizer, "short text", chunk_tokens=40, stride=10) == ["short text"]


def test_truncation_is_counted_and_reported(tiny_model, caplog):
    documents = [_long_text(10), "A short one.", _long_text(4)]
    lengths = [len(tiny_model.tokenizer.tokenize(d)) for d in documents]
    window = 30  # 32 minus [CLS] and [SEP]
    with caplog.at_level(logging.WARNING, logger="sbert_med.encoding.long_documents"):
        embeddings, report = encode_long_documents(tiny_model, documents, mode="truncate")
    assert report.window_tokens == window and report.num_chunks == 3
    assert report.num_truncated_documents == sum(n > window for n in lengths) == 2
    assert report.num_truncated_tokens == sum(max(n - window, 0) for n in lengths)
    assert "Truncated 2 of 3 documents" in caplog.text
    np.testing.assert_allclose(embeddings, tiny_model.encode(documents, normalize_embeddings=True), atol=1e-6)


def test_chunk_mode_truncates_nothing(tiny_model):
    documents = [_long_text(10), "A short one."]
    for pooling in ("mean", "max"):
        embeddings, report = encode_long_documents(tiny_model, documents, chunk_tokens=20, stride=5, pooling=pooling)
        assert embeddings.shape == (2, 32) and embeddings.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
        assert report.num_truncated_documents == report.num_truncated_tokens == 0
        assert report.num_long_documents == 1 and report.num_chunks > 4
        # a document that fits one window is embedded exactly as encode() does
        np.testing.assert_allclose(embeddings[1], tiny_model.encode("A short one.", normalize_embeddings=True),
                                   atol=1e-6)
        chunks = split_into_chunks(tiny_model.tokenizer, documents[0], chunk_tokens=20, stride=5)
        chunk_embeddings = tiny_model.encode(chunks, normalize_embeddings=True)
        pooled = chunk_embeddings.mean(0) if pooling == "mean" else chunk_embeddings.max(0)
        np.testing.assert_allclose(embeddings[0], pooled / np.linalg.norm(pooled), atol=1e-5)


def test_cache_resumes_without_reencoding(tiny_model, tmp_path, monkeypatch):
    documents = [_long_text(n) for n in range(1, 8)]
    first, _ = encode_long_documents(tiny_model, documents, cache_dir=tmp_path, block_size=3)
    folder = next(tmp_path.iterdir())
    assert sorted(p.name for p in folder.glob("*.npy")) == [f"0000{i}.npy" for i in range(3)]  # a shard per block
    (folder / "00001.npy").unlink()  # as if the run had crashed while writing block 1
    calls = []
    original = tiny_model.encode_document
    monkeypatch.setattr(tiny_model, "encode_document", lambda texts, **kw: calls.append(len(texts)) or original(
        texts, **kw))
    second, report = encode_long_documents(tiny_model, documents, cache_dir=tmp_path, block_size=3)
    assert len(calls) == 1  # only the missing block was encoded again
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert report.num_documents == 7
    assert json.loads((folder / "producer.json").read_text())["key"]["long_documents"]["mode"] == "chunk"


def test_bad_options(tiny_model):
    with pytest.raises(ValueError, match="mode must be one of"):
        encode_long_documents(tiny_model, ["x"], mode="split")
    with pytest.raises(ValueError, match="pooling must be one of"):
        encode_long_documents(tiny_model, ["x"], pooling="sum")
    with pytest.raises(ValueError, match="chunk_tokens must be between 1 and 30"):
        encode_long_documents(tiny_model, ["x"], chunk_tokens=31)
    with pytest.raises(ValueError, match="stride must be"):
        encode_long_documents(tiny_model, ["x"], chunk_tokens=10, stride=10)
    with pytest.raises(ValueError, match="single string"):
        encode_long_documents(tiny_model, "x")


def _medquad_long_documents(samples, count: int) -> tuple[list[str], list[str]]:
    """Real MedQuAD answers placed after ~600 tokens of unrelated MedQuAD answers."""
    rows = [json.loads(line) for line in (samples / "medquad" / "corpus.jsonl").open()]
    pairs = {}
    for line in (samples / "medquad" / "qrels" / "test.tsv").open().readlines()[1:]:
        query_id, doc_id, _ = line.split("\t")
        pairs.setdefault(doc_id, query_id)
    queries = {json.loads(line)["_id"]: json.loads(line)["text"]
               for line in (samples / "medquad" / "queries.jsonl").open()}
    by_id = {row["_id"]: row["text"] for row in rows}
    targets = [doc_id for doc_id in sorted(pairs) if 200 < len(by_id[doc_id]) < 1200][:count]
    filler = [row["text"] for row in rows if row["_id"] not in pairs and len(row["text"]) > 300]
    documents, query_texts = [], []
    for index, doc_id in enumerate(targets):
        prefix, used = [], index * 12
        while sum(len(text) for text in prefix) < 3200:  # ~650 WordPiece tokens
            prefix.append(filler[used % len(filler)])
            used += 1
        documents.append(" ".join(prefix + [by_id[doc_id]]))
        query_texts.append(queries[pairs[doc_id]])
    return query_texts, documents


def test_chunk_and_pool_finds_answers_past_token_512(minilm_path, samples):
    model = SentenceTransformer(minilm_path, device="cpu")
    queries, documents = _medquad_long_documents(samples, 8)
    assert min(len(model.tokenizer.tokenize(d)) for d in documents) > 600
    query_embeddings = model.encode_query(queries, normalize_embeddings=True)

    def hits_at_1(embeddings):
        return int((np.argmax(query_embeddings @ embeddings.T, axis=1) == np.arange(len(queries))).sum())

    model.max_seq_length = 512
    truncated, truncate_report = encode_long_documents(model, documents, mode="truncate")
    model.max_seq_length = 256
    chunked, chunk_report = encode_long_documents(model, documents, mode="chunk", stride=32)
    assert truncate_report.num_truncated_documents == 8 and chunk_report.num_truncated_documents == 0
    assert hits_at_1(chunked) >= hits_at_1(truncated) + 3


def test_cache_is_keyed_by_the_model_not_reused_by_another(tiny_model, tmp_path):
    documents = [_long_text(n) for n in range(1, 5)]
    first, _ = encode_long_documents(tiny_model, documents, cache_dir=tmp_path)
    retrained = copy.deepcopy(tiny_model)
    with torch.no_grad():
        for param in retrained.parameters():
            param.add_(0.05 * torch.randn_like(param))
    second, _ = encode_long_documents(retrained, documents, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 2  # one producer folder per model
    np.testing.assert_allclose(second, encode_long_documents(retrained, documents)[0], atol=1e-6)
    assert not np.allclose(first, second, atol=1e-3)
