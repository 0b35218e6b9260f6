"""PubMed/MEDLINE XML (``PubmedArticleSet``, plain or gzip) as a document collection: PMID, title, abstract, MeSH.

The files NLM distributes (``pubmedYYnNNNN.xml.gz`` from the annual baseline and daily updates) are read as a stream
with :func:`xml.etree.ElementTree.iterparse`, one ``PubmedArticle`` at a time, so a 40 MB file never sits in memory
as a tree. ``PubmedBookArticle`` entries and the ``DeleteCitation`` lists of update files are not read. MEDLINE data
is distributed under NLM's terms and conditions
(https://www.nlm.nih.gov/databases/download/terms_and_conditions.html); a model card built from it should say so.
"""

from __future__ import annotations

import gzip
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets import Dataset

#: the licence note recorded in data cards for documents read from MEDLINE/PubMed files
MEDLINE_LICENSE = "NLM terms and conditions (https://www.nlm.nih.gov/databases/download/terms_and_conditions.html)"


@dataclass(frozen=True)
class MedlineRecord:
    """One citation: ``abstract`` joins the ``AbstractText`` sections (a structured abstract's labels become
    ``"LABEL: text"``); ``mesh`` lists the MeSH descriptor names in file order."""

    pmid: str
    title: str
    abstract: str
    mesh: list[str] = field(default_factory=list)
    language: str = ""
    year: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _text(element: ET.Element | None) -> str:
    """All text below ``element`` (inline markup such as ``<i>`` or ``<sup>`` kept as its text), spaces collapsed."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def _record(article: ET.Element) -> MedlineRecord | None:
    citation = article.find("MedlineCitation")
    if citation is None:
        return None
    pmid = _text(citation.find("PMID"))
    body = citation.find("Article")
    title = _text(body.find("ArticleTitle")) if body is not None else ""
    sections = []
    for part in body.iterfind("Abstract/AbstractText") if body is not None else ():
        text = _text(part)
        if not text:
            continue
        label = (part.get("Label") or "").strip()
        sections.append(f"{label}: {text}" if label and label.upper() != "UNLABELLED" else text)
    mesh = [_text(name) for name in citation.iterfind("MeshHeadingList/MeshHeading/DescriptorName")]
    language = _text(body.find("Language")) if body is not None else ""
    year = _text(body.find("Journal/JournalIssue/PubDate/Year")) if body is not None else ""
    return MedlineRecord(pmid=pmid, title=title, abstract=" ".join(sections), mesh=[m for m in mesh if m],
                         language=language, year=year)


def _open(path: Path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def iter_medline(path: str | os.PathLike) -> Iterator[MedlineRecord]:
    """Yield the citations of one PubMed/MEDLINE XML file (gzip detected from the file's first bytes).

    Raises:
        FileNotFoundError: No such file.
        ValueError: The file is not well-formed XML (the message names the file, line and column), is not gzip
            although it starts like it, or its root is not ``PubmedArticleSet``; or a citation has no PMID.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such MEDLINE file: {path}")
    handle = _open(path)
    try:
        events = ET.iterparse(handle, events=("start", "end"))
        root = None
        for event, element in events:
            if root is None:
                root = element
                if root.tag != "PubmedArticleSet":
                    raise ValueError(f"{path}: not a PubMed/MEDLINE XML file (root element <{root.tag}>, "
                                     "expected <PubmedArticleSet>)")
            if event == "end" and element.tag == "PubmedArticle":
                record = _record(element)
                root.clear()  # drop the finished article (and anything before it) from memory
                if record is None:
                    continue
                if not record.pmid:
                    raise ValueError(f"{path}: a PubmedArticle has no PMID")
                yield record
    except ET.ParseError as exc:
        line, column = exc.position
        raise ValueError(f"{path}, line {line}, column {column + 1}: not well-formed XML "
                         f"({str(exc).split(':')[0]})") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError; a truncated .gz ends in EOFError
        raise ValueError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    finally:
        handle.close()


def medline_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (``*.xml`` and ``*.xml.gz`` inside, sorted) into a list of files."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            inside = sorted([*entry.glob("*.xml"), *entry.glob("*.xml.gz")])
            if not inside:
                raise FileNotFoundError(f"no *.xml or *.xml.gz file in {entry}")
            found.extend(inside)
        elif entry.is_file():
            found.append(entry)
        else:
            raise FileNotFoundError(f"no such MEDLINE file or folder: {entry}")
    return found


def load_medline(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    require_abstract: bool = True,
    min_abstract_words: int = 0,
    languages: Iterable[str] | None = ("eng",),
    exclude_ids: Iterable[str] = (),
    limit: int | None = None,
) -> Dataset:
    """MEDLINE citations as a BEIR-style corpus: ``_id`` (PMID), ``title``, ``text`` (the abstract), ``mesh``.

    A PMID seen twice (a citation revised in a later file) keeps its last version, as PubMed's update files intend.

    Args:
        paths: files or folders of ``*.xml`` / ``*.xml.gz``.
        require_abstract: skip citations without an abstract (ours: a query needs something to be answered from).
        min_abstract_words: skip shorter abstracts.
        languages: keep these ``Language`` codes (default English only; ``None`` keeps all).
        exclude_ids: PMIDs to skip (e.g. the documents of an evaluation corpus).
        limit: stop after this many kept citations (in file order).
    """
    keep_languages = set(languages) if languages is not None else None
    excluded = {str(value) for value in exclude_ids}
    records: dict[str, MedlineRecord] = {}
    for path in medline_paths(paths):
        for record in iter_medline(path):
            if record.pmid in excluded:
                continue
            if require_abstract and not record.abstract:
                continue
            if min_abstract_words and len(record.abstract.split()) < min_abstract_words:
                continue
            if keep_languages is not None and record.language not in keep_languages:
                continue
            records.pop(record.pmid, None)
            records[record.pmid] = record
            if limit is not None and len(records) >= limit:
                break
        if limit is not None and len(records) >= limit:
            break
    return Dataset.from_dict({
        "_id": [record.pmid for record in records.values()],
        "title": [record.title for record in records.values()],
        "text": [record.abstract for record in records.values()],
        "mesh": [record.mesh for record in records.values()],
    })
