"""A real chat-completions HTTP server on 127.0.0.1 for tests (http.server in a thread), with scripted faults.

Run as a script (``python chat_server.py PORT_FILE [--delay S]``) it serves until killed, writing its port to
PORT_FILE, for the kill-and-resume test.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def medembed_reply(text: str) -> str:
    """A valid MedEmbed answer built from the text: 6 queries, one of them with a low relevance score."""
    words = re.findall(r"[A-Za-z]{4,}", text)[:6] or ["medicine"]
    topic = " ".join(words[:3])
    return json.dumps([
        {"query": f"{topic}", "query_type": "keyword", "relevance_score": 0.9},
        {"query": f"{words[0]} symptoms", "query_type": "keyword", "relevance_score": 0.8},
        {"query": f"What is {topic}?", "query_type": "question", "relevance_score": 0.95},
        {"query": f"How is {words[-1]} diagnosed?", "query_type": "question", "relevance_score": 0.3},
        {"query": f"treatment of {topic}", "query_type": "treatment", "relevance_score": 0.7},
        {"query": f"{words[0]} surgery", "query_type": "treatment", "relevance_score": 0.6},
    ])


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        content = body["messages"][-1]["content"]
        key = hashlib.sha256(content.encode()).hexdigest()[:12]
        with self.server.lock:
            self.server.requests.append({"path": self.path, "body": body, "key": key,
                                         "authorization": self.headers.get("Authorization")})
            attempt = self.server.attempts[key] = self.server.attempts.get(key, 0) + 1
        action = self.server.script(content, attempt, body)
        if self.server.delay:
            time.sleep(self.server.delay)
        if action == "timeout":
            time.sleep(self.server.timeout_sleep)
            action = "ok"
        if isinstance(action, int):
            self.send_response(action)
            if action == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "scripted"}')
            return
        if action == "malformed_body":
            payload = b'{"choices": [ this is not json'
        else:
            reply = action if isinstance(action, str) and action != "ok" else self.server.reply(content, body)
            payload = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"],
                                  "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                               "finish_reason": "stop"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def medline_reply(text: str) -> str:
    """A ``medline_queries`` continuation (after the ``keyword:`` prefix): three labelled lines about the text."""
    words = re.findall(r"[A-Za-z]{5,}", text.split("Abstract:", 1)[-1])[:4] or ["medicine"]
    return (f" {' '.join(words[:3])}\nquestion: What is known about {words[0].lower()}?\n"
            f"treatment: {words[-1].lower()} therapy")


def default_reply(content: str, body: dict) -> str:
    messages = body.get("messages") or []
    if messages and messages[-1]["role"] == "assistant" and messages[-1]["content"].startswith("keyword:"):
        return medline_reply(messages[-2]["content"])
    if "paraphrase" in content.lower() and "Sentence:" in content:
        sentence = content.split("Sentence:", 1)[1].strip()
        return json.dumps({"paraphrase": "In other words, " + sentence[0].lower() + sentence[1:]})
    if "Grade how relevant" in content:
        query = content.split("Query:", 1)[1].split("Document:", 1)[0].strip().lower()
        document = content.split("Document:", 1)[1].strip().lower()
        shared = set(re.findall(r"[a-z]{5,}", query)) & set(re.findall(r"[a-z]{5,}", document))
        grade = "S" if len(shared) >= 2 else "B" if shared else "D"
        if body["model"] == "strict-grader" and grade == "S" and "ventricle" in document:
            grade = "C"
        return json.dumps({"grade": grade, "reason": f"{len(shared)} shared words"})
    text = content.split("Text:", 1)[1] if "Text:" in content else content
    return medembed_reply(text)


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, script=None, reply=None, delay: float = 0.0, timeout_sleep: float = 1.0) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.attempts: dict[str, int] = {}
        self.script = script or (lambda content, attempt, body: "ok")
        self.reply = reply or default_reply
        self.delay = delay
        self.timeout_sleep = timeout_sleep

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


def start_process(folder: Path, *, delay: float) -> tuple[subprocess.Popen, str]:
    """This script as a server in its own process (its port written to ``folder/port``), for tests that kill the
    client mid-request; returns the process (the caller kills it) and the base URL."""
    port_file = Path(folder) / "port"
    server = subprocess.Popen([sys.executable, __file__, str(port_file), "--delay", str(delay)])
    for _ in range(400):
        if port_file.exists():
            return server, f"http://127.0.0.1:{port_file.read_text()}/v1"
        time.sleep(0.05)
    server.kill()
    raise RuntimeError("chat server did not start")


if __name__ == "__main__":
    port_file = sys.argv[1]
    delay = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 0.0
    server = ChatServer(delay=delay)
    with open(port_file + ".tmp", "w") as handle:
        handle.write(str(server.server_address[1]))
    import os

    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()
