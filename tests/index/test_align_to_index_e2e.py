"""Issue #11 item 3 end to end, on real models and real data: a corpus indexed by a bigger document model
(SmolLM2-135M, EOS pooling, 576-d cut to 384), a MiniLM query tower aligned to it on the index's own vectors, then
the same index searched with the new model; no corpus text is encoded twice and a foreign model is refused."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict

import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize
from sentence_transformers.base.modules.transformer import Transformer

from sbert_med.cli import main
from sbert_med.index import MedIndex, load_index_targets, read_alignment_record, record_index_alignment
from sbert_med.modules import eos_tower

NUM_DOCUMENTS = 32
MAX_TOKENS = 32  # both towers; short so that the test stays quick on a CPU


@pytest.fixture
def document_tower_dir(smollm2_path, tmp_path):
    """SmolLM2-135M with EOS pooling saved as a plain sentence-transformers folder: "the big model"."""
    out = tmp_path / "smollm2_eos"
    SentenceTransformer(modules=[*eos_tower(smollm2_path, max_seq_length=MAX_TOKENS), Normalize()],
                        device="cpu").save(str(out))
    return out


@pytest.fixture
def medquad_corpus(samples, tmp_path):
    """The first MedQuAD answers (cut to 300 characters) as a BEIR corpus file."""
    rows = []
    with (samples / "medquad" / "corpus.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            rows.append({"_id": row["_id"], "title": "", "text": row["text"][:300]})
            if len(rows) == NUM_DOCUMENTS:
                break
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def encoded_texts(monkeypatch):
    """Every text a Transformer module ran its network on, by model type (``llama``: SmolLM2, ``bert``: MiniLM),
    decoded back from the input ids (so cut to the tower's token limit). Tokenizing alone (e.g. the trainer's
    dataset statistics) does not count: only what went through the network."""
    seen: dict[str, list[str]] = defaultdict(list)
    original = Transformer.forward

    def counting(self, features, *args, **kwargs):
        ids = features.get("input_ids")
        if ids is not None:
            seen[self.config.model_type].extend(
                text.strip() for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True))
        return original(self, features, *args, **kwargs)

    monkeypatch.setattr(Transformer, "forward", counting)
    return seen


def _of_corpus(texts: list[str], corpus: list[str]) -> list[str]:
    """The ``texts`` that are (the start of) a corpus document."""
    return [text for text in texts if text and any(document.startswith(text) for document in corpus)]


def _align(minilm_path, document_tower_dir, index_dir, out):
    """Stage I on the index's (text, vector) rows: MiniLM in front of the frozen SmolLM2 document route."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    from sbert_med.losses import AlignmentLoss
    from sbert_med.modules import build_asymmetric_model, encoder_tower, freeze_route
    from sbert_med.training import MedTrainer

    targets = load_index_targets(index_dir)
    document = [module for module in SentenceTransformer(str(document_tower_dir), device="cpu")
                if not isinstance(module, Normalize)]
    model = build_asymmetric_model(encoder_tower(minilm_path, max_seq_length=MAX_TOKENS), document,
                                   bridge="truncate")
    targets.check_document_model(model)
    freeze_route(model, "document")
    # the card's usage snippet would run a few training texts (corpus texts here) through the document route again
    model.model_card_data.generate_widget_examples = False
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out.parent / "checkpoints"), max_steps=1, per_device_train_batch_size=16,
        learning_rate=1e-4, router_mapping={"text": "query"}, use_cpu=True, report_to="none", save_strategy="no",
    )
    MedTrainer(model=model, args=args, train_dataset=targets.to_dataset(), loss=AlignmentLoss(model)).train()
    model.save(str(out))
    record_index_alignment(out, index_dir, model=model)


def test_align_minilm_to_a_smollm2_index(minilm_path, document_tower_dir, medquad_corpus, encoded_texts, tmp_path,
                                         capsys):
    corpus = [json.loads(line)["text"] for line in medquad_corpus.read_text().splitlines()]
    index_dir = tmp_path / "index"
    assert main(["index", "build", "--model", str(document_tower_dir), "--corpus", str(medquad_corpus), "--out",
                 str(index_dir), "--truncate-dim", "384", "--no-progress"]) == 0
    capsys.readouterr()
    encoded = _of_corpus(encoded_texts["llama"], corpus)
    assert len(encoded) == len(corpus) and all(any(d.startswith(t) for t in encoded) for d in corpus)  # each once
    encoded_texts.clear()

    model_dir = tmp_path / "aligned"
    _align(minilm_path, document_tower_dir, index_dir, model_dir)
    assert not _of_corpus(encoded_texts["llama"], corpus)  # the document tower never encoded them again
    assert len(encoded_texts["bert"]) >= 16  # the query tower trained on the index's texts (one step of 16)

    query = "What are the symptoms of glaucoma?"
    capsys.readouterr()  # the trainer's printed logs
    assert main(["index", "search", str(index_dir), "--model", str(model_dir), "--query", query, "--top-k", "5",
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 5 and {hit["id"] for hit in hits} <= set(MedIndex.load(index_dir).ids)
    assert not _of_corpus(encoded_texts["llama"], corpus)

    # a foreign model (plain MiniLM, 384-d on both routes) is refused
    assert main(["index", "search", str(index_dir), "--model", minilm_path, "--query", query]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "is not the model this index was built with" in errors[0]

    # so is the aligned model once its record is gone
    record = read_alignment_record(model_dir)
    (model_dir / "index_alignment.json").unlink()
    assert main(["index", "search", str(index_dir), "--model", str(model_dir), "--query", query]) == 2
    assert "its query route embeds the probe texts differently" in capsys.readouterr().err
    assert record.document_model_name == str(document_tower_dir)


def test_mar_recipe_aligns_to_an_index(minilm_path, document_tower_dir, medquad_corpus, encoded_texts, tmp_path,
                                       capsys):
    """The same route through the MAR recipe (``alignment_index``): it trains Stage I on the index's vectors and
    leaves the record in ``runs/.../model``."""
    from sbert_med.recipes.mar import MARConfig, train_mar

    if "alignment_index" not in {field.name for field in dataclasses.fields(MARConfig)}:
        pytest.skip("MARConfig.alignment_index is not on this branch yet (the MAR recipe side of #11 item 3)")
    corpus = [json.loads(line)["text"] for line in medquad_corpus.read_text().splitlines()]
    index_dir = tmp_path / "index"
    assert main(["index", "build", "--model", str(document_tower_dir), "--corpus", str(medquad_corpus), "--out",
                 str(index_dir), "--truncate-dim", "384", "--no-progress"]) == 0
    encoded_texts.clear()

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"anchor": f"question {i}", "positive": text}) + "\n"
                             for i, text in enumerate(corpus)))
    config = MARConfig(
        output_dir=str(tmp_path / "run"), query_model=minilm_path, query_pooling=None,
        document_model=str(document_tower_dir), alignment_index=str(index_dir), train_data=str(pairs),
        run_init=False, run_stage2=False, stage1_max_steps=2, stage1_batch_size=16,
        query_max_length=MAX_TOKENS, document_max_length=MAX_TOKENS, use_cpu=True, show_progress_bar=False,
    )
    model_dir = train_mar(config)
    assert not _of_corpus(encoded_texts["llama"], corpus)
    assert read_alignment_record(model_dir) is not None
    capsys.readouterr()
    assert main(["index", "search", str(index_dir), "--model", model_dir, "--query", "glaucoma", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 10
