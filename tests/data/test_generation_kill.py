"""The synthetic pipeline's generate step killed with SIGKILL midway, then rerun: nothing lost, nothing generated
twice, no output file ever cut short."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chat_server import start_process

DOCUMENTS = 40


def write_medline(path: Path, count: int) -> Path:
    """A MEDLINE XML file of ``count`` made-up citations (PMIDs 900000+i), each with an 80-word abstract."""
    articles = []
    for index in range(count):
        abstract = " ".join(f"Patients with hypertension stage {index} received lisinopril dose {index} mg and "
                            f"blood pressure fell in week {n}." for n in range(6))
        articles.append(
            f"<PubmedArticle><MedlineCitation><PMID Version=\"1\">{900000 + index}</PMID><Article>"
            f"<ArticleTitle>Lisinopril trial number {index} in hypertension</ArticleTitle>"
            f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract><Language>eng</Language>"
            f"</Article></MedlineCitation></PubmedArticle>")
    path.write_text("<?xml version=\"1.0\"?>\n<PubmedArticleSet>\n" + "\n".join(articles) + "\n</PubmedArticleSet>\n",
                    encoding="utf-8")
    return path


def write_config(tmp_path: Path, base_url: str) -> Path:
    medline = write_medline(tmp_path / "medline.xml", DOCUMENTS)
    config = tmp_path / "synthetic.yaml"
    config.write_text(f"""
output_dir: {tmp_path / 'run'}
model: unused-before-filter
documents: {{medline: [{medline}], max_documents: {DOCUMENTS}, min_abstract_words: 20}}
generator: {{kind: openai, base_url: "{base_url}", model: test-llm, api_key_env: null, max_concurrency: 2}}
""", encoding="utf-8")
    return config


def journal_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n") if path.exists() else []


@pytest.mark.slow  # 20-60 s: three pipeline subprocesses
def test_killed_generation_resumes_without_losing_or_repeating(tmp_path):
    server, base_url = start_process(tmp_path, delay=0.1)
    config = write_config(tmp_path, base_url)
    journal = tmp_path / "run" / "steps" / "generate.journal.jsonl"
    output = tmp_path / "run" / "steps" / "generate.jsonl"
    command = [sys.executable, "-m", "sbert_med.recipes.synthetic_pipeline", str(config), "--until", "generate"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    try:
        job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline and len([line for line in journal_lines(journal) if line]) < 10:
            time.sleep(0.02)
        os.killpg(job.pid, signal.SIGKILL)  # no cleanup, requests in flight
        job.wait()
        first = [line for line in journal_lines(journal) if line]
        assert 10 <= len(first) < DOCUMENTS, "the job should have been killed midway"
        assert not output.exists(), "the step's output appears only when the step is complete"
        # every complete line is a whole record (a line cut by the kill can only be the last, unterminated one)
        complete = journal.read_text(encoding="utf-8").split("\n")[:-1]
        assert all(json.loads(line)["status"] == "ok" for line in complete)
        # at a deadline: carry on with what the journal holds, generating nothing, leaving the journal as it is
        before = journal.read_bytes()
        partial = subprocess.run([*command, "--no-new-generation"], env=env, capture_output=True, text=True,
                                 timeout=300)
        assert partial.returncode == 0, partial.stderr[-2000:]
        funnel = json.loads(partial.stdout)["funnel"]
        assert funnel[-1]["step"] == "generate" and funnel[-1]["rows_out"] == 3 * len(complete)
        assert funnel[-1]["dropped"] == {"not_generated_yet": DOCUMENTS - len(complete)}
        assert journal.read_bytes() == before
        assert json.loads((tmp_path / "run" / "pipeline.json").read_text())["generate"]["complete"] is False
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    finally:
        server.kill()
        server.wait()
    records = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    ids = [record["source_id"] for record in records]
    assert sorted(ids) == sorted(str(900000 + i) for i in range(DOCUMENTS)), "each document exactly once"
    assert [json.dumps(r) for r in records[: len(complete)]] == [json.dumps(json.loads(line)) for line in complete]
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 * DOCUMENTS  # keyword, question and treatment for every document
    assert {row["source_id"] for row in rows} == set(ids)
    assert {row["query_type"] for row in rows} == {"keyword", "question", "treatment"}
    steps = json.loads((tmp_path / "run" / "pipeline.json").read_text())
    assert steps["generate"]["report"]["rows_out"] == 3 * DOCUMENTS
