"""MAR with an existing sentence-transformers model as the frozen document tower (tiny in-code models: mechanics).

The document model is a tiny sentence-transformers model with its own Pooling, a Dense head (32 -> 48) and prompts,
like EmbeddingGemma's layout; the query tower is a 32-wide BERT, so the truncate bridge cuts documents to 32.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from sbert_med.recipes import ConfigError, mar_towers
from sbert_med.recipes import mar as mar_module
from sbert_med.recipes.mar import MARConfig, resolved_settings, train_mar

PROMPTS = {"query": "search query: ", "document": "passage: ", "Retrieval-query": "task: search | query: "}
TEXTS = [
    "What lowers blood pressure?", "Metformin is first-line for type 2 diabetes.", "chest pain left arm",
    "Asthma is treated with inhaled corticosteroids.", "low hemoglobin", "Sudden numbness and confusion.",
]


@pytest.fixture(scope="module")
def tiny_st_document(tmp_path_factory, tiny_encoder_path) -> str:
    """A sentence-transformers model: Transformer (32) + mean Pooling + Dense 32 -> 48 + Normalize, with prompts."""
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.manual_seed(1)
    transformer = Transformer(tiny_encoder_path)
    with torch.no_grad():  # other weights than the query tower's
        for param in transformer.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    model = SentenceTransformer(
        modules=[transformer, Pooling(32, "mean"), Dense(32, 48, activation_function=None), Normalize()],
        prompts=PROMPTS, similarity_fn_name="cosine", device="cpu",
    )
    out = tmp_path_factory.mktemp("tiny_st_document")
    model.save(str(out))
    return str(out)


def _config(tmp_path, tiny_encoder_path, document, qa_pairs_tsv, **kw) -> MARConfig:
    base = dict(
        output_dir=str(tmp_path / "mar"), query_model=tiny_encoder_path, query_pooling="mean",
        document_model=document, train_data=qa_pairs_tsv, batch_size=4, stage1_batch_size=8, stage2_batch_size=4,
        init_max_steps=2, stage1_max_steps=2, stage2_max_steps=2, query_max_length=16, document_max_length=32,
        mine_range_min=0, save_steps=1, use_cpu=True, show_progress_bar=False, learning_rate=1e-3,
        stage1_learning_rate=1e-3, stage2_learning_rate=1e-3,
    )
    base.update(kw)
    return MARConfig(**base)


def _shards(folder: Path) -> dict[str, list[str]]:
    return {str(p.relative_to(folder)): json.loads(p.read_text()) for p in sorted(folder.rglob("*.keys.json"))}


def test_frozen_document_tower_end_to_end(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv,
                                          trained_in_memory):
    """Query init + cached Stage I + Stage II on cached document vectors: the saved model is Router + Normalize of
    built-in modules, keeps the document model's modules and its document prompt (only), reloads plainly with
    identical embeddings, and its document route is the untouched document model cut to the query width."""
    config = _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv)
    assert resolved_settings(config) == {
        "document_kind": "sentence_transformers", "init_document": False, "freeze_document": True
    }
    trained = trained_in_memory(mar_module)
    model_dir = train_mar(config)
    stages = Path(config.output_dir) / "stages"
    assert sorted(p.name for p in stages.iterdir()) == ["init_query", "stage1", "stage2"]
    assert json.loads((stages / "stage2" / "STAGE_DONE").read_text())["document_tower"].startswith("frozen")

    model = SentenceTransformer(model_dir, device="cpu")  # plain load, no trust_remote_code
    types = [entry["type"] for entry in json.loads((Path(model_dir) / "modules.json").read_text())]
    assert types == ["sentence_transformers.base.modules.router.Router",
                     "sentence_transformers.base.modules.normalize.Normalize"]
    assert model.prompts == {"query": "", "document": "passage: "}
    assert model.truncate_dim == 32
    route = model[0].sub_modules["document"]
    assert [type(m).__name__ for m in route] == ["Transformer", "Pooling", "Dense"]
    np.testing.assert_allclose(model.encode_query(TEXTS), trained[0].encode_query(TEXTS), atol=1e-5)
    np.testing.assert_allclose(model.encode_document(TEXTS), trained[0].encode_document(TEXTS), atol=1e-5)

    original = SentenceTransformer(tiny_st_document, device="cpu")
    expected = original.encode_document(TEXTS, truncate_dim=32, normalize_embeddings=True)
    np.testing.assert_allclose(model.encode_document(TEXTS, normalize_embeddings=True), expected, atol=1e-5)
    # evaluating the saved model's document route hits the vectors Stage II cached (same route fingerprint, width)
    from sbert_med.encoding import encoding_key

    producers = [json.loads(p.read_text())["key"] for p in (Path(config.output_dir) / "cache").glob("*/producer.json")]
    assert next(key for key in producers if key["route"] == "document") == encoding_key(model, "document")
    # the query tower did train, and does not get the document model's query prompt
    base_query = SentenceTransformer(str(stages / "init_query"), device="cpu")
    assert not np.allclose(model.encode_query(TEXTS), base_query.encode(TEXTS), atol=1e-4)


def test_cached_targets_equal_the_live_frozen_tower(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv):
    """The cached Stage I targets (through the document model's query prompt) are what the frozen document route
    computes live inside the loss, and one loss step on cached labels equals the live one."""
    from sbert_med.losses import AlignmentLoss

    config = _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, cache_dir=str(tmp_path / "cache"))
    model, prompts = mar_towers._assemble(config, tiny_encoder_path)
    model.eval()
    view = mar_towers._document_view(model, config, prompts)
    from sbert_med.encoding import route_fingerprint

    assert route_fingerprint(view, "document") == route_fingerprint(model, "document")
    for route in ("query", "document"):
        cached = mar_towers._encode_targets(config, view, TEXTS, route=route)
        with torch.no_grad():
            features = model.preprocess(TEXTS, prompt=prompts[route], task="document")
            live = torch.nn.functional.normalize(model(features)["sentence_embedding"][:, :32], dim=-1)
        np.testing.assert_allclose(cached, live.numpy(), atol=1e-5)
    cached = mar_towers._encode_targets(config, view, TEXTS, route="query")
    query_features = model.preprocess(TEXTS, task="query")
    live_loss = AlignmentLoss(model)([query_features, model.preprocess(TEXTS, prompt=prompts["query"],
                                                                       task="document")])
    query_view = mar_towers._route_view(model, "query", config)
    cached_loss = AlignmentLoss(query_view)([query_view.preprocess(TEXTS)], torch.from_numpy(cached))
    for key in ("alignment_contrastive", "alignment_mse"):
        torch.testing.assert_close(cached_loss[key], live_loss[key], atol=1e-5, rtol=1e-5)


def test_cache_is_hit_on_a_rerun(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv):
    """A second run sharing the cache encodes nothing (no shard is added), and no text is stored twice by one
    producer."""
    cache = tmp_path / "cache"
    first = _config(tmp_path / "a", tiny_encoder_path, tiny_st_document, qa_pairs_tsv, cache_dir=str(cache),
                    run_init=False)
    train_mar(first)
    shards = _shards(cache)
    assert len({p.split("/")[0] for p in shards}) == 2  # Stage I (query prompt) and Stage II (documents)
    for producer in {p.split("/")[0] for p in shards}:
        keys = [k for path, ks in shards.items() if path.startswith(producer) for k in ks]
        assert len(keys) == len(set(keys))

    second = _config(tmp_path / "b", tiny_encoder_path, tiny_st_document, qa_pairs_tsv, cache_dir=str(cache),
                     run_init=False, stage1_learning_rate=5e-4)
    train_mar(second)
    assert _shards(cache) == shards


def test_live_stage1_and_document_route_targets(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv):
    """stage1_targets=live trains the asymmetric model with the frozen document route in the loop; the document
    route's Stage I targets (stage1_target_route=document) go through the document prompt."""
    live = _config(tmp_path / "live", tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False,
                   run_stage2=False, stage1_targets="live")
    model = SentenceTransformer(train_mar(live), device="cpu")
    original = SentenceTransformer(tiny_st_document, device="cpu")
    np.testing.assert_allclose(model.encode_document(TEXTS, normalize_embeddings=True),
                               original.encode_document(TEXTS, truncate_dim=32, normalize_embeddings=True), atol=1e-5)
    routed = _config(tmp_path / "doc", tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False,
                     run_stage2=False, stage1_target_route="document")
    train_mar(routed)
    producers = [json.loads(p.read_text()) for p in (Path(routed.output_dir) / "cache").glob("*/producer.json")]
    assert [p["key"]["route"] for p in producers] == ["document"]


def test_alignment_data_feeds_stage1(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, trainer_calls):
    """Stage I trains on alignment_data (a seeded sample of alignment_max_texts), not on the training pairs."""
    corpus = tmp_path / "align.txt"
    corpus.write_text("\n".join(f"alignment sentence number {i} about the kidney" for i in range(30)))
    seen = trainer_calls(mar_towers, lambda kwargs: kwargs["train_dataset"])
    config = _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False, run_stage2=False,
                     alignment_data=[str(corpus)], alignment_max_texts=12)
    train_mar(config)
    stage1 = seen["stage1"]
    assert stage1.column_names == ["text", "label"] and len(stage1) == 12
    assert all(text.startswith("alignment sentence") for text in stage1["text"])
    assert np.asarray(stage1["label"]).shape == (12, 32)


def test_negative_bank_holds_a_sample_of_the_cached_targets(tmp_path, tiny_encoder_path, tiny_st_document,
                                                           qa_pairs_tsv, trainer_calls):
    """stage1_negative_bank: Stage I's loss ranks each target against that many cached targets of the alignment
    texts (all of them when there are fewer), and the stage records the bank's size."""
    corpus = tmp_path / "align.txt"
    corpus.write_text("\n".join(f"alignment sentence number {i} about the kidney" for i in range(30)))
    seen = trainer_calls(mar_towers, lambda kwargs: (kwargs["train_dataset"], kwargs["loss"]))
    for size, expected in ((7, 7), (100, 30)):
        config = _config(tmp_path / str(size), tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False,
                         run_stage2=False, alignment_data=[str(corpus)], stage1_negative_bank=size)
        train_mar(config)
        data, loss = seen["stage1"]
        bank, labels = loss.negative_bank.numpy(), np.asarray(data["label"], dtype=np.float32)
        assert bank.shape == (expected, 32)
        assert all(np.isclose(labels, row, atol=1e-6).all(axis=1).any() for row in bank)
        done = json.loads((Path(config.output_dir) / "stages" / "stage1" / "STAGE_DONE").read_text())
        assert done["negative_bank"] == expected


def test_score_bank_holds_training_documents_in_the_cache_stage2_reads(
        tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, trainer_calls):
    """stage1_score_documents: Stage I's loss distils the frozen tower's ranking of a seeded sample of the training
    documents (all of them when there are fewer): their document vectors, encoded into the cache Stage II reads (no
    third cache beside the targets' and the documents'), and the stage records the bank's size."""
    seen = trainer_calls(mar_towers, lambda kwargs: kwargs["loss"])
    documents = list(dict.fromkeys(line.split("\t")[3] for line in Path(qa_pairs_tsv).read_text().splitlines()[1:]))
    reference = SentenceTransformer(tiny_st_document, device="cpu").encode_document(
        documents, truncate_dim=32, normalize_embeddings=True)
    for size, expected in ((3, 3), (1000, len(documents))):
        config = _config(tmp_path / str(size), tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False,
                         stage1_score_documents=size, stage1_score_weight=0.5, stage1_score_temperature=0.2)
        train_mar(config)
        loss = seen["stage1"]
        assert (loss.lambda_scores, loss.score_temperature) == (0.5, 0.2)
        bank = loss.score_bank.numpy()
        assert bank.shape == (expected, 32)
        matches = [np.flatnonzero(np.isclose(reference, row, atol=1e-5).all(axis=1)) for row in bank]
        assert all(len(m) == 1 for m in matches) and len({int(m[0]) for m in matches}) == expected
        producers = [json.loads(p.read_text()) for p in (Path(config.output_dir) / "cache").glob("*/producer.json")]
        assert sorted(p["key"]["route"] for p in producers) == ["document", "query"]
        done = json.loads((Path(config.output_dir) / "stages" / "stage1" / "STAGE_DONE").read_text())
        assert done["score_documents"] == expected
    with pytest.raises(ConfigError, match="stage1_score_documents ranks cached vectors"):
        _config(tmp_path / "live", tiny_encoder_path, tiny_st_document, qa_pairs_tsv, stage1_score_documents=3,
                stage1_targets="live")


def test_score_bank_from_stage1_score_data(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv,
                                           trainer_calls):
    """stage1_score_data: the bank holds the given documents' frozen document vectors, not the training pairs';
    a bank file without texts, and stage1_score_data without stage1_score_documents, are refused by name."""
    seen = trainer_calls(mar_towers, lambda kwargs: kwargs["loss"])
    abstracts = ["Statins lower LDL cholesterol in adults with hypertension.",
                 "Dietary fibre intake and the risk of colorectal cancer: a cohort study.",
                 "Iron deficiency anaemia in pregnancy and low birth weight."]
    bank_file = tmp_path / "abstracts.jsonl"
    bank_file.write_text("".join(json.dumps({"text": text}) + "\n" for text in abstracts), encoding="utf-8")
    config = _config(tmp_path / "run", tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False,
                     run_stage2=False, stage1_score_documents=10, stage1_score_data=str(bank_file))
    train_mar(config)
    reference = SentenceTransformer(tiny_st_document, device="cpu").encode_document(
        abstracts, truncate_dim=32, normalize_embeddings=True)
    np.testing.assert_allclose(np.sort(seen["stage1"].score_bank.numpy(), axis=0), np.sort(reference, axis=0),
                               atol=1e-5)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises((ConfigError, ValueError), match="empty.txt"):
        train_mar(_config(tmp_path / "empty", tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False,
                          run_stage2=False, stage1_score_documents=10, stage1_score_data=str(empty)))
    with pytest.raises(ConfigError, match="set stage1_score_documents > 0"):
        _config(tmp_path / "off", tiny_encoder_path, tiny_st_document, qa_pairs_tsv, stage1_score_data=str(bank_file))


def test_linear_head_starts_stage1_aligned(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv,
                                          trained_in_memory):
    """stage1_linear_head: a Dense fitted on the cached targets ends the query route before Stage I trains; the
    saved model reloads plainly with identical embeddings, and the fit is recorded with the stage."""
    corpus = tmp_path / "align.txt"
    organs = ["kidney", "liver", "heart", "lung", "brain", "skin", "bone", "blood", "eye", "ear"]
    corpus.write_text("\n".join(f"the {o} in case {i} shows sign {i % 7}" for i in range(12) for o in organs))
    config = _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False, run_stage2=False,
                     alignment_data=[str(corpus)], stage1_linear_head=True)
    trained = trained_in_memory(mar_module)
    model_dir = train_mar(config)
    fit = json.loads((Path(config.output_dir) / "stages" / "stage1" / "STAGE_DONE").read_text())["linear_head"]
    assert fit["head"] == "appended" and fit["texts"] == 120
    assert fit["mean_cosine_after"] > fit["mean_cosine_before"]
    from sentence_transformers.base.modules import Dense

    model = SentenceTransformer(model_dir, device="cpu")
    assert isinstance(model[0].sub_modules["query"][-1], Dense)
    np.testing.assert_array_equal(model.encode_query(TEXTS), trained[-1].encode_query(TEXTS))


def test_linear_head_with_too_few_texts_fails_before_encoding(tmp_path, tiny_encoder_path, tiny_st_document,
                                                              qa_pairs_tsv):
    """A head needs more texts than the query width: the run stops before any target is encoded, naming the knob."""
    corpus = tmp_path / "align.txt"
    corpus.write_text("\n".join(f"the kidney in case {i}" for i in range(10)))
    cache = tmp_path / "cache"
    config = _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False, run_stage2=False,
                     alignment_data=[str(corpus)], stage1_linear_head=True, cache_dir=str(cache))
    with pytest.raises(ConfigError, match=r"more alignment texts than the query route's width \(\d+\).*got 10"):
        train_mar(config)
    assert _shards(cache) == {}


def test_bad_alignment_file_fails_before_training(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": 3}\n')
    config = _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, alignment_data=str(bad))
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2: 'text' must be a string"):
        train_mar(config)
    assert not (Path(config.output_dir) / "stages").exists()


def test_alignment_index_without_reader_is_a_config_error(tmp_path, tiny_encoder_path, tiny_st_document,
                                                          qa_pairs_tsv, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_index_reader(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "sbert_med.index.alignment" or (name == "sbert_med.index" and "alignment" in (fromlist or ())):
            raise ImportError(name)
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_index_reader)
    index = tmp_path / "index"
    index.mkdir()
    config = _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init=False,
                     run_stage2=False, alignment_index=str(index))
    with pytest.raises(ConfigError, match="alignment_index"):
        train_mar(config)
    with pytest.raises(ConfigError, match="exclude each other"):
        _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, alignment_index=str(index),
                alignment_data=str(index))


def test_decoder_initialisation_trains_nested_widths(tmp_path, tiny_encoder_path, tiny_decoder_path, qa_pairs_tsv,
                                                     trainer_calls):
    """A trained (decoder) document tower's initialisation is MatryoshkaLoss over MNRL at the document width, the
    query width and below, averaged (paper Eq. 4); [] turns it off."""
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    seen = trainer_calls(mar_towers, lambda kwargs: kwargs["loss"])
    config = _config(tmp_path / "a", tiny_encoder_path, tiny_decoder_path, qa_pairs_tsv, run_stage1=False,
                     run_stage2=False)
    assert resolved_settings(config)["document_kind"] == "decoder"
    train_mar(config)
    loss = seen["init_document"]
    assert isinstance(loss, MatryoshkaLoss)
    assert list(loss.matryoshka_dims) == [64, 32, 16, 8] and list(loss.matryoshka_weights) == [0.25] * 4
    assert isinstance(seen["init_query"], MultipleNegativesRankingLoss)
    off = _config(tmp_path / "b", tiny_encoder_path, tiny_decoder_path, qa_pairs_tsv, run_stage1=False,
                  run_stage2=False, document_matryoshka_dims=[])
    train_mar(off)
    assert isinstance(seen["init_document"], MultipleNegativesRankingLoss)


def test_vectors_cached_by_the_standalone_document_model_are_reused(tmp_path, tiny_encoder_path, tiny_st_document,
                                                                     qa_pairs_tsv):
    """Targets encoded beforehand by the document model on its own (its prompts, cut to the query width, the same
    max_seq_length), as a benchmark prepares them, are Stage I's and Stage II's cache hits: nothing is encoded."""
    from sbert_med.data.pairs import load_training_pairs
    from sbert_med.encoding import encode_cached

    cache = tmp_path / "cache"
    standalone = SentenceTransformer(tiny_st_document, device="cpu", truncate_dim=32)
    standalone.max_seq_length = 32
    pairs = load_training_pairs(qa_pairs_tsv)
    encode_cached(standalone, list(dict.fromkeys([*pairs["anchor"], *pairs["positive"]])), cache_dir=cache,
                  route="query", show_progress_bar=False)
    encode_cached(standalone, list(dict.fromkeys(pairs["positive"])), cache_dir=cache, route="document",
                  show_progress_bar=False)
    shards = _shards(cache)
    config = _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, cache_dir=str(cache),
                     run_init=False)
    train_mar(config)
    assert _shards(cache) == shards


def test_sentence_transformers_document_tower_can_be_trained(tmp_path, tiny_encoder_path, tiny_st_document,
                                                             qa_pairs_tsv, trainer_calls):
    """run_init_document / freeze_document switch an existing embedding model to the paper's treatment: initialised
    with LoRA and Matryoshka (its own prompts on anchors and positives), then trained in Stage II; it keeps its
    modules and document prompt."""
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss

    seen = trainer_calls(mar_towers, lambda kwargs: (kwargs["loss"], kwargs["args"].prompts))
    config = _config(tmp_path, tiny_encoder_path, tiny_st_document, qa_pairs_tsv, run_init_document=True,
                     freeze_document=False)
    assert resolved_settings(config)["init_document"] and not resolved_settings(config)["freeze_document"]
    model = SentenceTransformer(train_mar(config), device="cpu")
    loss, prompts = seen["init_document"]
    assert isinstance(loss, MatryoshkaLoss) and list(loss.matryoshka_dims) == [48, 32, 16, 8]
    assert prompts == {"anchor": "search query: ", "positive": "passage: "}
    assert seen["stage2"][1] == {"positive": "passage: ", "negative_1": "passage: "}
    assert model.prompts == {"query": "", "document": "passage: "}
    assert [type(m).__name__ for m in model[0].sub_modules["document"]] == ["Transformer", "Pooling", "Dense"]
    original = SentenceTransformer(tiny_st_document, device="cpu")
    assert not np.allclose(model.encode_document(TEXTS, normalize_embeddings=True),
                           original.encode_document(TEXTS, truncate_dim=32, normalize_embeddings=True), atol=1e-4)


def test_config_errors(tmp_path, qa_pairs_tsv):
    base = dict(output_dir=str(tmp_path / "x"), train_data=qa_pairs_tsv)
    with pytest.raises(ConfigError, match="document_matryoshka_dims must be positive"):
        MARConfig(**base, document_matryoshka_dims=[384, 0])
    with pytest.raises(ConfigError, match="stage1_targets must be 'cached'"):
        MARConfig(**base, alignment_index=str(tmp_path), stage1_targets="live")
    with pytest.raises(ConfigError, match="stage1_linear_head is fitted on cached targets"):
        MARConfig(**base, stage1_linear_head=True, stage1_targets="live")
    with pytest.raises(ConfigError, match="stage1_negative_bank holds cached targets"):
        MARConfig(**base, stage1_negative_bank=100, stage1_targets="live")
    with pytest.raises(ConfigError, match="stage1_negative_bank must be >= 0"):
        MARConfig(**base, stage1_negative_bank=-1)
    with pytest.raises(ConfigError, match="stage1_head_ridge must be >= 0"):
        MARConfig(**base, stage1_head_ridge=-0.1)
    with pytest.raises(ConfigError, match="key 'stage1_target_route' must be one of"):
        MARConfig.from_dict({**base, "stage1_target_route": "passage"})
    with pytest.raises(ConfigError, match="alignment_max_length must be >= 0"):
        MARConfig(**base, alignment_max_length=-1)
    with pytest.raises(ConfigError, match="cannot tell whether it is a sentence-transformers model"):
        resolved_settings(MARConfig(**base, document_model="no-such-org/no-such-model-xyz"))
    assert resolved_settings(MARConfig(**base, document_model="no-such-org/x", document_kind="decoder")) == {
        "document_kind": "decoder", "init_document": True, "freeze_document": False
    }
    missing = MARConfig(**base, alignment_data=[qa_pairs_tsv, str(tmp_path / "nope.jsonl")])
    with pytest.raises(ConfigError, match=r"alignment_data: .*nope\.jsonl"):
        missing.check_inputs()
