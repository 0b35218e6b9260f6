"""scrub_phi on synthetic clinical notes with planted identifiers: recall per kind; precision on textbook prose."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from datasets import Dataset
from synthetic_notes import make_notes

from sbert_med.data import scrub_phi, scrub_text
from sbert_med.data.phi import STRUCTURED_KINDS


def recall_by_kind(notes) -> dict[str, float]:
    found, planted = Counter(), Counter()
    for note, identifiers in notes:
        scrubbed, _ = scrub_text(note)
        for kind, value in identifiers:
            planted[kind] += 1
            found[kind] += value not in scrubbed
    return {kind: found[kind] / planted[kind] for kind in planted}


def test_recall_on_planted_identifiers(caplog):
    recall = recall_by_kind(make_notes(300, seed=7))
    logging.getLogger(__name__).warning("PHI recall by kind: %s", {k: round(v, 3) for k, v in recall.items()})
    structured = {kind: value for kind, value in recall.items() if kind in STRUCTURED_KINDS}
    assert set(structured) == {"date", "phone", "record_number", "age", "email", "ssn", "address", "zip"}
    assert min(structured.values()) >= 0.95, structured
    assert recall["name"] >= 0.9


def test_clinical_content_survives():
    note, _ = make_notes(1, seed=3)[0]
    scrubbed, _ = scrub_text(note)
    for kept in ("Blood pressure 142/88", "SpO2 93%", "1/2 tablet", "in 2 weeks", "history of"):
        assert kept in scrubbed
    text = "A 45-year-old with Parkinson disease since 2019 takes carbidopa/levodopa 25/100 mg three times daily."
    assert scrub_text(text)[0] == text, "ages under 90, years alone, eponyms and doses are not identifiers"


def test_textbook_prose_is_rarely_touched(samples):
    lines = (samples / "openstax_ap2e" / "sentences_all.txt").read_text(encoding="utf-8").splitlines()[:3000]
    changed = [line for line in lines if scrub_text(line)[0] != line]
    assert len(changed) <= 0.01 * len(lines), changed[:10]


def test_scrub_phi_dataset_and_report():
    notes = make_notes(20, seed=1)
    dataset = Dataset.from_dict({"text": [note for note, _ in notes], "summary": ["Seen by Dr. Brennan."] * 20,
                                 "n": list(range(20))})
    scrubbed, report = scrub_phi(dataset, columns=["text", "summary"], return_report=True)
    assert scrubbed.column_names == dataset.column_names and scrubbed["n"] == dataset["n"]
    assert report.rows == 20 and report.rows_changed == 20
    assert report.replacements["ssn"] == 20 and report.replacements["email"] == 20
    assert all("[NAME]" in summary for summary in scrubbed["summary"])
    only_dates = scrub_phi(dataset, columns="text", kinds=["date"])
    assert "[DATE]" in only_dates[0]["text"] and "[SSN]" not in only_dates[0]["text"]
    with pytest.raises(ValueError, match="PHI kinds must be among"):
        scrub_phi(dataset, kinds=["dates"])
    with pytest.raises(ValueError, match="columns \\['note'\\] not in the dataset"):
        scrub_phi(dataset, columns="note")
