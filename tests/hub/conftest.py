"""Fixtures of the hub tests: a tiny asymmetric model with a LoRA document tower, and a recording fake Hub."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
import yaml
from peft import PeftModel

from sbert_med.modules import add_lora, build_asymmetric_model, encoder_tower, eos_tower

PROMPTS = {"query": "Represent this medical question for retrieving answers: ", "document": ""}


def make_asymmetric_lora_model(encoder_path: str, decoder_path: str):
    """Tiny MAR-style model: BERT query tower projected to a Qwen2 document tower carrying a non-trivial LoRA."""
    torch.manual_seed(0)
    model = build_asymmetric_model(
        encoder_tower(encoder_path, pooling="cls", max_seq_length=64), eos_tower(decoder_path, max_seq_length=64),
        bridge="project", prompts=dict(PROMPTS),
    )
    add_lora(model, "document", {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]})
    peft_model = model[0].sub_modules["document"][0].model
    assert isinstance(peft_model, PeftModel)
    with torch.no_grad():  # as if trained: lora_B starts at zero, which would make the merge a no-op
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(0.5 * torch.randn_like(param))
    model.eval()
    return model


@pytest.fixture(scope="session")
def make_asym_lora():
    """The builder itself, for module-scoped fixtures."""
    return make_asymmetric_lora_model


@pytest.fixture
def asym_lora_model(tiny_encoder_path, tiny_decoder_path):
    return make_asymmetric_lora_model(tiny_encoder_path, tiny_decoder_path)


class FakeHub:
    """Enough of the Hub API for ``HfApi.create_repo`` + ``upload_folder`` (preupload + commit), recording requests."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.repos: dict[str, dict] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _reply(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _record(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                hub.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                     "body": body})
                return body

            def do_GET(self):
                self._record()
                self._reply(404, {"error": f"not found: {self.path}"})

            def do_POST(self):
                body = self._record()
                base = f"http://127.0.0.1:{hub.port}"
                path = self.path.split("?")[0]
                if path == "/api/repos/create":
                    data = json.loads(body)
                    repo_id = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]
                    hub.repos[repo_id] = data
                    return self._reply(200, {"url": f"{base}/{repo_id}", "name": repo_id, "id": repo_id})
                if path == "/api/validate-yaml":  # the README front matter must be valid YAML metadata
                    front = json.loads(body)["content"].split("---")[1]
                    try:
                        metadata = yaml.safe_load(front)
                    except yaml.YAMLError as exc:
                        return self._reply(400, {"errors": [{"message": str(exc)}]})
                    if not isinstance(metadata, dict):
                        return self._reply(400, {"errors": [{"message": "metadata must be a mapping"}]})
                    return self._reply(200, {"errors": [], "warnings": []})
                if path.startswith("/api/models/") and "/preupload/" in path:
                    files = json.loads(body)["files"]
                    return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                        "shouldIgnore": False} for f in files]})
                if path.startswith("/api/models/") and "/commit/" in path:
                    repo_id = path[len("/api/models/"):].split("/commit/")[0]
                    stored = hub.files.setdefault(repo_id, {})
                    for line in body.decode().splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            stored[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    return self._reply(200, {"commitUrl": f"{base}/{repo_id}/commit/{'a' * 40}",
                                             "commitOid": "a" * 40, "pullRequestUrl": None})
                return self._reply(404, {"error": f"not found: {path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_hub(monkeypatch):
    """A local Hub on 127.0.0.1; HF_ENDPOINT points at it and offline mode is lifted for the test."""
    import huggingface_hub.constants

    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", "hf_test_secret_token_123")
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        yield hub
