"""TransformersGenerator: batching with left padding on a tiny decoder; real query generation with Qwen2.5-0.5B."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from sbert_med.data import generate_queries
from sbert_med.data.llm import TransformersGenerator

SIMPLE_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def test_batched_left_padded_generation_matches_one_by_one(tiny_decoder_path):
    conversations = [[{"role": "user", "content": text}] for text in
                     ("Hypertension", "Type 2 diabetes mellitus is managed with metformin and diet", "Asthma")]
    batched = TransformersGenerator(tiny_decoder_path, max_new_tokens=6, batch_size=3, chat_template=SIMPLE_TEMPLATE,
                                    show_progress_bar=False)
    assert batched.tokenizer.padding_side == "left"
    single = TransformersGenerator(tiny_decoder_path, max_new_tokens=6, batch_size=1, chat_template=SIMPLE_TEMPLATE,
                                   show_progress_bar=False)
    assert batched.generate(conversations) == single.generate(conversations)
    assert batched.render(conversations[0]).endswith("assistant:")


def test_model_without_chat_template_needs_one(tiny_decoder_path):
    with pytest.raises(ValueError, match="no chat template"):
        TransformersGenerator(tiny_decoder_path, show_progress_bar=False)


def test_sampling_is_reproducible_with_the_seed(tiny_decoder_path):
    conversations = [[{"role": "user", "content": "Anemia"}]] * 2
    generator = TransformersGenerator(tiny_decoder_path, max_new_tokens=8, temperature=1.0, seed=1,
                                      chat_template=SIMPLE_TEMPLATE, show_progress_bar=False)
    outputs = []
    for seed in (1, 1, 2):
        generator.seed = seed
        outputs.append(generator.generate(conversations))
    assert outputs[0] == outputs[1] != outputs[2]


@pytest.mark.slow
def test_qwen_generates_medembed_queries_for_real_documents(qwen_path, samples, tmp_path):
    rows = [json.loads(line) for line in open(samples / "pubmedqa_pqal" / "corpus.jsonl", encoding="utf-8")][:3]
    documents = Dataset.from_dict({"_id": [row["_id"] for row in rows],
                                   "text": [" ".join(row["text"].split()[:60]) for row in rows]})
    generator = TransformersGenerator(qwen_path, max_new_tokens=240, batch_size=3, show_progress_bar=False)
    journal = tmp_path / "journal.jsonl"
    queries, report = generate_queries(documents, generator=generator, journal_path=journal, return_report=True)
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(records) == 3 and {record["source_id"] for record in records} == set(documents["_id"])
    assert all(record["output"] for record in records), "every raw output is journaled, accepted or not"
    assert report.counts["ok"] >= 2, [record["reason"] for record in records]
    assert len(queries) >= 4
    assert set(queries["query_type"]) <= {"keyword", "question", "treatment"}
    assert set(queries["generator"]) == {qwen_path} and set(queries["prompt_name"]) == {"medembed_queries"}
    # queries are about their document: most share a content word with it
    overlaps = [bool(set(q.lower().split()) & set(d.lower().split()) - {"the", "of", "a", "is", "what", "in", "and"})
                for q, d in zip(queries["query"], queries["document"])]
    assert sum(overlaps) >= 0.7 * len(overlaps)
    # a rerun finds everything done and generates nothing
    generator.stream = None  # would raise if called with work to do
    again = generate_queries(documents, generator=generator, journal_path=journal)
    assert again["query"] == queries["query"]
