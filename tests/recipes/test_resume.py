"""Killing ``sbert-med train`` after a checkpoint and rerunning it with ``--resume`` continues from that checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import yaml
from sentence_transformers import SentenceTransformer

from sbert_med.cli import main


# a real subprocess killed mid-training (~20 s)
def test_kill_then_resume(tmp_path, tiny_encoder_path, qa_pairs_tsv):
    out = tmp_path / "run"
    config = {
        "recipe": "medembed",
        "model": tiny_encoder_path,
        "train_data": qa_pairs_tsv,
        "batch_size": 4,
        "max_steps": 60,
        "save_steps": 5,
        "save_total_limit": 2,
        "learning_rate": 1e-3,
        "use_cpu": True,
        "show_progress_bar": False,
        "passage_max_length": 32,
        "query_max_length": 16,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sbert_med", "train", str(path), "--output", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    checkpoints = out / "checkpoints"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and not list(checkpoints.glob("checkpoint-*/trainer_state.json")):
            assert proc.poll() is None, "training ended before its first checkpoint"
            time.sleep(0.2)
        time.sleep(0.5)  # let the checkpoint finish writing
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode != 0, "the run was expected to be killed mid-training"
    saved = sorted(int(p.parent.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*/trainer_state.json"))
    assert saved and saved[-1] < 60
    assert not (out / "model").exists()

    assert main(["train", str(path), "--output", str(out), "--resume"]) == 0
    info = json.loads((out / "train_info.json").read_text())
    assert info["resumed_from"] == f"checkpoint-{saved[-1]}"
    assert info["global_step"] == 60
    state = json.loads((checkpoints / "checkpoint-60" / "trainer_state.json").read_text())
    logged_steps = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert logged_steps == sorted(set(logged_steps))  # no step trained twice
    SentenceTransformer(str(out / "model"))  # the resumed run saved a loadable model
