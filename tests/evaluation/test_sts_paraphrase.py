from __future__ import annotations

import random

import pytest

from sbert_med.evaluation import STSData, evaluate_sts, load_sts_tsv, paraphrase_accuracy

# Sentence pairs written for this test (ours), scored 0-4 like BIOSSES (4: same meaning, 0: unrelated topic).
STS_PAIRS = [
    ("High blood pressure is treated with diuretics.", "Hypertension is managed with diuretic drugs.", 4.0),
    ("Metformin is the first drug for type 2 diabetes.", "Type 2 diabetes is usually first treated with metformin.",
     4.0),
    ("The left ventricle pumps blood into the aorta.", "Blood leaves the left ventricle through the aorta.", 3.6),
    ("Asthma attacks are relieved by inhaled bronchodilators.", "Inhaled bronchodilators ease an asthma attack.", 4.0),
    ("Anemia is a low red blood cell count.", "A shortage of red blood cells is called anemia.", 3.8),
    ("Statins lower LDL cholesterol.", "Statins reduce the risk of heart attack by lowering cholesterol.", 3.0),
    ("Insulin lowers blood glucose.", "Insulin is a hormone made by the pancreas.", 2.0),
    ("Aspirin prevents blood clots after a heart attack.", "Aspirin relieves mild headaches.", 1.6),
    ("Stroke causes sudden weakness on one side of the body.", "A stroke can leave a patient unable to speak.", 2.4),
    ("Influenza is caused by a virus.", "Antibiotics do not cure the flu.", 2.0),
    ("The kidneys filter waste from the blood.", "Chronic kidney disease can require dialysis.", 2.0),
    ("Melanoma is a cancer of pigment cells in the skin.", "Sunscreen lowers the risk of skin cancer.", 1.8),
    ("Gout is caused by uric acid crystals in the joints.", "Osteoporosis makes bones thin and brittle.", 0.6),
    ("The heart has four chambers.", "Vitamin D is made in the skin under sunlight.", 0.0),
    ("Hepatitis B is spread through blood and body fluids.", "Regular exercise improves sleep quality.", 0.0),
    ("Migraine headaches come with nausea and light sensitivity.", "The femur is the longest bone in the body.", 0.0),
    ("Epilepsy causes recurrent seizures.", "Cataracts cloud the lens of the eye.", 0.2),
    ("Red blood cells carry oxygen with hemoglobin.", "Hemoglobin in red cells binds oxygen in the lungs.", 3.6),
    ("Smoking is the main cause of lung cancer.", "Most lung cancers are caused by cigarette smoking.", 4.0),
    ("Thyroid hormone controls the metabolic rate.", "Hypothyroidism is treated with levothyroxine.", 1.8),
]


def test_sts_spearman_real_model(minilm, tmp_path):
    """BIOSSES (GPL-3.0) is not shipped with the tests; pairs written for the test stand in. all-MiniLM-L6-v2 scores
    0.92 Spearman on them (0.81 on BIOSSES); the shuffled-score control stays near 0."""
    path = tmp_path / "medical_sts.tsv"
    path.write_text("sentence1\tsentence2\tscore\n" + "".join(f"{a}\t{b}\t{score}\n" for a, b, score in STS_PAIRS))
    data = load_sts_tsv(path)
    assert len(data) == len(STS_PAIRS) and data.name == "medical_sts"
    scores = evaluate_sts(minilm, data, show_progress_bar=False)
    assert scores["spearman"] > 0.8
    shuffled = list(data.scores)
    random.Random(0).shuffle(shuffled)
    control = evaluate_sts(minilm, STSData("x", data.sentences1, data.sentences2, shuffled), show_progress_bar=False)
    assert abs(control["spearman"]) < 0.4


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"sentence1\tsentence2\tscore\na\tb\t1\nc\td\tlots\n",
         r"sts\.tsv, line 3, column 3: score must be a number, got 'lots'"),
        (b"s1\ts2\tscore\na\tb\t1\n", r"sts\.tsv, line 1: the header must name the columns"),
        (b"sentence1\tsentence2\tscore\na\tb\t1\nc\xff\td\t2\n", r"sts\.tsv, line 3: not valid UTF-8 \(byte 0xff\)"),
    ],
    ids=["bad-score", "bad-header", "non-utf8"],
)
def test_sts_tsv_errors(tmp_path, content, pattern):
    path = tmp_path / "sts.tsv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern):
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
