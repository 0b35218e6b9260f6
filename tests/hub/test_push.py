"""push_model / ``sbert-med push`` against a local recording Hub on 127.0.0.1, and the dry run."""

from __future__ import annotations

import json

import pytest
from sentence_transformers.base.modules import Transformer
from sentence_transformers.sentence_transformer.modules import Pooling

from sbert_med.cli import main
from sbert_med.hub import push_model, save_with_card
from sbert_med.modules import build_asymmetric_model, encoder_tower

REPO = "med-org/mar-tiny"


@pytest.fixture(scope="module")
def saved_model(make_asym_lora, tiny_encoder_path, tiny_decoder_path, tmp_path_factory):
    model = make_asym_lora(tiny_encoder_path, tiny_decoder_path)
    return save_with_card(model, tmp_path_factory.mktemp("push") / "model", family="mar",
                          recipe_config={"recipe": "mar"})


def test_push_creates_private_repo_and_commits_the_staged_files(saved_model, fake_hub, tmp_path, caplog):
    with caplog.at_level("DEBUG"):
        result = push_model(saved_model, REPO)
    assert result.private and result.commit_url.startswith(fake_hub.url)
    calls = [(r["method"], r["path"].split("?")[0]) for r in fake_hub.requests]
    assert calls[0] == ("POST", "/api/repos/create")
    assert ("POST", f"/api/models/{REPO}/preupload/main") in calls
    assert calls[-1] == ("POST", f"/api/models/{REPO}/commit/main")
    create = json.loads(fake_hub.requests[0]["body"])
    assert create["visibility"] == "private"
    assert create["name"] == "mar-tiny" and create["organization"] == "med-org"
    # the token comes from the environment, is sent to the Hub and never logged
    assert all(r["headers"].get("authorization") == "Bearer hf_test_secret_token_123" for r in fake_hub.requests)
    assert "hf_test_secret_token_123" not in caplog.text
    uploaded = fake_hub.files[REPO]
    assert sorted(uploaded) == result.files
    assert {"README.md", "modules.json", "router_config.json", "sbert_med_card.json",
            "document_0_Transformer/model.safetensors"} <= set(uploaded)
    assert not any("adapter" in name for name in uploaded)  # LoRA merged before upload
    card = uploaded["README.md"].decode()
    assert f'SentenceTransformer("{REPO}"' in card and "| document | LORA | 4 | 8 |" in card
    assert "merged into the weights" in card


def test_dry_run_writes_exactly_what_would_be_uploaded(saved_model, fake_hub, tmp_path):
    dry = push_model(saved_model, REPO, dry_run_dir=tmp_path / "dry")
    assert fake_hub.requests == []  # nothing sent
    staged = {name: (tmp_path / "dry" / name).read_bytes() for name in dry.files}
    push_model(saved_model, REPO)
    assert fake_hub.files[REPO] == staged
    with pytest.raises(ValueError, match="is not empty"):
        push_model(saved_model, REPO, dry_run_dir=tmp_path / "dry")


@pytest.mark.slow
def test_public_flag_and_cli(saved_model, fake_hub, tmp_path, capsys):
    assert main(["push", saved_model, REPO, "--public"]) == 0
    create = json.loads(fake_hub.requests[0]["body"])
    assert create["visibility"] == "public"
    assert f"pushed {len(fake_hub.files[REPO])} files to {REPO} (public)" in capsys.readouterr().out
    assert main(["push", saved_model, REPO, "--dry-run", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "README.md").is_file()
    assert main(["push", saved_model, "not a repo id"]) == 2
    assert "repo_id must look like 'user-or-org/model-name'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_model_failing_check_model_is_refused(tiny_encoder_path, tiny_decoder_path, fake_hub, tmp_path):
    # a decoder tower pooled on the last token whose tokenizer does not append EOS: check_model fails
    model = build_asymmetric_model(
        encoder_tower(tiny_encoder_path, pooling="cls"),
        [Transformer(tiny_decoder_path), Pooling(64, pooling_mode="lasttoken")], bridge="project",
        prompts={"query": "", "document": ""},
    )
    with pytest.raises(ValueError, match="refusing to save a model that fails check_model"):
        save_with_card(model, tmp_path / "bad", family="mar")
    save_with_card(model, tmp_path / "bad", family="mar", on_check_failure="warn")
    with pytest.raises(ValueError, match=r"refusing to push .* fails check_model[\s\S]*FAIL\] document: eos_last"):
        push_model(tmp_path / "bad", REPO)
    assert fake_hub.requests == []


def test_offline_mode_and_missing_folder_give_clear_errors(saved_model, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE is set"):
        push_model(saved_model, REPO)
    with pytest.raises(FileNotFoundError, match="not a saved sentence-transformers model"):
        push_model(tmp_path / "nothing", REPO)
