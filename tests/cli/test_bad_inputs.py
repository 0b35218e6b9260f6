"""Every ``sbert-med`` command with bad inputs (issue #16): a non-zero exit, one error line, no traceback, and no
input file changed (SHA-256 of every input file before and after).

The commands run in a subprocess. To stay fast, that subprocess imports ``sbert_med`` and torch once and forks one
child per case; each child runs ``sbert_med.cli.main(argv)`` as ``python -m sbert_med`` would (an uncaught
exception prints its traceback and exits 1), with its own stdout/stderr. One case also runs through
``python -m sbert_med`` itself, to show the two agree.

Cases of commands owned by other helpers that still fail are marked ``xfail(strict=True)`` with the owner: when the
owner's fix is merged, the case passes, strict xfail turns that into a failure, and the lead removes the mark.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]



@dataclass
class Case:
    """One bad input: ``argv`` (``{name}`` placeholders are paths of the inputs), the text the error line must hold,
    and the owner of the command when today's code still fails it."""

    id: str
    argv: list[str]
    expect: str = ""
    owner: str | None = None
    why: str = ""


CASES = [
    # ---- eval ----------------------------------------------------------------------------------------------------
    Case("eval-missing-data-dir", ["eval", "bm25", "--tasks", "toy", "--data-dir", "{missing}", "--out", "{out}"],
         "data dir not found"),
    Case("eval-all-zero-qrels", ["eval", "bm25", "--tasks", "toy", "--data-dir", "{zero_qrels}", "--out", "{out}"],
         "no query has a relevant document"),
    Case("eval-bad-qrels-line", ["eval", "bm25", "--tasks", "toy", "--data-dir", "{bad_qrels}", "--out", "{out}"],
         "test.tsv, line 3"),
    Case("eval-out-is-a-file", ["eval", "bm25", "--tasks", "toy", "--data-dir", "{data}", "--out", "{a_file}"],
         "is a file"),
    Case("eval-batch-size-0", ["eval", "bm25", "--tasks", "toy", "--data-dir", "{data}", "--out", "{out}",
                               "--batch-size", "0"], "batch_size must be a positive integer"),
    Case("eval-missing-model", ["eval", "m={missing}", "--tasks", "toy", "--data-dir", "{data}", "--out", "{out}"],
         "not found"),
    # ---- index ---------------------------------------------------------------------------------------------------
    Case("index-build-missing-corpus", ["index", "build", "--model", "{model}", "--corpus", "{missing}", "--out",
                                        "{out}"], "corpus not found"),
    Case("index-build-into-the-corpus-folder", ["index", "build", "--model", "{model}", "--corpus", "{data}/toy",
                                                "--out", "{data}/toy"], "choose another --out folder"),
    Case("index-build-invalid-json", ["index", "build", "--model", "{model}", "--corpus", "{bad_json}", "--out",
                                      "{out}"], "bad.jsonl, line 2"),
    Case("index-build-missing-model", ["index", "build", "--model", "{missing}", "--corpus", "{data}/toy", "--out",
                                       "{out}"], "not found"),
    Case("index-search-truncated-faiss", ["index", "search", "{truncated_index}", "--model", "{model}", "--query",
                                          "anemia"], "unreadable FAISS index"),
    Case("index-search-empty-query", ["index", "search", "{index}", "--model", "{model}", "--query", " "],
         "query 1 is empty"),
    Case("index-info-not-an-index", ["index", "info", "{data}"], "not a finished sbert-med index"),
    # ---- push ----------------------------------------------------------------------------------------------------
    Case("push-missing-weights", ["push", "{no_weights}", "org/name", "--dry-run", "{out}"],
         "model.safetensors is missing"),
    Case("push-degenerate-tokenizer", ["push", "{no_tokenizer}", "org/name", "--dry-run", "{out}"],
         "fails check_model"),
    Case("push-bad-repo-id", ["push", "{model}", "not a repo", "--dry-run", "{out}"], "repo_id must look like"),
    Case("push-missing-folder", ["push", "{missing}", "org/name", "--dry-run", "{out}"],
         "not a saved sentence-transformers model"),
    Case("push-base-model-is-a-path", ["push", "{model}", "org/name", "--dry-run", "{out}", "--base-model",
                                       "{model}"], "--base-model must be a Hub id"),
    # ---- train / demo (run helper) -------------------------------------------------------------------------------
    Case("train-missing-config", ["train", "{missing}.yaml"], "config file not found"),
    Case("train-bad-override", ["train", "{config}", "--set", "epochs=[1", "-o", "{out}"], "epochs"),
    Case("train-zero-epochs", ["train", "{config}", "--set", "epochs=0", "-o", "{out}"], "epochs"),
    Case("train-negative-batch-size", ["train", "{config}", "--set", "batch_size=-4", "-o", "{out}"], "batch_size"),
    Case("demo-negative-epochs", ["demo", "--epochs", "-1", "--model", "{model}", "--dataset", "{data}/toy", "-o",
                                  "{out}"], "epochs"),
    Case("demo-negative-max-train", ["demo", "--max-train", "-5", "--model", "{model}", "--dataset", "{data}/toy",
                                     "-o", "{out}"], "max"),
    # ---- data (data helper) --------------------------------------------------------------------------------------
    Case("data-missing-input", ["data", "scrub", "--input", "{missing}.jsonl", "--output", "{out}.jsonl"],
         "no such JSONL file"),
    Case("data-mixed-types", ["data", "scrub", "--input", "{mixed_jsonl}", "--output", "{out}.jsonl"], "mixed.jsonl"),
    Case("data-not-utf8", ["data", "scrub", "--input", "{latin1_jsonl}", "--output", "{out}.jsonl"], "latin1.jsonl"),
    Case("data-output-below-a-file", ["data", "scrub", "--input", "{texts_jsonl}", "--output", "{a_file}/o.jsonl"],
         "a_file"),
    Case("data-output-is-the-input", ["data", "scrub", "--input", "{texts_jsonl}", "--output", "{texts_jsonl}"],
         "texts.jsonl"),
    # ---- tokenizer (core helper) ---------------------------------------------------------------------------------
    Case("tokenizer-missing-corpus", ["tokenizer", "analyze", "-t", "{model}", "-c", "{missing}.txt"],
         "corpus file not found"),
    Case("tokenizer-extend-into-the-model", ["tokenizer", "extend", "-m", "{model_copy}", "-c", "{corpus_txt}", "-o",
                                             "{model_copy}", "--min-frequency", "1", "--new-tokens", "5",
                                             "--no-progress"], "overlaps the source model folder"),
]

DRIVER = r'''
import json, os, sys, time, traceback, hashlib
from pathlib import Path

cases, inputs, results_path = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), Path(sys.argv[3])
import importlib
from sbert_med.cli import build_parser, main

build_parser()  # imports every command module once, before the children fork
for name in ("sentence_transformers", "mteb", "sbert_med.evaluation.suite", "sbert_med.index", "sbert_med.hub",
             "sbert_med.recipes", "sbert_med.demo.run", "sbert_med.training", "sbert_med.tokenizer",
             "sbert_med.data"):
    importlib.import_module(name)

def snapshot():
    return {str(p.relative_to(inputs)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(inputs.rglob("*")) if p.is_file()}

results = {}
for case in cases:
    before = snapshot()
    start = time.monotonic()
    out_file, err_file = results_path.parent / (case["id"] + ".out"), results_path.parent / (case["id"] + ".err")
    pid = os.fork()
    if pid == 0:
        with open(out_file, "w") as out, open(err_file, "w") as err:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                code = main(case["argv"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()  # what an uncaught exception prints in `python -m sbert_med`
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(int(code or 0))
    _, status = os.waitpid(pid, 0)
    after = snapshot()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    results[case["id"]] = {"code": os.waitstatus_to_exitcode(status), "stderr": err_file.read_text(),
                           "changed": changed, "seconds": round(time.monotonic() - start, 1)}
results_path.write_text(json.dumps(results))
'''


def _save_tiny_model(encoder_path: str, folder: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize

    from sbert_med.modules import encoder_tower

    model = SentenceTransformer(modules=[*encoder_tower(encoder_path, pooling="mean", max_seq_length=64),
                                         Normalize()], device="cpu")
    model.save(str(folder))


def _write_beir(folder: Path, qrels: str) -> None:
    (folder / "qrels").mkdir(parents=True)
    docs = ["High blood pressure is treated with diuretics.", "Metformin manages type 2 diabetes.",
            "Inhaled beta agonists relieve asthma.", "Anemia is a low hemoglobin."]
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                                                 for i, t in enumerate(docs)))
    queries = ["How is hypertension treated?", "Which drug for diabetes?", "What relieves asthma?"]
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": t}) + "\n"
                                                  for i, t in enumerate(queries)))
    (folder / "qrels" / "test.tsv").write_text(qrels)
    (folder / "qrels" / "train.tsv").write_text(qrels)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_encoder_path) -> dict[str, str]:
    """Small input files, written once: everything under ``root`` is an input and must never change."""
    base = tmp_path_factory.mktemp("bad_inputs")
    root = base / "inputs"
    root.mkdir()
    paths = {"root": root, "missing": base / "does-not-exist", "outputs": base / "outputs"}
    paths["model"] = root / "model"
    _save_tiny_model(tiny_encoder_path, paths["model"])
    for name, remove in (("no_weights", ["model.safetensors"]),
                         ("no_tokenizer", ["tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                           "special_tokens_map.json"]),
                         ("model_copy", [])):
        shutil.copytree(paths["model"], root / name)
        for file in remove:
            (root / name / file).unlink(missing_ok=True)
        paths[name] = root / name
    good = "query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t1\n"
    _write_beir(root / "data" / "toy", good)
    _write_beir(root / "zero_qrels" / "toy", "query-id\tcorpus-id\tscore\nq0\td0\t0\nq1\td1\t0\n")
    _write_beir(root / "bad_qrels" / "toy", "query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\n")
    paths.update(data=root / "data", zero_qrels=root / "zero_qrels", bad_qrels=root / "bad_qrels")

    from sentence_transformers import SentenceTransformer

    from sbert_med.index import build_index

    model = SentenceTransformer(str(paths["model"]), device="cpu")
    build_index(model, root / "data" / "toy", base / "index_build", show_progress_bar=False)
    shutil.copytree(base / "index_build", root / "index")
    shutil.copytree(base / "index_build", root / "truncated_index")
    faiss_file = root / "truncated_index" / "index.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:40])
    paths.update(index=root / "index", truncated_index=root / "truncated_index")

    texts = ["Patient John Smith, born 01/02/1960, reports chest pain.", "Hypertension is treated with diuretics."]
    (root / "texts.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    (root / "mixed.jsonl").write_text('{"text": "fever and cough"}\n{"text": 42}\n')
    (root / "latin1.jsonl").write_bytes('{"text": "caf\u00e9 au lait"}\n'.encode("latin-1"))
    (root / "bad.jsonl").write_text('{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n')
    (root / "corpus.txt").write_text("\n".join(["hepatosplenomegaly and thrombocytopenia"] * 20) + "\n")
    (root / "a_file").write_text("not a folder\n")
    (root / "pairs.jsonl").write_text("".join(json.dumps({"query": q, "pos": d}) + "\n" for q, d in [
        ("hypertension treatment", "High blood pressure is treated with diuretics."),
        ("diabetes drug", "Metformin manages type 2 diabetes."),
        ("asthma relief", "Inhaled beta agonists relieve asthma."),
        ("anemia", "Anemia is a low hemoglobin.")]))
    (root / "config.yaml").write_text(
        f"recipe: medembed\nmodel: {paths['model']}\ntrain_data: {root / 'pairs.jsonl'}\nbatch_size: 2\n"
        "epochs: 1\nuse_cpu: true\nshow_progress_bar: false\nsave_steps: 1000\n")
    paths.update(texts_jsonl=root / "texts.jsonl", mixed_jsonl=root / "mixed.jsonl",
                 latin1_jsonl=root / "latin1.jsonl", bad_json=root / "bad.jsonl", corpus_txt=root / "corpus.txt",
                 a_file=root / "a_file", config=root / "config.yaml")
    return {name: str(path) for name, path in paths.items()}


def _argv(case: Case, inputs: dict[str, str]) -> list[str]:
    values = {**inputs, "out": str(Path(inputs["outputs"]) / case.id)}
    return [part.format(**values) for part in case.argv]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def results(inputs, tmp_path_factory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("bad_inputs_run")
    only = os.environ.get("SBERT_MED_BAD_INPUT_CASES")  # e.g. "eval-missing-model,push-bad-repo-id" to debug
    cases = [c for c in CASES if not only or c.id in only.split(",")]
    (work / "cases.json").write_text(json.dumps([{"id": c.id, "argv": _argv(c, inputs)} for c in cases]))
    (work / "driver.py").write_text(DRIVER)
    # the real entry point on the first case, in parallel with the driver
    entry = subprocess.Popen([sys.executable, "-m", "sbert_med", *_argv(CASES[0], inputs)], env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    completed = subprocess.run([sys.executable, str(work / "driver.py"), str(work / "cases.json"), inputs["root"],
                                str(work / "results.json")], env=_env(), capture_output=True, text=True,
                               timeout=600)
    entry_out, entry_err = entry.communicate(timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((work / "results.json").read_text())
    results["python -m sbert_med"] = {"code": entry.returncode, "stderr": entry_err}
    return results


def error_lines(stderr: str) -> list[str]:
    """The lines of stderr that are the command's error (log lines and progress bars of loading are not)."""
    return [line for line in stderr.splitlines() if line.startswith("sbert-med") and ": error: " in line]


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=f"owner: {case.owner}; {case.why}")] if case.owner else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input_is_a_one_line_error_and_changes_no_input(case, results):
    if case.id not in results:
        pytest.skip("not selected by SBERT_MED_BAD_INPUT_CASES")
    result = results[case.id]
    stderr = result["stderr"]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert result["code"] != 0, f"exit code 0 for a bad input\n{stderr[-1000:]}"
    errors = error_lines(stderr)
    assert len(errors) == 1, f"expected one error line, got {errors}\n{stderr[-1000:]}"
    assert case.expect in errors[0], errors[0]
    assert result["changed"] == [], f"input files changed: {result['changed']}"


def test_python_m_sbert_med_agrees_with_the_driver(results):
    """The first case through the real entry point: the same exit code and error line as in the forked driver."""
    case = CASES[0]
    if case.id not in results:
        pytest.skip("not selected by SBERT_MED_BAD_INPUT_CASES")
    entry = results["python -m sbert_med"]
    assert entry["code"] == results[case.id]["code"] == 2
    assert error_lines(entry["stderr"]) == error_lines(results[case.id]["stderr"])
