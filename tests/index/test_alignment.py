"""Aligning a query tower to an existing index: its targets, the alignment record and the acceptance rule (tiny
models; the real-model route end to end is in ``test_align_to_index_e2e.py``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize

from sbert_med.cli import main
from sbert_med.index import (
    AlignmentRecord,
    MedIndex,
    build_index,
    load_index_targets,
    read_alignment_record,
    record_index_alignment,
)
from sbert_med.index.alignment import ALIGNMENT_FILE
from sbert_med.modules import build_asymmetric_model, encoder_tower, eos_tower


def _document_model(tiny_decoder_path, seed: int) -> SentenceTransformer:
    """A symmetric 64-d decoder model (EOS pooling); another seed perturbs its weights: another model."""
    model = SentenceTransformer(modules=[*eos_tower(tiny_decoder_path), Normalize()], device="cpu")
    if seed:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            weight = model[0].model.get_input_embeddings().weight
            weight.add_(0.5 * torch.randn(weight.shape, generator=generator))
    return model


def _aligned(tiny_encoder_path, document: SentenceTransformer, seed: int = 0) -> SentenceTransformer:
    """A 32-d query tower (random init per seed) in front of ``document`` as the document route."""
    torch.manual_seed(seed)
    query = encoder_tower(tiny_encoder_path, pooling="cls")
    if seed:
        with torch.no_grad():
            for parameter in query[0].parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
    return build_asymmetric_model(query, list(document), bridge="truncate")


def _corpus(tiny_corpus):
    from datasets import Dataset

    return Dataset.from_dict({"_id": [f"d{i}" for i in range(len(tiny_corpus))], "text": tiny_corpus})


@pytest.fixture(scope="module")
def document(tiny_decoder_path):
    return _document_model(tiny_decoder_path, seed=0)


@pytest.fixture(scope="module")
def index_dir(document, tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("doc_index")
    build_index(document, _corpus(tiny_corpus), out, truncate_dim=32, model_name="tiny-decoder",
                show_progress_bar=False)
    return out


@pytest.fixture(scope="module")
def other_index_dir(tiny_decoder_path, tiny_corpus, tmp_path_factory):
    """Same corpus and width, another document model."""
    out = tmp_path_factory.mktemp("other_index")
    build_index(_document_model(tiny_decoder_path, seed=7), _corpus(tiny_corpus), out, truncate_dim=32,
                model_name="other-decoder", show_progress_bar=False)
    return out


@pytest.fixture(scope="module")
def aligned_dir(tiny_encoder_path, document, index_dir, tmp_path_factory):
    """A model whose document route is the index's model, saved with its alignment record."""
    out = tmp_path_factory.mktemp("aligned")
    _aligned(tiny_encoder_path, document).save(str(out))
    record_index_alignment(out, index_dir)
    return out


# ------------------------------------------------------------------------------------------------ load_index_targets
def test_targets_are_the_stored_vectors_and_texts(index_dir, tiny_corpus):
    targets = load_index_targets(index_dir)
    index = MedIndex.load(index_dir)
    assert targets.ids == [f"d{i}" for i in range(len(tiny_corpus))] and targets.texts == tiny_corpus
    np.testing.assert_array_equal(targets.vectors, np.asarray(index.embeddings))
    assert targets.vectors.shape == (len(tiny_corpus), 32) and targets.vectors.dtype == np.float32
    assert targets.document_model["model_name"] == "tiny-decoder"
    assert targets.document_model["truncate_dim"] == 32
    assert targets.document_model["fingerprint"] == index.manifest.fingerprint["document"]
    data = targets.to_dataset()
    assert data.column_names == ["text", "label"] and data[2]["text"] == tiny_corpus[2]
    np.testing.assert_allclose(data[2]["label"], targets.vectors[2], rtol=0, atol=0)


def test_targets_without_embeddings_file(index_dir, tiny_decoder_path, tiny_corpus, tmp_path):
    flat = tmp_path / "flat"
    shutil.copytree(index_dir, flat)
    (flat / "embeddings.npy").unlink()
    np.testing.assert_allclose(load_index_targets(flat).vectors, load_index_targets(index_dir).vectors, atol=1e-7)

    int8 = tmp_path / "int8"
    build_index(_document_model(tiny_decoder_path, seed=0), _corpus(tiny_corpus), int8, precision="int8",
                truncate_dim=32, show_progress_bar=False)
    (int8 / "embeddings.npy").unlink()
    with pytest.raises(ValueError, match=r"embeddings.npy is missing and a SQ8 index \(flat, int8\) stores its "
                                         r"vectors quantised"):
        load_index_targets(int8)


def test_targets_of_no_index(tmp_path):
    with pytest.raises(FileNotFoundError, match="index folder not found"):
        load_index_targets(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="manifest.json is missing"):
        load_index_targets(tmp_path)


# ------------------------------------------------------------------------------------------------------ the record
def test_record_is_written_beside_a_plainly_loadable_model(aligned_dir, index_dir):
    record = read_alignment_record(aligned_dir)
    assert record is not None and record.route == "query"
    assert record.document_model_name == "tiny-decoder"
    assert record.index["folder"] == str(index_dir.resolve())
    saved = json.loads((aligned_dir / ALIGNMENT_FILE).read_text())
    assert saved == record.to_dict() and len(saved["query_fingerprint"][0]) == 32
    SentenceTransformer(str(aligned_dir), device="cpu")  # the file does not disturb a plain load


def test_no_record_for_a_foreign_document_route(tiny_encoder_path, tiny_decoder_path, index_dir, tmp_path):
    model = _aligned(tiny_encoder_path, _document_model(tiny_decoder_path, seed=3))
    model.save(str(tmp_path))
    with pytest.raises(ValueError, match=r"document route is not the index's document model 'tiny-decoder'"):
        record_index_alignment(tmp_path, index_dir, model=model)
    assert read_alignment_record(tmp_path) is None


@pytest.mark.parametrize(("edit", "message"), [
    (lambda text: text[:-3], r"index_alignment.json, line \d+, column \d+: invalid JSON"),
    (lambda text: text.replace('"format_version": 1', '"format_version": 9'), "format_version must be 1, got 9"),
    (lambda text: text.replace('"route": "query"', '"route": "query", "extra": 1'), r"unknown keys \['extra'\]"),
    (lambda text: text.replace('"route": "query"', '"route": "document"'), "route must be 'query'"),
])
def test_bad_record_is_named(aligned_dir, tmp_path, edit, message):
    path = tmp_path / ALIGNMENT_FILE
    path.write_text(edit((aligned_dir / ALIGNMENT_FILE).read_text()))
    with pytest.raises(ValueError, match=message):
        AlignmentRecord.load(path)


# ----------------------------------------------------------------------------------------------- acceptance rule
def test_aligned_model_is_accepted_with_its_record_only(aligned_dir, index_dir, tiny_corpus):
    index = MedIndex.load(index_dir)
    model = SentenceTransformer(str(aligned_dir), device="cpu")
    hits = index.search(model, tiny_corpus[0], top_k=3, alignment=aligned_dir)[0]
    assert len(hits) == 3 and all(hit.id.startswith("d") for hit in hits)
    assert index.search(model, tiny_corpus[0], top_k=3, alignment=read_alignment_record(aligned_dir))[0] == hits
    with pytest.raises(ValueError, match=r"is not the model this index was built with \('tiny-decoder'\): its query "
                                         "route embeds the probe texts differently"):
        index.search(model, tiny_corpus[0])


def test_record_for_another_document_model_is_refused(aligned_dir, other_index_dir, tiny_corpus):
    index = MedIndex.load(other_index_dir)
    model = SentenceTransformer(str(aligned_dir), device="cpu")
    # its document route is not this index's model: the record does not help
    with pytest.raises(ValueError, match=r"\('other-decoder'\): its document route embeds the probe texts"):
        index.search(model, tiny_corpus[0], alignment=aligned_dir, model_name="aligned model")


def test_record_naming_another_document_model_is_refused(aligned_dir, index_dir, other_index_dir, tmp_path,
                                                         tiny_corpus):
    record = read_alignment_record(aligned_dir)
    record.document_model = {**record.document_model, "model_name": "other-decoder",
                             "fingerprint": MedIndex.load(other_index_dir).manifest.fingerprint["document"]}
    model = SentenceTransformer(str(aligned_dir), device="cpu")
    with pytest.raises(ValueError, match=r"^aligned records that its query tower was aligned to 'other-decoder', not "
                                         r"to this index's document model 'tiny-decoder'"):
        MedIndex.load(index_dir).search(model, tiny_corpus[0], alignment=record, model_name="aligned")


def test_record_copied_to_another_query_tower_is_refused(aligned_dir, tiny_encoder_path, document, index_dir,
                                                         tmp_path, tiny_corpus):
    impostor = _aligned(tiny_encoder_path, document, seed=5)  # same document route, another query tower
    impostor.save(str(tmp_path))
    shutil.copy(aligned_dir / ALIGNMENT_FILE, tmp_path / ALIGNMENT_FILE)
    with pytest.raises(ValueError, match="query route is not the one its alignment record describes"):
        MedIndex.load(index_dir).search(impostor, tiny_corpus[0], alignment=tmp_path)


def test_cli_search_reads_the_record(aligned_dir, index_dir, tmp_path, capsys, tiny_corpus):
    assert main(["index", "search", str(index_dir), "--model", str(aligned_dir), "--query", tiny_corpus[3],
                 "--top-k", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2

    bare = tmp_path / "bare"
    shutil.copytree(aligned_dir, bare)
    (bare / ALIGNMENT_FILE).unlink()
    assert main(["index", "search", str(index_dir), "--model", str(bare), "--query", "asthma"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # not the loading bars
    assert len(errors) == 1 and errors[0].startswith("sbert-med index: error: ")
    assert "its query route embeds the probe texts differently" in errors[0]


def test_read_index_alignment_checks_the_document_model(index_dir, document, tiny_decoder_path, tiny_corpus,
                                                        tmp_path):
    from sbert_med.index.alignment import read_index_alignment

    document.save(str(tmp_path / "same"))
    texts, vectors = read_index_alignment(index_dir, document_model=tmp_path / "same")
    assert texts == tiny_corpus
    np.testing.assert_array_equal(vectors, load_index_targets(index_dir).vectors)
    _document_model(tiny_decoder_path, seed=3).save(str(tmp_path / "other"))
    with pytest.raises(ValueError, match=r"^document_model .*other's document route is not the index's document "
                                         r"model 'tiny-decoder'"):
        read_index_alignment(index_dir, document_model=str(tmp_path / "other"))
