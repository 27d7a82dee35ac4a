"""A loopback OpenAI-compatible server for tests (stdlib only, no network).

Subclasses answer ``POST /v1/chat/completions`` by overriding :meth:`ChatServer.answer`
(the request body -> the response body); other paths get 404. The server thread starts
with the object; call :meth:`ChatServer.close` when done. :func:`loopback_litellm_env`
points litellm at it the way every such test needs.
"""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

import pytest


class ChatServer:
    """One server on ``127.0.0.1:port``; every request body is kept in ``requests``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(
                    self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}"
                )
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                server.requests.append(body)
                payload = json.dumps(server.answer(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 64
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        """The ``api_base`` to give litellm (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat completion for one request body."""
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def completion(
    body: dict[str, Any],
    message: dict[str, Any],
    *,
    finish: str = "stop",
    usage: tuple[int, int] = (100, 10),
    number: int = 1,
) -> dict[str, Any]:
    """A chat completion body answering ``body`` with ``message`` (usage: prompt and
    completion tokens)."""
    prompt, done = usage
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 1763726400,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": done,
            "total_tokens": prompt + done,
        },
    }


def loopback_litellm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """litellm reaches the loopback server directly: no proxy, no key or base URL from the
    environment, the bundled cost map, the httpx transport."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("DISABLE_AIOHTTP_TRANSPORT", "True")
    for var in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
