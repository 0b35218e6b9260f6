import gzip
from pathlib import Path

import pytest

from sbert_med.data.medline import MEDLINE_LICENSE, iter_medline, load_medline, medline_paths

SAMPLE = Path(__file__).parent / "samples" / "medline_sample.xml"


def test_reads_pmid_title_abstract_mesh():
    records = {record.pmid: record for record in iter_medline(SAMPLE)}
    assert list(records) == ["10704411", "31385538", "29636226", "29807784"]
    structured = records["10704411"]
    assert structured.title.startswith("Dopamine modulates acute responses to cocaine")
    assert structured.abstract.startswith("BACKGROUND: Drugs of abuse have a common property")
    assert "RESULTS: We present evidence" in structured.abstract and "CONCLUSIONS:" in structured.abstract
    assert structured.mesh[:3] == ["Animals", "Behavior, Animal", "Cocaine"]
    assert structured.language == "eng" and structured.year == "2000"
    assert records["29636226"].abstract == ""  # no abstract in the file
    assert "<" not in records["29807784"].abstract  # inline markup kept as text


def test_gzip_and_plain_give_the_same_records(tmp_path):
    packed = tmp_path / "sample.xml.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    assert list(iter_medline(packed)) == list(iter_medline(SAMPLE))


def test_load_medline_as_corpus(tmp_path):
    corpus = load_medline(SAMPLE)
    assert corpus.column_names == ["_id", "title", "text", "mesh"]
    assert corpus["_id"] == ["10704411", "31385538", "29807784"]  # the one without abstract is skipped
    assert load_medline(SAMPLE, exclude_ids=["31385538"], limit=1)["_id"] == ["10704411"]
    assert len(load_medline(SAMPLE, require_abstract=False)) == 4
    assert load_medline(SAMPLE, min_abstract_words=10_000)["_id"] == []
    # a folder is expanded to its XML files
    (tmp_path / "a.xml").write_bytes(SAMPLE.read_bytes())
    assert medline_paths(tmp_path) == [tmp_path / "a.xml"]
    assert "nlm.nih.gov" in MEDLINE_LICENSE


def test_bad_xml_names_file_and_line(tmp_path):
    broken = tmp_path / "broken.xml"
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    lines[9] = lines[9] + "<Unclosed"
    broken.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.xml, line 1[01], column \d+: not well-formed XML"):
        list(iter_medline(broken))


def test_wrong_root_missing_file_and_bad_gzip(tmp_path):
    other = tmp_path / "other.xml"
    other.write_text("<html><body/></html>", encoding="utf-8")
    with pytest.raises(ValueError, match=r"other\.xml: not a PubMed/MEDLINE XML file \(root element <html>"):
        list(iter_medline(other))
    with pytest.raises(FileNotFoundError, match="no such MEDLINE file"):
        list(iter_medline(tmp_path / "missing.xml.gz"))
    truncated = tmp_path / "cut.xml.gz"
    truncated.write_bytes(gzip.compress(SAMPLE.read_bytes())[:500])
    with pytest.raises(ValueError, match=r"cut\.xml\.gz"):
        list(iter_medline(truncated))
