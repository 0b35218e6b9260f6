from __future__ import annotations

import random

import pytest

from sbert_med.evaluation import STSData, evaluate_sts, load_sts_tsv, paraphrase_accuracy


@pytest.mark.slow
def test_biosses_spearman_real_model(minilm, shared_data):
    data = load_sts_tsv(shared_data / "biosses" / "biosses.tsv")
    assert len(data) == 100 and data.name == "biosses"
    scores = evaluate_sts(minilm, data, show_progress_bar=False)
    assert scores["spearman"] > 0.7  # all-MiniLM-L6-v2 on BIOSSES: ~0.81
    shuffled = list(data.scores)
    random.Random(0).shuffle(shuffled)
    control = evaluate_sts(minilm, STSData("x", data.sentences1, data.sentences2, shuffled), show_progress_bar=False)
    assert abs(control["spearman"]) < 0.4


def test_sts_tsv_errors(tmp_path):
    path = tmp_path / "sts.tsv"
    path.write_text("sentence1\tsentence2\tscore\na\tb\t1\nc\td\tlots\n")
    with pytest.raises(ValueError, match=r"sts\.tsv, line 3, column 3: score must be a number, got 'lots'"):
        load_sts_tsv(path)
    path.write_text("s1\ts2\tscore\na\tb\t1\n")
    with pytest.raises(ValueError, match=r"sts\.tsv, line 1: the header must name the columns"):
        load_sts_tsv(path)
    path.write_bytes(b"sentence1\tsentence2\tscore\na\tb\t1\nc\xff\td\t2\n")
    with pytest.raises(ValueError, match=r"sts\.tsv, line 3: not valid UTF-8 \(byte 0xff\)"):
        load_sts_tsv(path)


ANCHORS = [
    "The left ventricle pumps oxygenated blood into the aorta.",
    "Atrial fibrillation is an irregular and often rapid heart rhythm.",
    "Statins lower LDL cholesterol by inhibiting HMG-CoA reductase.",
    "Beta blockers slow the heart rate and reduce blood pressure.",
    "The mitral valve separates the left atrium from the left ventricle.",
    "Heart failure means the heart cannot pump enough blood for the body's needs.",
]
PARAPHRASES = [
    "Oxygen-rich blood is pushed into the aorta by the left ventricle.",
    "An irregular, frequently fast heartbeat is called atrial fibrillation.",
    "By blocking HMG-CoA reductase, statins reduce LDL cholesterol.",
    "Drugs called beta blockers lower blood pressure and heart rate.",
    "Between the left atrium and left ventricle lies the mitral valve.",
    "When the heart fails it cannot supply the body with sufficient blood.",
]


def test_paraphrase_accuracy_real_model(minilm):
    full = paraphrase_accuracy(minilm, ANCHORS, PARAPHRASES, top_k=(1, 3), show_progress_bar=False)
    assert full["pool_size"] == 6 and full["n"] == 6
    assert full["accuracy@1"] >= 5 / 6 and full["accuracy@3"] == 1.0 and full["mrr"] > 0.9
    wrong = PARAPHRASES[1:] + PARAPHRASES[:1]  # each anchor paired with another sentence's paraphrase
    control = paraphrase_accuracy(minilm, ANCHORS, wrong, show_progress_bar=False)
    assert control["accuracy@1"] <= 1 / 6
    pooled = paraphrase_accuracy(minilm, ANCHORS, PARAPHRASES, pool_size=3, seed=1, show_progress_bar=False)
    assert pooled["pool_size"] == 3 and pooled["accuracy@1"] >= full["accuracy@1"]


def test_paraphrase_accuracy_validation(minilm):
    with pytest.raises(ValueError, match="same length"):
        paraphrase_accuracy(minilm, ANCHORS, PARAPHRASES[:3])
    with pytest.raises(ValueError, match=r"pool_size must be between 2 and the number of pairs \(6\), got 7"):
        paraphrase_accuracy(minilm, ANCHORS, PARAPHRASES, pool_size=7)
