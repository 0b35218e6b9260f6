"""The run folder: one config per folder, resume only under the same config, nothing written over other files."""

from __future__ import annotations

import json

import pytest

from sbert_med.training import RunError, RunFolder, config_hash, last_checkpoint, replace_dir
from sbert_med.training.run import RUN_FILE, STAGE_DONE, _umask

CONFIG = {"recipe": "medembed", "model": "m", "epochs": 1.0, "output_dir": "a", "resume": False}


def test_hash_ignores_where_and_how_often():
    moved = {**CONFIG, "output_dir": "b", "resume": True, "save_steps": 7, "show_progress_bar": False,
             "cache_dir": "/elsewhere/vectors"}
    assert config_hash(moved) == config_hash(CONFIG)
    assert config_hash({**CONFIG, "epochs": 2.0}) != config_hash(CONFIG)


def test_a_folder_belongs_to_one_config(tmp_path):
    run = RunFolder(tmp_path / "run", CONFIG).open()
    (run.checkpoint_dir() / "checkpoint-2").mkdir(parents=True)
    (run.checkpoint_dir() / "checkpoint-2" / "trainer_state.json").write_text("{}")
    assert json.loads((tmp_path / "run" / RUN_FILE).read_text())["config"]["epochs"] == 1.0
    RunFolder(tmp_path / "run", {**CONFIG, "output_dir": "elsewhere"}).open()  # same run: fine
    other = {**CONFIG, "epochs": 2.0}
    with pytest.raises(RunError, match=r"another config \(epochs 1.0 -> 2.0\).*--overwrite"):
        RunFolder(tmp_path / "run", other).open()
    with pytest.raises(RunError, match="cannot resume"):
        RunFolder(tmp_path / "run", other, resume=True).open()
    assert last_checkpoint(run.checkpoint_dir()) is not None  # refusals leave the old run as it was
    replaced = RunFolder(tmp_path / "run", other, overwrite=True).open()
    assert last_checkpoint(replaced.checkpoint_dir()) is None  # the old run's checkpoints are gone
    assert json.loads((tmp_path / "run" / RUN_FILE).read_text())["config"]["epochs"] == 2.0


def test_an_option_added_since_the_run_counts_as_its_default(tmp_path):
    """A run recorded before an option existed resumes under a version that has it, while the option stays at its
    default; set to anything else, it is another config."""
    run = RunFolder(tmp_path / "run", CONFIG).open()
    (run.checkpoint_dir() / "checkpoint-2").mkdir(parents=True)
    (run.checkpoint_dir() / "checkpoint-2" / "trainer_state.json").write_text("{}")
    upgraded = {**CONFIG, "score_documents": 0}
    with pytest.raises(RunError, match=r"cannot resume.*score_documents None -> 0"):
        RunFolder(tmp_path / "run", upgraded, resume=True).open()  # without the defaults: a new key differs
    resumed = RunFolder(tmp_path / "run", upgraded, resume=True, defaults={"score_documents": 0}).open()
    assert resumed.resume_checkpoint() is not None
    assert json.loads((tmp_path / "run" / RUN_FILE).read_text())["config"]["score_documents"] == 0
    with pytest.raises(RunError, match=r"cannot resume.*score_documents 0 -> 4000"):
        RunFolder(tmp_path / "run", {**CONFIG, "score_documents": 4000}, resume=True,
                  defaults={"score_documents": 0}).open()


def test_a_recipe_config_resumes_across_an_added_option(tmp_path):
    """``RunFolder.for_config`` takes the defaults from the config's dataclass: a record without a field resumes."""
    from sbert_med.recipes.mar import MARConfig

    config = MARConfig(output_dir=str(tmp_path / "run"), train_data="pairs.tsv", resume=True)
    RunFolder.for_config(config)
    record = tmp_path / "run" / RUN_FILE
    recorded = json.loads(record.read_text())
    del recorded["config"]["stage1_score_documents"]  # as a run recorded before the option existed
    recorded["config_hash"] = config_hash(recorded["config"])
    record.write_text(json.dumps(recorded))
    RunFolder.for_config(config)
    changed = MARConfig(output_dir=str(tmp_path / "run"), train_data="pairs.tsv", resume=True,
                        stage1_score_documents=10)
    with pytest.raises(RunError, match="stage1_score_documents 0 -> 10"):
        RunFolder.for_config(changed)


def test_resume_finds_the_last_complete_checkpoint(tmp_path):
    run = RunFolder(tmp_path / "run", CONFIG, resume=True).open()
    assert run.resume_checkpoint() is None
    for step, complete in ((2, True), (4, True), (6, False)):  # checkpoint-6 was cut short while saving
        folder = run.checkpoint_dir() / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert run.resume_checkpoint().endswith("checkpoint-4")
    assert RunFolder(tmp_path / "run", CONFIG).open().resume_checkpoint() is None  # not asked to resume


def test_never_writes_into_other_folders(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(RunError, match="not an sbert-med run folder"):
            RunFolder(user, CONFIG, overwrite=overwrite).open()
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"]
    with pytest.raises(RunError, match="lies below the file"):
        RunFolder(user / "notes.txt" / "run", CONFIG).open()
    with pytest.raises(RunError, match="is a file"):
        RunFolder(user / "notes.txt", CONFIG).open()
    assert (user / "notes.txt").read_text() == "keep me"


def test_stages_and_atomic_replace(tmp_path):
    run = RunFolder(tmp_path / "run", CONFIG).open()
    stage = run.stage("init")
    calls = []
    assert stage.run_once(lambda s: (calls.append(s.name), None)[1:] + ({"steps": 3},)) == str(stage.path)
    assert stage.done and stage.info() == {"steps": 3} and (stage.path / STAGE_DONE).is_file()
    stage.run_once(lambda s: calls.append("again"))
    assert calls == ["init"]  # a done stage is skipped

    target = tmp_path / "model"
    with replace_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with replace_dir(target) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("crash while saving")
    assert (target / "a.txt").read_text() == "1"
    assert target.stat().st_mode & 0o777 == (tmp_path / "run").stat().st_mode & 0o777  # a normal folder's mode
    record = tmp_path / "run" / RUN_FILE
    assert record.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "run"]  # no temporary folder left
