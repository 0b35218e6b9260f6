"""LLM-free surface paraphrases for CPU runs of the CardioEmbed recipe (a stand-in, not a real paraphraser).

CardioEmbed's positives are LLM paraphrases. Generating those needs an LLM (``sbert_med.data.generate_paraphrases``);
on a CPU-only machine the ``cpu`` config instead rewrites each sentence with deterministic rules: medical
synonym / abbreviation swaps, clause reordering at a comma, dropping parentheticals and a few function words.
The pairs keep the meaning but share most words, so they are easier than LLM paraphrases: numbers measured on them
are not comparable to CardioEmbed's.
"""

from __future__ import annotations

import random
import re

__all__ = ["GENERATOR_NAME", "rule_paraphrase"]

GENERATOR_NAME = "sbert_med.rules-v1"

#: both directions are used; all lower case, whole-word matches
_SYNONYMS = [
    ("red blood cells", "erythrocytes"),
    ("red blood cell", "erythrocyte"),
    ("white blood cells", "leukocytes"),
    ("white blood cell", "leukocyte"),
    ("platelets", "thrombocytes"),
    ("heart attack", "myocardial infarction"),
    ("heart rate", "pulse rate"),
    ("blood pressure", "arterial pressure"),
    ("cardiac muscle", "heart muscle"),
    ("heart muscle", "myocardium"),
    ("blood vessels", "vessels"),
    ("blood clot", "thrombus"),
    ("clotting", "coagulation"),
    ("hemoglobin", "haemoglobin"),
    ("artery", "arterial vessel"),
    ("veins", "venous vessels"),
    ("oxygen", "O2"),
    ("carbon dioxide", "CO2"),
    ("the body", "the organism"),
    ("approximately", "about"),
    ("however", "but"),
    ("therefore", "so"),
    ("in addition", "also"),
    ("for example", "for instance"),
    ("increase", "rise"),
    ("decrease", "fall"),
    ("large", "big"),
    ("small", "little"),
    ("called", "known as"),
    ("because", "since"),
]
_SWAPS = {a.lower(): b for a, b in _SYNONYMS} | {b.lower(): a for a, b in _SYNONYMS}
_PATTERN = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _SWAPS), key=len, reverse=True)) + r")\b", re.I)
_DROPPABLE = {"the", "a", "an", "very", "also", "that", "of the"}


def _swap(match: re.Match) -> str:
    word = match.group(0)
    repl = _SWAPS[word.lower()]
    return repl[:1].upper() + repl[1:] if word[:1].isupper() else repl


def rule_paraphrase(sentence: str, *, seed: int = 0) -> str:
    """A deterministic rule-based rewrite of ``sentence`` (same ``seed`` -> same output)."""
    if not sentence.strip():
        return sentence
    rng = random.Random(f"{seed}:{sentence}")
    text = _PATTERN.sub(_swap, sentence)
    text = re.sub(r"\s*\([^)]*\)", "", text).strip() or text
    body, end = (text[:-1], text[-1]) if text[-1:] in ".!?" else (text, ".")
    if ", " in body and rng.random() < 0.5:
        head, tail = body.split(", ", 1)
        if len(tail.split()) >= 3 and len(head.split()) >= 2:
            body = tail[:1].upper() + tail[1:] + ", " + head[:1].lower() + head[1:]
    words = body.split()
    kept = [w for w in words if not (w.lower() in _DROPPABLE and rng.random() < 0.5)]
    body = " ".join(kept) if len(kept) >= 3 else body
    return body[:1].upper() + body[1:] + end
