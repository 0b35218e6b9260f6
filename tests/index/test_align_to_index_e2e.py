"""Issue #11 item 3 end to end, on real models and real data: a corpus indexed by a bigger document model
(SmolLM2-135M, EOS pooling, 576-d cut to 384) with ``sbert-med index build``, a MiniLM query tower aligned to it on
the index's own vectors (the MAR recipe's ``alignment_index``), then the same index searched with the new model
(``sbert-med index search IDX --model runs/.../model``): no corpus text is encoded twice, results come back, and a
foreign model is refused."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize
from sentence_transformers.base.modules.transformer import Transformer

from sbert_med.cli import main
from sbert_med.index import MedIndex, load_index_targets, read_alignment_record, record_index_alignment
from sbert_med.index.alignment import ALIGNMENT_FILE
from sbert_med.modules import eos_tower

NUM_DOCUMENTS = 24
MAX_TOKENS = 32  # both towers; short so that the test stays quick on a CPU
QUERY = "What are the symptoms of glaucoma?"


@contextlib.contextmanager
def encoded_texts():
    """Every text a Transformer module runs its network on, by model type (``llama``: SmolLM2, ``bert``: MiniLM),
    decoded back from the input ids (so cut to the tower's token limit). Tokenizing alone (e.g. the trainer's
    dataset statistics) does not count: only what goes through the network."""
    seen: dict[str, list[str]] = defaultdict(list)
    original = Transformer.forward

    def counting(self, features, *args, **kwargs):
        ids = features.get("input_ids")
        if ids is not None:
            seen[self.config.model_type].extend(
                text.strip() for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True))
        return original(self, features, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Transformer, "forward", counting)
        yield seen


def _letters(text: str) -> str:
    return "".join(char for char in text.lower() if char.isalnum())  # WordPiece decoding lower-cases and re-spaces


def _of_corpus(texts: list[str], corpus: list[str]) -> list[str]:
    """The ``texts`` that are (the start of) a corpus document."""
    documents = [_letters(document) for document in corpus]
    return [text for text in texts if _letters(text) and any(doc.startswith(_letters(text)) for doc in documents)]


@dataclass
class BuiltIndex:
    folder: Path
    document_model: Path
    corpus: list[str]


@pytest.fixture(scope="module")
def smollm2_index(smollm2_path, samples, tmp_path_factory) -> BuiltIndex:
    """The first MedQuAD answers (cut to 300 characters) indexed by SmolLM2-135M with EOS pooling (a plain
    sentence-transformers folder: "the big model"), at 384 dims; each document is encoded exactly once."""
    root = tmp_path_factory.mktemp("smollm2_index")
    rows = []
    with (samples / "medquad" / "corpus.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            rows.append({"_id": row["_id"], "title": "", "text": row["text"][:300]})
            if len(rows) == NUM_DOCUMENTS:
                break
    (root / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    document_model = root / "smollm2_eos"
    SentenceTransformer(modules=[*eos_tower(smollm2_path, max_seq_length=MAX_TOKENS), Normalize()],
                        device="cpu").save(str(document_model))
    corpus = [row["text"] for row in rows]
    with encoded_texts() as seen:
        assert main(["index", "build", "--model", str(document_model), "--corpus", str(root / "corpus.jsonl"),
                     "--out", str(root / "index"), "--truncate-dim", "384", "--no-progress"]) == 0
    encoded = _of_corpus(seen["llama"], corpus)
    assert len(encoded) == len(corpus)
    assert all(any(_letters(doc).startswith(_letters(text)) for text in encoded) for doc in corpus)  # each once
    return BuiltIndex(root / "index", document_model, corpus)


def _search_and_refuse(index: BuiltIndex, model_dir: str, minilm_path: str, capsys, *, without_record=None) -> None:
    """The aligned model searches the index through the CLI and plain MiniLM is refused with one line; with
    ``without_record`` (the aligned model, loaded) that model is refused once its record is gone."""
    capsys.readouterr()  # the trainer's printed logs
    assert main(["index", "search", str(index.folder), "--model", model_dir, "--query", QUERY, "--top-k", "5",
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 5 and {hit["id"] for hit in hits} <= set(MedIndex.load(index.folder).ids)

    assert main(["index", "search", str(index.folder), "--model", minilm_path, "--query", QUERY]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # not the loading bars
    assert len(errors) == 1 and "is not the model this index was built with" in errors[0]

    record = read_alignment_record(model_dir)
    assert record.document_model_name == str(index.document_model)
    if without_record is not None:
        (Path(model_dir) / ALIGNMENT_FILE).unlink()
        with pytest.raises(ValueError, match="its query route embeds the probe texts differently"):
            MedIndex.load(index.folder).search(without_record, QUERY, alignment=model_dir)


def _recipe_aligns_to_indexes() -> bool:
    from sbert_med.recipes.mar import MARConfig

    return "alignment_index" in {field.name for field in dataclasses.fields(MARConfig)}


@pytest.mark.skipif(not _recipe_aligns_to_indexes(),
                    reason="MARConfig.alignment_index is not on this branch yet (the MAR recipe side of #11 item 3)")
def test_mar_recipe_aligns_to_an_index(smollm2_index, minilm_path, tmp_path, capsys):
    """``MARConfig(alignment_index=IDX, document_model=<the index's model>)``: Stage I on the index's vectors, the
    record left in ``runs/.../model``, which then searches that index."""
    from sbert_med.recipes.mar import MARConfig, train_mar

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"anchor": f"question {i}", "positive": text}) + "\n"
                             for i, text in enumerate(smollm2_index.corpus)))
    config = MARConfig(
        output_dir=str(tmp_path / "run"), query_model=minilm_path, query_pooling=None,
        document_model=str(smollm2_index.document_model), alignment_index=str(smollm2_index.folder),
        train_data=str(pairs), run_init=False, run_stage2=False, stage1_max_steps=1, stage1_batch_size=16,
        query_max_length=MAX_TOKENS, document_max_length=MAX_TOKENS, use_cpu=True, show_progress_bar=False,
    )
    with encoded_texts() as seen:
        model_dir = train_mar(config)
        assert not _of_corpus(seen["llama"], smollm2_index.corpus)  # the document tower never encoded them again
        assert len(_of_corpus(seen["bert"], smollm2_index.corpus)) >= 16  # Stage I trained on the index's texts
        _search_and_refuse(smollm2_index, model_dir, minilm_path, capsys)
        assert not _of_corpus(seen["llama"], smollm2_index.corpus)


@pytest.mark.slow
def test_alignment_loss_on_index_targets(smollm2_index, minilm_path, tmp_path, capsys):
    """The same route with the building blocks alone: ``load_index_targets`` rows into ``AlignmentLoss``, the model
    saved, ``record_index_alignment``."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    from sbert_med.losses import AlignmentLoss
    from sbert_med.modules import build_asymmetric_model, encoder_tower, freeze_route
    from sbert_med.training import MedTrainer

    with encoded_texts() as seen:
        targets = load_index_targets(smollm2_index.folder)
        document = [module for module in SentenceTransformer(str(smollm2_index.document_model), device="cpu")
                    if not isinstance(module, Normalize)]
        model = build_asymmetric_model(encoder_tower(minilm_path, max_seq_length=MAX_TOKENS), document,
                                       bridge="truncate")
        targets.check_document_model(model)
        freeze_route(model, "document")
        # the card's usage snippet would run a few training texts (corpus texts here) through the document route
        model.model_card_data.generate_widget_examples = False
        args = SentenceTransformerTrainingArguments(
            output_dir=str(tmp_path / "checkpoints"), max_steps=1, per_device_train_batch_size=16,
            learning_rate=1e-4, router_mapping={"text": "query"}, use_cpu=True, report_to="none",
            save_strategy="no",
        )
        MedTrainer(model=model, args=args, train_dataset=targets.to_dataset(), loss=AlignmentLoss(model)).train()
        model.save(str(tmp_path / "model"))
        record_index_alignment(tmp_path / "model", smollm2_index.folder, model=model)
        assert not _of_corpus(seen["llama"], smollm2_index.corpus)
        _search_and_refuse(smollm2_index, str(tmp_path / "model"), minilm_path, capsys, without_record=model)
        assert not _of_corpus(seen["llama"], smollm2_index.corpus)
