"""An OpenAI-compatible chat-completions server (vLLM, TGI, llama.cpp server, Ollama, ...) as a generator."""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm.auto import tqdm

from sbert_med.data.llm.base import GenerationFailure, LLMGenerator, Messages

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failure worth retrying: timeout, connection error, 429/5xx, malformed response body."""


class OpenAICompatibleGenerator(LLMGenerator):
    """Chat completions over HTTP (``POST {base_url}/chat/completions``), with a concurrency limit and retries.

    Every request is retried on timeouts, connection errors, HTTP 408/409/425/429/5xx and malformed response bodies,
    with exponential backoff plus jitter (honouring ``Retry-After``), up to ``max_retries`` times; a request that
    still fails yields a :class:`GenerationFailure` (the item stays unfinished and a rerun redoes it). Other HTTP
    errors (400, 401, 404) fail at once.

    The API key is read from the environment variable ``api_key_env`` when the generator is created; it is sent only
    in the ``Authorization`` header and never logged or shown in ``repr``.

    Personal health information is scrubbed from every message (:func:`sbert_med.data.scrub_phi`) before it leaves
    the machine; opting out needs an explicit ``scrub_phi=False``.

    Args:
        base_url: e.g. ``http://localhost:8000/v1``.
        model: the model name the server expects; recorded in provenance.
        api_key_env: environment variable holding the API key (optional for local servers).
        max_concurrency: requests in flight at once.
        timeout: seconds per request.
        max_retries: retries after the first attempt.
        backoff: base of the exponential backoff, in seconds.
        max_new_tokens, temperature, seed: sent as ``max_tokens``, ``temperature``, ``seed``.
        response_format_json: also send ``response_format={"type": "json_object"}``.
        scrub_phi: scrub PHI before sending (default True).
        extra_body: further fields merged into every request body.
        show_progress_bar: a progress bar over completed requests.
    """

    sends_data_off_machine = True

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        max_concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        seed: int = 42,
        response_format_json: bool = False,
        scrub_phi: bool = True,
        extra_body: dict | None = None,
        show_progress_bar: bool = True,
    ) -> None:
        super().__init__(model_name=model, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.response_format_json = response_format_json
        self.scrub_phi = scrub_phi
        self.extra_body = dict(extra_body or {})
        self.show_progress_bar = show_progress_bar
        self._api_key = os.environ.get(api_key_env) if api_key_env else None
        self.api_key_env = api_key_env
        self.stats = {"requests": 0, "retries": 0, "failures": 0, "phi_replacements": 0}
        self._stats_lock = threading.Lock()
        if not scrub_phi:
            logger.warning("PHI scrubbing is OFF for %s: texts are sent to %s as they are", model, self.url)

    def _count(self, key: str, amount: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += amount

    def _prepare(self, conversation: Messages) -> Messages:
        if not self.scrub_phi:
            return conversation
        from sbert_med.data.phi import scrub_text

        prepared = []
        for message in conversation:
            text, found = scrub_text(message["content"])
            self._count("phi_replacements", len(found))
            prepared.append({**message, "content": text})
        return prepared

    def _body(self, conversation: Messages) -> bytes:
        body = {"model": self.model_name, "messages": conversation, "max_tokens": self.max_new_tokens,
                "temperature": self.temperature, "seed": self.seed}
        if conversation and conversation[-1]["role"] == "assistant":
            # a started reply (a prompt's response_prefix): vLLM continues it with these two fields; llama.cpp's
            # server continues a final assistant message by itself
            body.update(continue_final_message=True, add_generation_prompt=False)
        body.update(self.extra_body)
        if self.response_format_json:
            body["response_format"] = {"type": "json_object"}
        return json.dumps(body).encode("utf-8")

    def _post_once(self, body: bytes) -> str:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        self._count("requests")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            if exc.code in RETRY_STATUS:
                raise TransientError(f"HTTP {exc.code}", retry_after) from None
            raise GenerationError(f"HTTP {exc.code} {exc.reason}") from None
        except TimeoutError as exc:
            raise TransientError(f"timeout after {self.timeout}s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TransientError(f"timeout after {self.timeout}s") from None
            raise TransientError(f"connection error: {exc.reason}") from None
        except (ConnectionError, OSError) as exc:
            raise TransientError(f"connection error: {exc}") from None
        try:
            data = json.loads(payload)
            content = data["choices"][0]["message"]["content"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError) as exc:
            raise TransientError(f"malformed response body ({type(exc).__name__})") from None
        if not isinstance(content, str):
            raise TransientError("malformed response body (content is not a string)")
        return content

    def complete(self, conversation: Messages) -> str | GenerationFailure:
        """One chat completion with retries; a :class:`GenerationFailure` when every attempt failed."""
        body = self._body(self._prepare(conversation))
        reasons = []
        for attempt in range(self.max_retries + 1):
            try:
                return self._post_once(body)
            except GenerationError as exc:
                self._count("failures")
                return GenerationFailure(str(exc))
            except TransientError as exc:
                reasons.append(exc.args[0])
                if attempt == self.max_retries:
                    break
                self._count("retries")
                delay = self.backoff * 2**attempt * (0.5 + random.random() / 2)
                retry_after = exc.args[1] if len(exc.args) > 1 else None
                if retry_after:
                    try:
                        delay = max(delay, float(retry_after))
                    except ValueError:
                        pass
                logger.debug("request failed (%s); retry %d in %.2fs", exc.args[0], attempt + 1, delay)
                time.sleep(delay)
        self._count("failures")
        return GenerationFailure(f"gave up after {self.max_retries + 1} attempts: {', '.join(reasons)}")

    def stream(self, conversations: list[Messages]) -> Iterator[tuple[int, str | GenerationFailure]]:
        if not conversations:
            return
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = {pool.submit(self.complete, conversation): index
                       for index, conversation in enumerate(conversations)}
            progress = tqdm(total=len(futures), desc=f"Requests to {self.model_name}",
                            disable=not self.show_progress_bar)
            try:
                for future in as_completed(futures):
                    progress.update()
                    yield futures[future], future.result()
            finally:
                progress.close()
                for future in futures:
                    future.cancel()

    def provenance(self) -> dict:
        return {**super().provenance(), "endpoint": self.url, "phi_scrubbed": self.scrub_phi}

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(url={self.url!r}, model={self.model_name!r}, api_key_env={self.api_key_env!r})"


class GenerationError(Exception):
    """A failure not worth retrying (HTTP 400/401/404 ...)."""
