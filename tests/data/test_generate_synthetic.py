"""Generation details of the synthetic pipeline: scrubbed documents in the rows (#16.7), parser errors retried (#14),
the medline_queries prompt (worked example, response prefix, line parser), throughput in the report, length-sorted
batches on a tiny decoder."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from sbert_med.data import generate_queries, load_prompt
from sbert_med.data.llm import LLMGenerator, TransformersGenerator
from sbert_med.data.llm_job import WorkItem, run_llm_job
from sbert_med.data.templates import OutputRejected, parse_medline_queries


class ScriptedGenerator(LLMGenerator):
    """Replies with ``reply(conversation)``; records every conversation it was given."""

    def __init__(self, reply, model_name="scripted") -> None:
        super().__init__(model_name=model_name, max_new_tokens=32, temperature=0.0, seed=7)
        self.reply = reply
        self.seen: list = []

    def stream(self, conversations):
        for index, conversation in enumerate(conversations):
            self.seen.append(conversation)
            yield index, self.reply(conversation)


MEDEMBED_REPLY = json.dumps([{"query": "heart failure follow up", "query_type": "keyword", "relevance_score": 0.9}])
NOTE = ("Mr. John Smith (phone 555-867-5309) was seen on 03/14/2024 for heart failure; furosemide was increased to "
        "40 mg daily.")


def test_rows_keep_the_scrubbed_document_never_the_raw_one():
    generator = ScriptedGenerator(lambda conversation: MEDEMBED_REPLY)
    rows = generate_queries(Dataset.from_dict({"_id": ["n1"], "text": [NOTE]}), generator=generator)
    document = rows[0]["document"]
    assert document != NOTE and "furosemide" in document
    for identifier in ("555-867-5309", "03/14/2024"):
        assert identifier not in document
        assert identifier not in json.dumps(generator.seen)  # nor in the prompt
    # explicit opt-out for texts scrubbed upstream
    raw = generate_queries(Dataset.from_dict({"_id": ["n1"], "text": [NOTE]}), generator=generator, scrub_phi=False)
    assert raw[0]["document"] == NOTE


def test_parser_bug_is_an_error_retried_on_resume_not_a_rejection(tmp_path):
    template = load_prompt("medembed_queries")
    items = [WorkItem("a", {"text": "asthma"}), WorkItem("b", {"text": "anemia"})]
    generator = ScriptedGenerator(lambda conversation: MEDEMBED_REPLY)
    journal = tmp_path / "journal.jsonl"

    def buggy(output):
        raise KeyError("bug in our parser")

    records = run_llm_job(items, generator=generator, template=template, journal_path=journal, parse=buggy)
    assert [record["status"] for record in records] == ["error", "error"]
    assert all("parser error KeyError" in record["reason"] for record in records)
    # the rerun (parser fixed) redoes both items; a real rejection, by contrast, is final
    generator.seen.clear()
    records = run_llm_job(items, generator=generator, template=template, journal_path=journal)
    assert len(generator.seen) == 2 and [record["status"] for record in records] == ["ok", "ok"]

    rejecting = ScriptedGenerator(lambda conversation: "not json")
    other = tmp_path / "other.jsonl"
    assert [r["status"] for r in run_llm_job(items, generator=rejecting, template=template, journal_path=other)] \
        == ["rejected", "rejected"]
    rejecting.seen.clear()
    run_llm_job(items, generator=rejecting, template=template, journal_path=other)
    assert rejecting.seen == []


def test_medline_prompt_has_worked_example_and_response_prefix():
    template = load_prompt("medline_queries")
    messages = template.format(text="Title: T\nAbstract: A")
    assert [message["role"] for message in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert messages[-1]["content"] == "keyword:" and messages[-2]["content"].startswith("Title: T\nAbstract: A")
    # the continuation is parsed with the prefix put back
    parsed = template.parse(" statin myopathy\nquestion: Do statins cause muscle pain? Yes.\ntreatment: statin switch")
    assert [(q["query_type"], q["query"]) for q in parsed["queries"]] == [
        ("keyword", "statin myopathy"), ("question", "Do statins cause muscle pain?"),
        ("treatment", "statin switch")]


def test_medline_parser_stops_at_an_answer_and_rejects_rambling():
    parsed = parse_medline_queries("keyword: gout urate\nQ: How is gout treated?\nA: Allopurinol lowers urate.\n"
                                   "treatment: not reached")
    assert [q["query_type"] for q in parsed["queries"]] == ["keyword", "question"]
    assert all(q["relevance_score"] is None for q in parsed["queries"])
    # run-on lines are salvaged: a keyword line keeps each word once, a statement its first 24 words
    salvaged = parse_medline_queries("keyword: sleep quality; sleep duration; sleep stage\ntreatment: " + "x " * 40)
    assert [q["query"] for q in salvaged["queries"]] == ["sleep quality duration stage", " ".join(["x"] * 24)]
    with pytest.raises(OutputRejected, match="query of 1 words"):
        parse_medline_queries("keyword: " + "antiviral " * 30)
    with pytest.raises(OutputRejected, match="empty output"):
        parse_medline_queries("  ")


def test_reparse_salvages_journalled_outputs_with_todays_parser(tmp_path):
    template = load_prompt("medline_queries")
    items = [WorkItem("a", {"text": "Title: T"})]
    journal = tmp_path / "journal.jsonl"
    old = {"key": None, "source_id": "a", "status": "rejected", "output": "enhancer " * 30, "parsed": None,
           "reason": "query of 30 words (want 2-24)"}
    generator = ScriptedGenerator(lambda conversation: "unused")
    from sbert_med.data.llm_job import work_key

    old["key"] = work_key(items[0], template, generator)
    journal.write_text(json.dumps(old) + "\n")
    assert run_llm_job(items, generator=generator, template=template, journal_path=journal)[0]["status"] == "rejected"
    again = run_llm_job(items, generator=generator, template=template, journal_path=journal, reparse=True)[0]
    assert generator.seen == [] and again["status"] == "rejected" and "1 words" in again["reason"]
    old["output"] = "Spt4-Spt5 enhancer enhancer enhancer enhancer"
    journal.write_text(json.dumps(old) + "\n")
    again = run_llm_job(items, generator=generator, template=template, journal_path=journal, reparse=True)[0]
    assert again["status"] == "ok" and again["parsed"]["queries"][0]["query"] == "Spt4-Spt5 enhancer"
    assert json.loads(journal.read_text())["status"] == "rejected"  # the journal is not rewritten


def test_report_gives_throughput_when_the_generator_measures_time():
    class Timed(ScriptedGenerator):
        def stream(self, conversations):
            self.stats = {"replies": len(conversations), "seconds": 30.0, "new_tokens": 0}
            yield from super().stream(conversations)

    generator = Timed(lambda conversation: "keyword: gout urate\nquestion: How is gout treated?\ntreatment: x y")
    generator.stats = {"replies": 0, "seconds": 0.0, "new_tokens": 0}
    dataset = Dataset.from_dict({"_id": ["a", "b"], "text": ["gout", "gout flare"]})
    rows, report = generate_queries(dataset, generator=generator, prompt="medline_queries", return_report=True)
    assert len(rows) == 6
    assert report.counts["replies_per_min"] == 4.0 and report.counts["queries_per_min"] == 12.0


def test_length_sorted_batches_return_each_reply_under_its_own_index(tiny_decoder_path):
    template = ("{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}assistant:{% endif %}")
    texts = ["Asthma", "Type 2 diabetes mellitus is managed with metformin and diet and exercise", "Gout",
             "Hypertension treated with lisinopril"]
    conversations = [[{"role": "user", "content": text}] for text in texts]
    batched = TransformersGenerator(tiny_decoder_path, max_new_tokens=5, batch_size=2, chat_template=template,
                                    show_progress_bar=False)
    single = TransformersGenerator(tiny_decoder_path, max_new_tokens=5, batch_size=1, chat_template=template,
                                   show_progress_bar=False)
    assert batched.generate(conversations) == single.generate(conversations)
    assert batched.stats["replies"] == 4 and batched.throughput() > 0
    # a conversation ending with an assistant turn is continued, not answered anew
    started = conversations[0] + [{"role": "assistant", "content": "keyword:"}]
    assert batched.render(started).rstrip().endswith("keyword:")
    assert "repetition_penalty" not in batched.provenance() or batched.provenance()["repetition_penalty"] == 1.0
