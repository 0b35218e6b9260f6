"""Issue #16: ``sbert-med eval`` never reports a stale number; undefined values are valid JSON; bad inputs are one
line errors."""

from __future__ import annotations

import json

import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling

from sbert_med.cli import main
from tests.evaluation.conftest import write_beir

ARGS = ["--tasks", "toy", "--no-efficiency", "--no-progress", "--batch-size", "4"]


@pytest.fixture(scope="module")
def two_models(tiny_encoder_path, tmp_path_factory):
    """Two different models built from the tiny encoder: mean pooling (A) and CLS pooling (B)."""
    root = tmp_path_factory.mktemp("two_models")
    paths = {}
    for name, mode in (("A", "mean"), ("B", "cls")):
        model = SentenceTransformer(tiny_encoder_path, device="cpu")
        model[1] = Pooling(model.get_embedding_dimension(), pooling_mode=mode)
        model.save(str(root / name))
        paths[name] = str(root / name)
    return paths


def ndcg(out, name="m", task="toy"):
    return json.loads((out / "results.json").read_text())[name][task]["ndcg@10"]


def test_same_name_another_model_is_evaluated_again(two_models, tmp_path):
    data = write_beir(tmp_path / "data" / "toy").parent
    base = ["eval", "--data-dir", str(data), *ARGS]
    assert main([*base[:1], f"m={two_models['B']}", *base[1:], "--out", str(tmp_path / "fresh_b")]) == 0
    assert main([*base[:1], f"m={two_models['A']}", *base[1:], "--out", str(tmp_path / "out")]) == 0
    score_a = ndcg(tmp_path / "out")
    assert main([*base[:1], f"m={two_models['B']}", *base[1:], "--out", str(tmp_path / "out")]) == 0
    assert score_a != ndcg(tmp_path / "fresh_b")  # the two models really differ on this data
    assert ndcg(tmp_path / "out") == ndcg(tmp_path / "fresh_b")  # B's own score, not A's


def test_edited_qrels_are_noticed(two_models, tmp_path):
    data = write_beir(tmp_path / "data" / "toy").parent
    argv = ["eval", f"m={two_models['A']}", "--data-dir", str(data), *ARGS, "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    before = ndcg(tmp_path / "out")
    # q1's judged answer moves from d1 to d2: another number for the same model
    write_beir(data / "toy", qrels=[("q1", "d2", 2), ("q2", "d1", 1), ("q3", "d3", 1), ("q4", "d5", 1),
                                    ("q5", "d6", 2)])
    assert main(argv) == 0
    fresh = tmp_path / "fresh"
    assert main([*argv[:-1], str(fresh)]) == 0
    assert ndcg(tmp_path / "out") == ndcg(fresh) != before
    provenance = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert set(provenance["m"]) == {"toy"}


def test_unchanged_rerun_reuses_the_result(two_models, tmp_path, monkeypatch):
    data = write_beir(tmp_path / "data" / "toy").parent
    argv = ["eval", f"m={two_models['A']}", "--data-dir", str(data), *ARGS, "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    import sbert_med.evaluation.suite as suite

    def fail(*args, **kwargs):
        raise AssertionError("a current result was recomputed")

    monkeypatch.setattr(suite, "evaluate_retrieval", fail)
    assert main(argv) == 0


def test_nan_correlation_is_written_as_null_with_a_note(tiny_encoder_path, tmp_path):
    data = tmp_path / "data"
    (data / "flat").mkdir(parents=True)
    (data / "flat" / "flat.tsv").write_text(  # every gold score equal: Spearman is undefined
        "sentence1\tsentence2\tscore\nThe heart pumps blood.\tBlood is pumped.\t3\n"
        "Insulin lowers sugar.\tA broken leg.\t3\nAspirin thins blood.\tAspirin reduces clotting.\t3\n"
    )
    out = tmp_path / "out"
    assert main(["eval", f"tiny={tiny_encoder_path}", "--tasks", "flat", "--data-dir", str(data), "--out",
                 str(out), "--no-efficiency", "--no-progress"]) == 0
    text = (out / "results.json").read_text()
    results = json.loads(text)  # valid JSON: no NaN token
    assert "NaN" not in text and results["tiny"]["flat"]["spearman"] is None
    notes = json.loads((out / "settings.json").read_text())["notes"]
    assert any("tiny / flat / spearman" in note and "null" in note for note in notes)


@pytest.mark.parametrize("case", ["missing_data_dir", "all_zero_qrels", "out_is_a_file", "bad_batch_size"])
def test_bad_inputs_are_one_line_errors(case, tiny_encoder_path, tmp_path, capsys):
    data = write_beir(tmp_path / "data" / "toy").parent
    out = tmp_path / "out"
    argv = ["eval", "bm25", "--tasks", "toy", "--data-dir", str(data), "--out", str(out), "--no-progress"]
    expected = {"missing_data_dir": "data dir not found", "all_zero_qrels": "no query has a relevant document",
                "out_is_a_file": "is a file", "bad_batch_size": "batch_size must be a positive integer"}[case]
    if case == "missing_data_dir":
        argv[argv.index("--data-dir") + 1] = str(tmp_path / "nowhere")
    elif case == "all_zero_qrels":
        write_beir(data / "toy", qrels=[("q1", "d1", 0), ("q2", "d2", 0)])
    elif case == "out_is_a_file":
        out.write_text("mine")
    else:
        argv += ["--batch-size", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("sbert-med eval: error: ")]
    assert "Traceback" not in err and len(errors) == 1 and expected in errors[0], err
