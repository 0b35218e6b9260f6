"""Textbook ingestion: OpenStax A&P 2e, Markdown, plain text and PDF."""

from __future__ import annotations

import pytest
from datasets import Dataset

from sbert_med.data import ingest_textbook, load_textbook
from sbert_med.data.sentences import split_sentences


def test_openstax_sentence_count_is_of_the_reference_order(samples):
    blocks = load_textbook(samples / "openstax_ap2e" / "paragraphs.jsonl", book="ap2e")
    sentences, report = ingest_textbook(blocks, show_progress_bar=False, return_report=True)
    reference = (samples / "openstax_ap2e" / "sentences_all.txt").read_text(encoding="utf-8").splitlines()
    # the reference split of the sample's four chapters (19,794 sentences for the whole book)
    assert 0.9 * len(reference) <= len(sentences) <= 1.1 * len(reference)
    assert len(set(sentences["text"]) & set(reference)) >= 0.8 * len(reference)
    assert report.dropped["exact_duplicate"] > 0 and report.dropped["too_short"] > 0
    assert len(set(sentences["sentence_id"])) == len(sentences)
    heart = sentences.filter(lambda row: row["chapter"] == "19")
    assert len(heart) > 500 and heart[0]["sentence_id"].startswith("ap2e/19/19.")


def test_markdown_plain_text_and_pdf(tmp_path):
    markdown = tmp_path / "cardio.md"
    markdown.write_text(
        "# The Heart\n\n## Chambers\n\nThe heart has **four chambers**: two atria and two ventricles. See "
        "[the figure](http://x.org/fig.png) for details about them.\n\n![diagram](fig.png)\n\n"
        "```python\nprint('not prose at all, skipped entirely')\n```\n\n"
        "- The right ventricle pumps blood into the pulmonary trunk.\n\n## Valves\n\n"
        "The mitral valve separates the left atrium from the left ventricle. The mitral valve separates the left "
        "atrium from the left ventricle! Figure 2\n"
    )
    rows = ingest_textbook(load_textbook(markdown), show_progress_bar=False).to_list()
    assert [row["text"] for row in rows] == [
        "The heart has four chambers: two atria and two ventricles.",
        "See the figure for details about them.",
        "The right ventricle pumps blood into the pulmonary trunk.",
        "The mitral valve separates the left atrium from the left ventricle.",
    ]
    assert [(row["chapter"], row["section"]) for row in rows] == [("1", "1.1")] * 3 + [("1", "1.2")]

    text = tmp_path / "book.txt"
    text.write_text("Chapter 19 The Heart\n\n19.1 Heart Anatomy\nThe heart is located in the\nmediastinum between "
                    "the lungs. It is about the size of a fist.\n\n19.2 Cardiac Muscle\nCardiac muscle cells are "
                    "branched and striated. Their contraction is not under voluntary control.\n")
    rows = ingest_textbook(load_textbook(text), show_progress_bar=False).to_list()
    assert rows[0]["text"] == "The heart is located in the mediastinum between the lungs."
    assert [row["section"] for row in rows] == ["19.1", "19.1", "19.2", "19.2"] and rows[0]["chapter"] == "19"
    assert rows[0]["sentence_id"] == "book/19/19.1/1"

    pdf = tmp_path / "book.pdf"
    _write_pdf(pdf, ["Chapter 20 Blood Vessels", "Arteries carry blood away from the heart under high pressure.",
                     "Veins return blood to the heart with the help of valves."])
    rows = ingest_textbook(load_textbook(pdf), show_progress_bar=False).to_list()
    assert [row["text"] for row in rows] == ["Arteries carry blood away from the heart under high pressure.",
                                             "Veins return blood to the heart with the help of valves."]
    assert rows[0]["chapter"] == "20"


def _write_pdf(path, lines):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["pdf.fonttype"] = 42
    figure = plt.figure(figsize=(8.5, 11))
    for number, line in enumerate(lines):
        figure.text(0.05, 0.95 - 0.03 * number - (0.02 if number else 0), line, fontsize=10)
    figure.savefig(path)
    plt.close(figure)


def test_near_duplicates_and_bad_input(tmp_path):
    blocks = Dataset.from_dict({"text": [
        "The sinoatrial node in the wall of the right atrium is the pacemaker of the heart and sets the heart rate. "
        "The sinoatrial node in the wall of the right atrium is the pacemaker of the heart and sets the heart rhythm.",
        "Blood is a connective tissue of the body. BLOOD is a connective tissue of the body!",
    ]})
    rows = ingest_textbook(blocks, show_progress_bar=False)
    assert rows["text"] == [
        "The sinoatrial node in the wall of the right atrium is the pacemaker of the heart and sets the heart rate.",
        "Blood is a connective tissue of the body."]
    exact_only = ingest_textbook(blocks, near_duplicate_threshold=None, show_progress_bar=False)
    assert len(exact_only) == 3
    with pytest.raises(ValueError, match="file type must be one of"):
        (tmp_path / "book.docx").write_text("x")
        load_textbook(tmp_path / "book.docx")
    with pytest.raises(FileNotFoundError):
        load_textbook(tmp_path / "nope.pdf")
    with pytest.raises(ValueError, match="not a readable PDF"):
        (tmp_path / "fake.pdf").write_text("not a pdf")
        load_textbook(tmp_path / "fake.pdf")


def test_sentence_splitter_keeps_abbreviations_together():
    assert split_sentences("Blood flows (e.g. in veins) slowly. Dr. Harvey et al. showed it in 1628. Is it? Yes.") == [
        "Blood flows (e.g. in veins) slowly.", "Dr. Harvey et al. showed it in 1628.", "Is it?", "Yes."]
