"""The synthetic MedEmbed pipeline end to end on tiny models: MEDLINE XML -> generator (a loopback chat server) ->
filter -> diversify -> mine -> decontaminate -> train (+ title->abstract baseline) -> evaluate, then a rerun that
redoes nothing; config errors are one line naming the key."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from chat_server import ChatServer  # noqa: E402

from sbert_med.recipes.synthetic_pipeline import (  # noqa: E402
    PipelineError,
    SyntheticPipeline,
    load_pipeline_config,
    main,
)

TOPICS = ["hypertension lisinopril blood pressure", "diabetes metformin glucose", "asthma salbutamol wheeze",
          "anemia ferritin iron", "stroke thrombolysis alteplase", "migraine triptan headache",
          "psoriasis methotrexate plaques", "gout allopurinol urate", "epilepsy valproate seizures",
          "glaucoma timolol pressure", "sepsis antibiotics lactate", "malaria artemisinin parasites"]


def write_medline(path: Path) -> Path:
    articles = []
    for index, topic in enumerate(TOPICS):
        words = topic.split()
        abstract = " ".join(f"In {words[0]} patients {words[1]} changed {words[2]} in cohort {index} week {n}."
                            for n in range(5))
        articles.append(
            f"<PubmedArticle><MedlineCitation><PMID>{700 + index}</PMID><Article>"
            f"<ArticleTitle>{words[1].title()} for {words[0]}: trial {index}</ArticleTitle>"
            f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract><Language>eng</Language>"
            f"</Article></MedlineCitation></PubmedArticle>")
    path.write_text("<PubmedArticleSet>" + "".join(articles) + "</PubmedArticleSet>", encoding="utf-8")
    return path


def write_eval(folder: Path) -> Path:
    folder.mkdir()
    (folder / "qrels").mkdir()
    corpus = [{"_id": "d1", "title": "", "text": "Gout is treated with allopurinol to lower urate."},
              {"_id": "d2", "title": "", "text": "Asthma is treated with inhaled salbutamol."},
              {"_id": "701", "title": "", "text": "A document whose id is the PMID of a MEDLINE citation."},
              # the text of a MEDLINE abstract (index 5, migraine) under another id: dropped by text
              {"_id": "d9", "title": "", "text": " ".join(
                  f"In migraine patients triptan changed headache in cohort 5 week {n}." for n in range(5))}]
    queries = [{"_id": "q1", "text": "how is gout treated"}, {"_id": "q2", "text": "asthma inhaler"},
               # the loopback generator's question for the asthma abstract: must be decontaminated
               {"_id": "q3", "text": "What is known about asthma?"}]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(row) + "\n" for row in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    sts = folder.parent / "sts.tsv"
    sts.write_text("sentence1\tsentence2\tscore\n" + "".join(
        f"{a}\t{b}\t{s}\n" for a, b, s in [("gout pain", "gout attack", 4), ("asthma", "wheeze", 3),
                                          ("anemia", "iron deficiency", 3), ("stroke", "psoriasis", 0)]))
    return folder


def write_config(tmp_path: Path, base_url: str, encoder: str) -> Path:
    medline = write_medline(tmp_path / "medline.xml")
    eval_folder = write_eval(tmp_path / "eval")
    config = tmp_path / "synthetic.yaml"
    config.write_text(f"""
recipe: medembed_synthetic
output_dir: {tmp_path / 'run'}
model: {encoder}
baseline: true
documents: {{medline: [{medline}], max_documents: 100, min_abstract_words: 20}}
generator: {{kind: openai, base_url: "{base_url}", model: test-llm, api_key_env: null, max_concurrency: 2}}
filter: {{min_score: -1.0}}
diversify: {{enabled: true, route: query, threshold: 0.999}}
mine: {{num_negatives: 1, relative_margin: null}}
evaluation:
  - {{name: tiny, kind: beir, path: {eval_folder}, split: test}}
  - {{name: sts, kind: sts, path: {tmp_path / 'sts.tsv'}}}
train: {{epochs: 1, batch_size: 8, query_max_length: 32, passage_max_length: 64, save_steps: 100}}
""", encoding="utf-8")
    return config


@pytest.mark.slow  # ~35 s: two tiny trainings and three evaluations
def test_documents_to_trained_model_with_funnel_and_resume(tmp_path, tiny_encoder_path):
    with ChatServer() as server:
        config = load_pipeline_config(write_config(tmp_path, server.base_url, tiny_encoder_path))
        card = SyntheticPipeline(config).run()
        requests = len(server.requests)
    funnel = {entry["step"]: entry for entry in card["funnel"]}
    assert list(funnel) == ["documents", "scrub", "generate", "filter", "diversify", "mine", "decontaminate",
                            "train", "evaluate"]
    # PMID 701 is an id of the evaluation corpus, abstract 705 a text of it: neither is sent to the generator
    assert funnel["documents"]["rows_out"] == len(TOPICS) - 2 and requests == len(TOPICS) - 2
    assert funnel["documents"]["dropped"] == {"in_eval_corpus": 1}
    assert funnel["generate"]["rows_out"] == 3 * (len(TOPICS) - 2)
    for before, after in zip(card["funnel"][1:7], card["funnel"][2:8]):  # every row is accounted for
        assert before["rows_out"] == after["rows_in"], (before, after)
    assert funnel["decontaminate"]["dropped"].get("exact", 0) >= 1  # the eval query the generator also wrote
    results = card["results"]
    assert set(results) == {"base", "synthetic", "title_abstract"}
    assert set(results["synthetic"]) == {"tiny", "sts"} and 0.0 <= results["synthetic"]["tiny"]["ndcg@10"] <= 1.0
    assert card["prompt"] == {"name": "medline_queries", "version": 1} and card["seed"] == 42
    assert "nlm.nih.gov" in card["sources"][0]["licence"]
    train_rows = (tmp_path / "run" / "steps" / "train_triplets.jsonl").read_text().splitlines()
    assert not any("What is known about asthma?" in row for row in train_rows)
    baseline_rows = (tmp_path / "run" / "steps" / "train_title_abstract.jsonl").read_text().splitlines()
    assert len(baseline_rows) == len(train_rows)  # the no-LLM baseline trains on as many pairs
    assert "| generate |" in (tmp_path / "run" / "data_card.md").read_text()

    # a rerun finds every step done: no request, same card
    with ChatServer() as server:
        again = SyntheticPipeline(config).run()
        assert server.requests == []
    assert again["funnel"] == card["funnel"] and again["results"] == results


def test_config_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("generator: {kind: openai, model: x, temprature: 0.5}\n")
    with pytest.raises(PipelineError, match=r"generator: unknown key 'temprature'"):
        load_pipeline_config(bad)
    bad.write_text("generator: {kind: magic, model: x}\ndocuments: {medline: [a.xml]}\n")
    assert main([str(bad)]) == 2
    expected = f"error: {bad}: generator.kind must be 'transformers' or 'openai', got 'magic'"
    assert capsys.readouterr().err.strip() == expected
    bad.write_text("generator: {kind: openai, model: x\n")
    with pytest.raises(PipelineError, match=r"bad\.yaml, line \d+: not valid YAML"):
        load_pipeline_config(bad)
    with pytest.raises(PipelineError, match="no such config file"):
        load_pipeline_config(tmp_path / "missing.yaml")
    bad.write_text("generator: {kind: openai, model: x}\ndocuments: {medline: [a.xml]}\n"
                   "evaluation: [{name: nf, kind: beir, path: '${DATA_DIR}/nfcorpus'}]\n")
    with pytest.raises(PipelineError, match=r"evaluation task 'nf': path .* needs --data-dir"):
        load_pipeline_config(bad)
    assert load_pipeline_config(bad, data_dir="/data").evaluation[0].path == "/data/nfcorpus"


def test_sbert_med_train_runs_the_pipeline_config(tmp_path, tiny_encoder_path, capsys):
    """``sbert-med train synthetic.yaml`` runs the pipeline (here up to ``generate``); a rerun asks the generator
    nothing; ``--set`` is refused, not ignored."""
    from sbert_med.cli import main as cli_main

    with ChatServer() as server:
        config = write_config(tmp_path, server.base_url, tiny_encoder_path)
        assert cli_main(["train", str(config), "--until", "generate"]) == 0
        first = len(server.requests)
        assert cli_main(["train", str(config), "--until", "generate"]) == 0
        assert len(server.requests) == first == len(TOPICS) - 2
    printed = capsys.readouterr().out
    funnel = json.loads(printed[printed.rindex('{\n  "funnel"'):])["funnel"]
    assert [entry["step"] for entry in funnel] == ["documents", "scrub", "generate"]
    assert funnel[2]["rows_out"] == 3 * (len(TOPICS) - 2)
    assert cli_main(["train", str(config), "--set", "seed=1"]) == 2
    assert "--set is not supported for pipeline configs" in capsys.readouterr().err
    assert cli_main(["train", str(config), "--until", "mining"]) == 2
    assert "--until must be one of" in capsys.readouterr().err


def test_scrub_kinds_are_a_setting(tmp_path):
    """Published abstracts hold no patient identifiers: ``scrub.kinds`` keeps the contact kinds only (names stay),
    the default scrubs every kind, ``enabled: false`` passes the text through; an unknown kind is a config error."""
    abstract = ("Correspondence to Anna Kowalski, anna.kowalski@example.org. " + "Lipoate ligase activity was "
                "measured in Drosophila larvae fed taurine for two weeks and compared with controls. " * 4)
    medline = tmp_path / "medline.xml"
    medline.write_text(
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>901</PMID><Article>"
        "<ArticleTitle>Taurine and lipoate ligase in flies</ArticleTitle>"
        f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract><Language>eng</Language>"
        "</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>", encoding="utf-8")
    config = tmp_path / "scrub.yaml"

    def scrubbed(section: str) -> tuple[str, dict]:
        output = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
        config.write_text(f"output_dir: {output}\ngenerator: {{kind: openai, model: x}}\n"
                          f"documents: {{medline: [{medline}], min_abstract_words: 20}}\n{section}", encoding="utf-8")
        card = SyntheticPipeline(load_pipeline_config(config)).run(until="scrub")
        row = json.loads((output / "steps" / "scrub.jsonl").read_text().splitlines()[0])
        return row["document"], card["scrub"]

    contact_only, report = scrubbed("scrub: {kinds: [email, phone, url]}\n")
    assert "Anna Kowalski" in contact_only and "anna.kowalski@example.org" not in contact_only
    assert "[EMAIL_1]" in contact_only and report["kinds"] == ["email", "phone", "url"]
    assert report["replacements"] == {"email": 2} and report["rows_changed"] == 1  # prompt text and document
    everything, _ = scrubbed("")
    assert "Anna Kowalski" not in everything and "[NAME_1]" in everything
    untouched, report = scrubbed("scrub: {enabled: false}\n")
    assert untouched.endswith(abstract.strip()) and report["enabled"] is False and report["rows_changed"] is None
    config.write_text(f"generator: {{kind: openai, model: x}}\ndocuments: {{medline: [{medline}]}}\n"
                      "scrub: {kinds: [email, gene]}\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"scrub\.kinds: .*\['gene'\]"):
        load_pipeline_config(config)
