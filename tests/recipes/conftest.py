from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

QA = [
    (
        "What treats high blood pressure?",
        "Hypertension is treated with diuretics, ACE inhibitors and calcium blockers.",
    ),
    ("How is type 2 diabetes managed?", "Type 2 diabetes mellitus is managed with metformin, diet and exercise."),
    ("What are signs of a heart attack?", "Myocardial infarction presents with chest pain radiating to the left arm."),
    ("How are asthma attacks treated?", "Asthma exacerbations are treated with inhaled beta agonists and steroids."),
    ("Where does the left ventricle pump blood?", "The left ventricle pumps oxygenated blood into the aorta."),
    ("What is anemia?", "Anemia is a reduced number of red blood cells or hemoglobin."),
    ("What are the symptoms of a stroke?", "Sudden numbness, confusion and trouble speaking are signs of stroke."),
    ("Do antibiotics cure the flu?", "Antibiotics do not treat viral infections such as influenza."),
    ("What causes gout?", "Gout is caused by uric acid crystals depositing in the joints."),
    ("How is hypothyroidism treated?", "Hypothyroidism is treated with daily levothyroxine tablets."),
    ("What is a migraine?", "A migraine is a recurrent headache with nausea and sensitivity to light."),
    ("What does insulin do?", "Insulin lowers blood glucose by moving sugar into cells."),
]


@pytest.fixture
def trainer_calls(monkeypatch):
    """``trainer_calls(recipe_module, pick)``: a dict that receives, for every trainer the module builds, its run
    folder's name (``init_query``, ``stage1``, ``stage2``, ...) -> ``pick(keyword arguments of the trainer)``."""
    from sbert_med.training import MedTrainer

    def record(module, pick):
        seen = {}

        class Recording(MedTrainer):
            def __init__(self, *args, **kwargs):
                seen[Path(kwargs["args"].output_dir).name] = pick(kwargs)
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(module, "MedTrainer", Recording)
        return seen

    return record


@pytest.fixture
def qa_pairs_tsv(tmp_path):
    """A small (query, document) TSV in the layout of MedQuAD's train_pairs.tsv."""
    path = tmp_path / "pairs.tsv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["query_id", "doc_id", "query", "document"])
        for i, (query, document) in enumerate(QA):
            writer.writerow([f"q{i}", f"d{i}", query, document])
    return str(path)


@pytest.fixture
def quick_run(tmp_path) -> dict:
    """The settings every short test run shares: on CPU, written to ``tmp_path/run``, no progress bars, no checkpoint
    before step 10."""
    return {"output_dir": str(tmp_path / "run"), "use_cpu": True, "show_progress_bar": False, "save_steps": 10}


@pytest.fixture
def cpu_example(tmp_path):
    """``cpu_example(NAME, key=value, ...)``: ``examples/NAME/cpu.yaml`` as ``sbert-med train`` loads it, written to
    ``tmp_path/run``, with the overrides given (as ``--set key=value``)."""
    from sbert_med.recipes import load_recipe_config

    def load(name: str, **overrides):
        settings = [f"output_dir={tmp_path / 'run'}", *(f"{key}={value}" for key, value in overrides.items())]
        return load_recipe_config(REPO / "examples" / name / "cpu.yaml", settings)

    return load
