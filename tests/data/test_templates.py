"""Versioned prompt templates and strict parsing of model outputs."""

from __future__ import annotations

import json

import pytest

from sbert_med.data import available_prompts, load_prompt
from sbert_med.data.templates import OutputRejected


def test_packaged_prompts_and_versions():
    assert available_prompts() == {"cardioembed_paraphrase": [1], "mar_relevance": [1], "medembed_queries": [1],
                                 "medline_queries": [1], "textbook_paraphrase": [1]}
    prompt = load_prompt("medembed_queries")
    assert (prompt.name, prompt.version, prompt.fields) == ("medembed_queries", 1, ("text",))
    messages = prompt.format(text="Sepsis treated with vancomycin.")
    assert messages[0]["role"] == "system" and messages[-1]["content"].endswith("Sepsis treated with vancomycin.")
    assert "2 with query_type \"keyword\"" in messages[-1]["content"]
    assert load_prompt("mar_relevance").fields == ("document", "query")
    with pytest.raises(ValueError, match="prompt must be one of"):
        load_prompt("medembed")
    with pytest.raises(ValueError, match="has versions \\[1\\], got 7"):
        load_prompt("medembed_queries", 7)
    with pytest.raises(ValueError, match="missing \\['query'\\]"):
        load_prompt("mar_relevance").format(document="x")


def test_medembed_output_parsing():
    prompt = load_prompt("medembed_queries")
    items = [{"query": "sepsis antibiotics", "query_type": "keyword", "relevance_score": 0.9},
             {"query": "What treats sepsis?", "query_type": "Question", "relevance_score": 1},
             {"query": "", "query_type": "keyword", "relevance_score": 0.9},
             {"query": "vancomycin dosing", "query_type": "drug", "relevance_score": 0.9},
             {"query": "blood cultures", "query_type": "treatment", "relevance_score": "high"}]
    parsed = prompt.parse("```json\n" + json.dumps(items) + "\n```")
    assert [q["query"] for q in parsed["queries"]] == ["sepsis antibiotics", "What treats sepsis?"]
    assert parsed["queries"][1]["query_type"] == "question"
    reasons = [entry["reason"] for entry in parsed["invalid"]]
    assert "query must be" in reasons[0] and "query_type must be one of" in reasons[1]
    assert "relevance_score must be" in reasons[2]
    assert prompt.parse(json.dumps({"queries": items[:1]}))["queries"][0]["query"] == "sepsis antibiotics"
    for bad, reason in [("", "empty output"), ("Here you go: [1, 2]", "not valid JSON"), ('{"a": 1}', "queries"),
                        ("[]", "empty list"), (json.dumps(items[2:]), "no valid query object")]:
        with pytest.raises(OutputRejected, match=reason):
            prompt.parse(bad)


def test_paraphrase_and_grade_parsing():
    paraphrase = load_prompt("cardioembed_paraphrase")
    assert paraphrase.parse('{"paraphrase": "The heart pumps blood."}') == {"paraphrase": "The heart pumps blood."}
    with pytest.raises(OutputRejected, match="at least 3 words"):
        paraphrase.parse('{"paraphrase": "Heart."}')
    grade = load_prompt("mar_relevance")
    assert grade.parse('{"grade": "a", "reason": "close"}') == {"grade": "A", "reason": "close"}
    with pytest.raises(OutputRejected, match="grade must be one of"):
        grade.parse('{"grade": "E"}')
    with pytest.raises(OutputRejected, match="expected a JSON dict"):
        grade.parse('["S"]')


def test_textbook_paraphrase_plain_reply():
    prompt = load_prompt("textbook_paraphrase")
    messages = prompt.format(text="The SA node sets the heart rate.")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"].endswith("Sentence: The SA node sets the heart rate.")
    reply = 'Paraphrase: "The heart rate is set by the SA node."\nThis keeps the meaning.'
    assert prompt.parse(reply) == {"paraphrase": "The heart rate is set by the SA node."}
    with pytest.raises(OutputRejected, match="at least 3 words"):
        prompt.parse("Paraphrase: SA node")
    with pytest.raises(OutputRejected, match="empty output"):
        prompt.parse("  \n ")
