"""Load and validate a local BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from sbert_med.data.jsonl import iter_numbered_jsonl, iter_text_lines

logger = logging.getLogger(__name__)

QRELS_HEADER = ("query-id", "corpus-id", "score")


@dataclass
class BeirData:
    """A validated retrieval split: the corpus, the queries of the split and their graded relevance judgements.

    Args:
        name: A short name for the data (the folder name by default).
        corpus: Document id -> document text (title and text joined by a space, exactly as MTEB joins them).
        queries: Query id -> query text; only the queries judged in ``qrels``.
        qrels: Query id -> {document id: graded relevance score}; a score > 0 means relevant.
        titles: Document id -> title ("" when the corpus has none), kept apart for MTEB's corpus format.
        texts: Document id -> text without the title.
        split: The qrels split the data was read from.
    """

    name: str
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    titles: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    split: str = "test"

    @property
    def relevant_docs(self) -> dict[str, set[str]]:
        """Query id -> set of relevant document ids (score > 0), the format of sentence-transformers' evaluators."""
        return {qid: {cid for cid, score in docs.items() if score > 0} for qid, docs in self.qrels.items()}

    def subset(
        self, *, max_queries: int | None = None, max_corpus: int | None = None, seed: int = 0
    ) -> BeirData:
        """A smaller, reproducible copy: ``max_queries`` sampled queries, and a corpus that keeps every document they
        judge plus seeded random distractors up to ``max_corpus`` documents (never fewer than the judged ones).

        Scores on a subset are not comparable with full-corpus scores; state the subset beside any number.
        """
        rng = random.Random(seed)
        query_ids = sorted(self.queries)
        if max_queries is not None and max_queries < len(query_ids):
            if max_queries < 1:
                raise ValueError(f"max_queries must be >= 1, got {max_queries!r}")
            query_ids = sorted(rng.sample(query_ids, max_queries))
        qrels = {qid: dict(self.qrels[qid]) for qid in query_ids}
        judged = {cid for docs in qrels.values() for cid in docs}
        doc_ids = sorted(self.corpus)
        if max_corpus is not None and max_corpus < len(doc_ids):
            others = [cid for cid in doc_ids if cid not in judged]
            n_extra = max(0, max_corpus - len(judged))
            keep = judged | set(rng.sample(others, min(n_extra, len(others))))
            doc_ids = [cid for cid in doc_ids if cid in keep]
        return BeirData(
            name=self.name,
            corpus={cid: self.corpus[cid] for cid in doc_ids},
            queries={qid: self.queries[qid] for qid in query_ids},
            qrels=qrels,
            titles={cid: self.titles.get(cid, "") for cid in doc_ids},
            texts={cid: self.texts.get(cid, self.corpus[cid]) for cid in doc_ids},
            split=self.split,
        )

    def __repr__(self) -> str:
        n_qrels = sum(len(docs) for docs in self.qrels.values())
        return (
            f"BeirData(name={self.name!r}, split={self.split!r}, corpus={len(self.corpus)}, "
            f"queries={len(self.queries)}, qrels={n_qrels})"
        )


def _read_jsonl(path: Path, *, kind: str, required: tuple[str, ...]) -> dict[str, tuple[int, dict]]:
    """Read a BEIR jsonl file into {id: (line number, record)}, rejecting bad JSON, missing keys and duplicate ids."""
    if not path.is_file():
        raise FileNotFoundError(f"{kind} file not found: {path}")
    records: dict[str, tuple[int, dict]] = {}
    for line_no, record in iter_numbered_jsonl(path):
        missing = [key for key in ("_id", *required) if key not in record]
        if missing:
            raise ValueError(f"{path}, line {line_no}: missing key(s) {missing} (a {kind} line needs '_id', "
                             f"{', '.join(repr(k) for k in required)})")
        doc_id = str(record["_id"])
        if doc_id in records:
            raise ValueError(
                f"{path}, line {line_no}: duplicate id {doc_id!r} (first seen on line {records[doc_id][0]})"
            )
        for key in required:
            if not isinstance(record[key], str):
                raise ValueError(
                    f"{path}, line {line_no}: {key!r} must be a string, got {type(record[key]).__name__}"
                )
        records[doc_id] = (line_no, record)
    if not records:
        raise ValueError(f"{path}: no {kind} records")
    return records


def _read_qrels(path: Path) -> list[tuple[int, str, str, int]]:
    """Read a BEIR qrels TSV (optional ``query-id corpus-id score`` header) into (line, qid, cid, score) rows."""
    if not path.is_file():
        raise FileNotFoundError(f"qrels file not found: {path}")
    rows: list[tuple[int, str, str, int]] = []
    seen: dict[tuple[str, str], int] = {}
    for line_no, line in iter_text_lines(path):
        if not line.strip():
            continue
        columns = line.split("\t")
        if line_no == 1 and tuple(c.strip().lower() for c in columns[:3]) == QRELS_HEADER:
            continue
        if len(columns) != 3:
            raise ValueError(
                f"{path}, line {line_no}: expected 3 tab-separated columns (query-id, corpus-id, score), "
                f"got {len(columns)}: {line!r}"
            )
        query_id, corpus_id, score_text = (c.strip() for c in columns)
        if not query_id or not corpus_id:
            raise ValueError(f"{path}, line {line_no}: empty query-id or corpus-id: {line!r}")
        try:
            score = int(float(score_text))
        except ValueError:
            raise ValueError(
                f"{path}, line {line_no}, column 3: score must be an integer, got {score_text!r}"
            ) from None
        if (query_id, corpus_id) in seen:
            raise ValueError(
                f"{path}, line {line_no}: duplicate judgement for ({query_id!r}, {corpus_id!r}) "
                f"(first seen on line {seen[(query_id, corpus_id)]})"
            )
        seen[(query_id, corpus_id)] = line_no
        rows.append((line_no, query_id, corpus_id, score))
    if not rows:
        raise ValueError(f"{path}: no relevance judgements")
    return rows


def load_beir(
    folder: str | Path,
    split: str = "test",
    *,
    corpus_file: str | None = None,
    max_queries: int = 0,
    max_corpus: int = 0,
    seed: int = 42,
) -> BeirData:
    """Load a local BEIR folder and validate it.

    Reads ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and
    ``qrels/<split>.tsv`` (``query-id  corpus-id  score``, graded; score > 0 is relevant). Only the queries judged in
    the split are kept. Queries whose judgements are all 0 are dropped (they have nothing to find), with a warning.

    Args:
        folder: The BEIR folder.
        split: The qrels split, i.e. the file ``qrels/<split>.tsv`` (e.g. ``"test"``, ``"dev"``, ``"test_mini"``).
        corpus_file: Another corpus file inside ``folder`` (e.g. ``"corpus_mini.jsonl"``) instead of ``corpus.jsonl``.
        max_queries: If > 0, keep a seeded random sample of this many queries (:meth:`BeirData.subset`).
        max_corpus: If > 0, keep every document judged for the kept queries plus seeded random distractors up to
            this many documents (a smaller, *easier* corpus: say so when you report numbers).
        seed: Seed of the samples.

    Returns:
        A :class:`BeirData`.

    Raises:
        FileNotFoundError: A file is missing.
        ValueError: Malformed input, naming the file and line: invalid JSON or UTF-8, a missing key or column,
            a duplicate id or judgement, a qrels id absent from the corpus or the queries, or qrels whose scores
            are all <= 0.

    Example::

        data = load_beir("../shared/data/medquad", "test_mini", corpus_file="corpus_mini.jsonl")
        evaluator = ir_evaluator(data)
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"BEIR folder not found: {folder}")
    corpus_path = folder / (corpus_file or "corpus.jsonl")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise FileNotFoundError(f"qrels file not found: {qrels_path} (splits available: {available})")

    corpus_records = _read_jsonl(corpus_path, kind="corpus", required=("text",))
    query_records = _read_jsonl(folder / "queries.jsonl", kind="queries", required=("text",))
    rows = _read_qrels(qrels_path)

    qrels: dict[str, dict[str, int]] = {}
    for line_no, query_id, corpus_id, score in rows:
        if query_id not in query_records:
            raise ValueError(
                f"{qrels_path}, line {line_no}: query-id {query_id!r} is not in {folder / 'queries.jsonl'}"
            )
        if corpus_id not in corpus_records:
            raise ValueError(f"{qrels_path}, line {line_no}: corpus-id {corpus_id!r} is not in {corpus_path}")
        qrels.setdefault(query_id, {})[corpus_id] = score

    unanswerable = sorted(qid for qid, docs in qrels.items() if not any(score > 0 for score in docs.values()))
    if len(unanswerable) == len(qrels):
        raise ValueError(
            f"{qrels_path}: every relevance score is <= 0, so no query has a relevant document (a score > 0 marks "
            f"a relevant document; check the score column)"
        )
    if unanswerable:
        logger.warning(
            "%s: dropping %d queries with no relevant document (all scores <= 0), e.g. %s",
            qrels_path, len(unanswerable), unanswerable[:3],
        )
        for qid in unanswerable:
            del qrels[qid]

    titles, texts, corpus = {}, {}, {}
    for doc_id, (_, record) in corpus_records.items():
        title = record.get("title") or ""
        if not isinstance(title, str):
            raise ValueError(f"{corpus_path}: 'title' of {doc_id!r} must be a string, got {type(title).__name__}")
        titles[doc_id], texts[doc_id] = title, record["text"]
        corpus[doc_id] = f"{title} {record['text']}".strip() if title else record["text"].strip()
    queries = {qid: query_records[qid][1]["text"] for qid in qrels}
    data = BeirData(
        name=folder.name, corpus=corpus, queries=queries, qrels=qrels, titles=titles, texts=texts, split=split
    )
    logger.info("Loaded %r", data)
    if max_queries > 0 or max_corpus > 0:
        data = data.subset(max_queries=max_queries or None, max_corpus=max_corpus or None, seed=seed)
    return data
