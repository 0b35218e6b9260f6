from __future__ import annotations

import pytest
from datasets import Dataset, DatasetDict
from sentence_transformers import SentenceTransformerTrainingArguments

from sbert_med.losses import AlignmentLoss, AsymInfoNCELoss
from sbert_med.training import MedTrainer

PAIRS = {"anchor": ["what lowers blood pressure?", "metformin dose"],
         "positive": ["Diuretics lower blood pressure.", "Metformin 500 mg twice daily."]}


def _trainer(model, tmp_path, router_mapping, train_dataset, loss=None):
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), max_steps=1, router_mapping=router_mapping, report_to="none", use_cpu=True,
    )
    return MedTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss or AsymInfoNCELoss(model))


def test_a_column_missing_from_the_mapping_is_an_error(tiny_model, tmp_path):
    dataset = Dataset.from_dict({"anchr": PAIRS["anchor"], "positive": PAIRS["positive"]})  # typo
    with pytest.raises(ValueError, match=r"column\(s\) \['anchr'\].*silently be embedded by the default route"):
        _trainer(tiny_model, tmp_path, {"anchor": "query", "positive": "document"}, dataset)


def test_a_mapping_naming_no_column_is_an_error(tiny_model, tmp_path):
    dataset = Dataset.from_dict({"anchor": PAIRS["anchor"], "positive": PAIRS["positive"]})
    mapping = {"anchor": "query", "positive": "document", "negative": "document"}
    with pytest.raises(ValueError, match=r"names column\(s\) \['negative'\] that the train dataset does not have"):
        _trainer(tiny_model, tmp_path, mapping, dataset)


def test_an_unknown_route_is_an_error(tiny_model, tmp_path):
    dataset = Dataset.from_dict(PAIRS)
    expected = r"router_mapping\['anchor'\] must be one of \['document', 'query'\], got 'qeury'"
    with pytest.raises(ValueError, match=expected):
        _trainer(tiny_model, tmp_path, {"anchor": "qeury", "positive": "document"}, dataset)


def test_empty_mapping_is_an_error(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="router_mapping"):
        _trainer(tiny_model, tmp_path, {}, Dataset.from_dict(PAIRS))


def test_empty_strings_are_an_error(tiny_model, tmp_path):
    dataset = Dataset.from_dict({"anchor": PAIRS["anchor"], "positive": ["Diuretics.", "   "]})
    with pytest.raises(ValueError, match=r"train dataset, column 'positive', row 1: empty text '   '"):
        _trainer(tiny_model, tmp_path, {"anchor": "query", "positive": "document"}, dataset)


def test_nested_mapping_for_several_datasets(tiny_model, tmp_path):
    texts = PAIRS["anchor"] + PAIRS["positive"]
    train = DatasetDict({
        "retrieval": Dataset.from_dict(PAIRS),
        "align": Dataset.from_dict({"q_text": texts, "d_text": texts}),
    })
    losses = {"retrieval": AsymInfoNCELoss(tiny_model), "align": AlignmentLoss(tiny_model)}
    good = {
        "retrieval": {"anchor": "query", "positive": "document"},
        "align": {"q_text": "query", "d_text": "document"},
    }
    _trainer(tiny_model, tmp_path, good, train, losses)
    bad = {"retrieval": good["retrieval"], "align": {"q_text": "query"}}
    with pytest.raises(ValueError, match=r"\['d_text'\] of the train dataset 'align' are not in router_mapping"):
        _trainer(tiny_model, tmp_path, bad, train, losses)
    with pytest.raises(ValueError, match="has no entry"):
        _trainer(tiny_model, tmp_path, {"retrieval": good["retrieval"]}, train, losses)


def test_label_columns_need_no_route(tiny_model, tmp_path):
    dataset = Dataset.from_dict({"text": ["fever", "cough"], "label": [[0.0] * 32, [1.0] * 32]})
    _trainer(tiny_model, tmp_path, {"text": "query"}, dataset, AlignmentLoss(tiny_model))
