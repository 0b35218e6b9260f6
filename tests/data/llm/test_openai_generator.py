"""OpenAICompatibleGenerator against a real HTTP chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import pytest
from chat_server import start_process
from datasets import Dataset

from sbert_med.data import generate_queries
from sbert_med.data.llm import GenerationFailure, OpenAICompatibleGenerator

NOTES = [
    "Patient with community-acquired pneumonia treated with amoxicillin and azithromycin for seven days.",
    "Type 2 diabetes mellitus managed with metformin; HbA1c improved from 9.1 to 7.2 percent.",
    "Atrial fibrillation with rapid ventricular response; started apixaban and metoprolol.",
    "Acute appendicitis confirmed on computed tomography; laparoscopic appendectomy performed.",
    "Asthma exacerbation treated with nebulized albuterol, ipratropium and oral prednisone.",
    "Iron deficiency anemia from menorrhagia, treated with oral ferrous sulfate supplementation.",
]


def _generator(server, **kwargs) -> OpenAICompatibleGenerator:
    options = {"model": "test-llm", "backoff": 0.01, "timeout": 5.0, "max_retries": 3, "show_progress_bar": False}
    return OpenAICompatibleGenerator(server.base_url, **{**options, **kwargs})


def test_retries_on_500_429_timeouts_and_malformed_bodies(chat_server):
    faults = {0: 500, 1: 429, 2: "timeout", 3: "malformed_body", 4: 503}

    def script(content, attempt, body):
        for position, fault in faults.items():
            if NOTES[position][:30] in content and attempt == 1:
                return fault
        return "ok"

    with chat_server(script=script, timeout_sleep=1.5) as server:
        generator = _generator(server, timeout=0.5, max_concurrency=3)
        replies = generator.generate([[{"role": "user", "content": f"Text:\n{note}"}] for note in NOTES])
        assert all(isinstance(reply, str) and reply.startswith("[") for reply in replies)
        assert generator.stats["retries"] == len(faults)
        # every faulty note was asked twice, the others once
        attempts = sorted(server.attempts.values())
        assert attempts == [1] * (len(NOTES) - len(faults)) + [2] * len(faults)


def test_gives_up_after_max_retries_and_fails_fast_on_400(chat_server):
    def script(content, attempt, body):
        return 500 if "always" in content else 400 if "bad" in content else "ok"

    with chat_server(script=script) as server:
        generator = _generator(server, max_retries=2)
        broken, bad, good = generator.generate([[{"role": "user", "content": text}] for text in ("always", "bad",
                                                                                                  "Text: fine")])
        assert isinstance(broken, GenerationFailure) and "3 attempts" in broken.reason
        assert isinstance(bad, GenerationFailure) and "400" in bad.reason
        assert isinstance(good, str)
        assert server.attempts and max(server.attempts.values()) == 3


def test_api_key_from_env_is_sent_but_never_shown(chat_server, monkeypatch, caplog):
    monkeypatch.setenv("SBERT_MED_TEST_KEY", "sk-secret-123")
    with chat_server() as server, caplog.at_level(logging.DEBUG):
        generator = _generator(server, api_key_env="SBERT_MED_TEST_KEY")
        generator.generate([[{"role": "user", "content": "Text: hello world"}]])
        assert server.requests[0]["authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in repr(generator) and "sk-secret" not in str(generator.provenance())
    assert "sk-secret" not in caplog.text


def test_phi_is_scrubbed_before_sending_unless_explicitly_disabled(chat_server, caplog):
    note = "Mr. John Carter, MRN: 00482913, seen 03/14/2024, phone (555) 201-3344, has gout treated with colchicine."
    with chat_server() as server:
        _generator(server).generate([[{"role": "user", "content": note}]])
        sent = server.requests[-1]["body"]["messages"][0]["content"]
        for identifier in ("John Carter", "00482913", "03/14/2024", "201-3344"):
            assert identifier not in sent
        assert "colchicine" in sent and "[NAME_1]" in sent
        with caplog.at_level(logging.WARNING):
            _generator(server, scrub_phi=False).generate([[{"role": "user", "content": note}]])
        assert "00482913" in server.requests[-1]["body"]["messages"][0]["content"]
        assert "PHI scrubbing is OFF" in caplog.text


def test_generate_queries_records_bad_outputs_and_loses_nothing(chat_server, tmp_path):
    def reply(content, body):
        if NOTES[1][:30] in content:
            return "Sure! Here are your queries: keyword, question"  # not JSON
        if NOTES[2][:30] in content:
            # every item invalid
            return json.dumps([{"query": "atrial fibrillation", "query_type": "slogan", "relevance_score": 2}])
        from chat_server import default_reply

        return default_reply(content, body)

    def script(content, attempt, body):
        return 500 if NOTES[3][:30] in content else "ok"  # never succeeds

    dataset = Dataset.from_dict({"_id": [f"note-{i}" for i in range(len(NOTES))], "text": NOTES})
    journal = tmp_path / "journal.jsonl"
    with chat_server(script=script, reply=reply) as server:
        generator = _generator(server, max_retries=1)
        queries, report = generate_queries(dataset, generator=generator, journal_path=journal, return_report=True)
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    status = {record["source_id"]: record["status"] for record in records}
    assert status == {"note-0": "ok", "note-1": "rejected", "note-2": "rejected", "note-3": "failed", "note-4": "ok",
                      "note-5": "ok"}
    rejected = {record["source_id"]: record["reason"] for record in records if record["status"] == "rejected"}
    assert "not valid JSON" in rejected["note-1"] and "query_type" in rejected["note-2"]
    assert report.counts == {"ok": 3, "rejected": 2, "failed": 1}
    # 6 queries per good note, the one scored 0.3 dropped
    assert len(queries) == 3 * 5 and report.dropped["low_relevance"] == 3
    assert min(queries["relevance_score"]) >= 0.5
    row = queries[0]
    assert row["source_id"] == "note-0" and row["generator"] == "test-llm" and row["seed"] == 42
    assert row["prompt_name"] == "medembed_queries" and row["prompt_version"] == 1
    assert row["document"] == NOTES[0]

    # the rerun redoes only the failed note, now that the server is healthy
    with chat_server() as server:
        again = generate_queries(dataset, generator=_generator(server), journal_path=journal)
        assert len(server.requests) == 1 and NOTES[3][:30] in server.requests[0]["body"]["messages"][-1]["content"]
    assert len(again) == 4 * 5


JOB = """
import sys
from datasets import Dataset
from sbert_med.data import generate_queries
from sbert_med.data.llm import OpenAICompatibleGenerator
texts = [f"Note {i}: chronic kidney disease stage {i % 5} treated with lisinopril dose {i} mg." for i in range(40)]
dataset = Dataset.from_dict({"_id": [f"n{i}" for i in range(40)], "text": texts})
generator = OpenAICompatibleGenerator(sys.argv[1], model="test-llm", max_concurrency=2, show_progress_bar=False)
generate_queries(dataset, generator=generator, journal_path=sys.argv[2])
"""


@pytest.mark.slow
def test_killed_job_resumes_without_losing_or_repeating_work(tmp_path):
    server, base_url = start_process(tmp_path, delay=0.05)
    journal = tmp_path / "journal.jsonl"
    script = tmp_path / "job.py"
    script.write_text(JOB)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    try:
        job = subprocess.Popen([sys.executable, str(script), base_url, str(journal)], env=env)
        deadline = time.time() + 120
        while time.time() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 8):
            time.sleep(0.05)
        job.kill()  # SIGKILL: no cleanup, mid-request
        job.wait()
        first = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
        assert 8 <= len(first) < 40, "the job should have been killed midway"
        subprocess.run([sys.executable, str(script), base_url, str(journal)], env=env, check=True, timeout=300)
    finally:
        server.kill()
        server.wait()
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    ids = [record["source_id"] for record in records]
    assert sorted(ids) == sorted(f"n{i}" for i in range(40)), "every note exactly once: nothing lost, nothing repeated"
    assert records[: len(first)] == first and all(record["status"] == "ok" for record in records)
