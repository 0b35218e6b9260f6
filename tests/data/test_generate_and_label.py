"""generate_paraphrases and label_relevance (MAR consensus) through the loopback chat server."""

from __future__ import annotations

import json

from datasets import Dataset

from sbert_med.data import generate_paraphrases, label_relevance
from sbert_med.data.llm import OpenAICompatibleGenerator

SENTENCES = [
    "The left ventricle pumps oxygenated blood into the aorta.",
    "Cardiac output is the product of heart rate and stroke volume.",
    "The sinoatrial node initiates each heartbeat.",
]


def _generator(server, model="grader", **kwargs):
    return OpenAICompatibleGenerator(server.base_url, model=model, backoff=0.01, show_progress_bar=False, **kwargs)


def test_paraphrases_keep_columns_and_provenance(chat_server, tmp_path):
    def reply(content, body):
        sentence = content.split("Sentence:", 1)[1].strip()
        if "sinoatrial" in sentence:
            return json.dumps({"paraphrase": sentence.upper()})  # a copy: rejected
        return json.dumps({"paraphrase": "Put differently, " + sentence[0].lower() + sentence[1:]})

    dataset = Dataset.from_dict({"sentence_id": ["b/19/1", "b/19/2", "b/19/3"], "chapter": ["19"] * 3,
                                 "text": SENTENCES})
    with chat_server(reply=reply) as server:
        pairs, report = generate_paraphrases(dataset, generator=_generator(server, seed=7), id_column="sentence_id",
                                             journal_path=tmp_path / "j.jsonl", return_report=True)
    assert pairs["anchor"] == SENTENCES[:2]
    assert pairs["positive"][0] == "Put differently, the left ventricle pumps oxygenated blood into the aorta."
    assert pairs["chapter"] == ["19", "19"] and pairs["sentence_id"] == ["b/19/1", "b/19/2"]
    assert pairs["source_id"] == ["b/19/1", "b/19/2"] and set(pairs["seed"]) == {7}
    assert set(pairs["prompt_name"]) == {"cardioembed_paraphrase"} and report.dropped["copy_of_anchor"] == 1


def test_consensus_positive_only_if_all_graders_agree(chat_server, tmp_path):
    rows = Dataset.from_dict({
        "query": ["left ventricle pumps blood into aorta", "left ventricle pumps blood into aorta",
                  "cardiac output heart rate"],
        "document": [SENTENCES[0], "Bones store calcium and phosphate.", SENTENCES[1]],
    })
    with chat_server() as server:
        # "strict-grader" downgrades documents about the ventricle to C: the pair is no longer a consensus positive
        graders = [_generator(server, model="lenient-grader"), _generator(server, model="strict-grader")]
        labelled, report = label_relevance(rows, generators=graders, journal_path=tmp_path / "labels.jsonl",
                                           return_report=True)
        assert labelled["grades"] == [["S", "C"], ["D", "D"], ["S", "S"]]
        assert labelled["consensus"] == ["mixed", "negative", "positive"]
        assert labelled["label"] == [0, 0, 1]
        assert labelled["graders"][0] == ["lenient-grader", "strict-grader"]
        requests = len(server.requests)
        # resuming with the same journal asks nothing again
        again = label_relevance(rows, generators=graders, journal_path=tmp_path / "labels.jsonl")
        assert len(server.requests) == requests and again["consensus"] == labelled["consensus"]
    single = label_relevance(rows.select([0]), generators=graders[0])
    assert single["consensus"] == ["mixed"], "an unreachable grader never makes a positive"
