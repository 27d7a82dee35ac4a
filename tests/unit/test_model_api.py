"""Unit tests of :class:`agentbox.http.model_api.ModelApi`, the one path that answers an
agent's model-API requests (Chat Completions, Responses, Anthropic Messages) with the
run's model, given a stand-in agent context."""

from __future__ import annotations

import json
from typing import Any

import httpx

from agentbox.http.model_api import ModelApi
from agentbox.models import ModelResponse


class FakeContext:
    """What ModelApi uses of an AgentContext: ``model_calls`` and ``complete``."""

    def __init__(self) -> None:
        self.model_calls = 0
        self.asked: list[tuple[list[Any], list[Any]]] = []

    def complete(self, messages: list[Any], tools: list[Any]) -> ModelResponse:
        self.asked.append((messages, tools))
        self.model_calls += 1
        return ModelResponse(text="hello", model="scripted", input_tokens=3, output_tokens=1)


def chat(body: Any, host: str = "https://api.openai.com") -> tuple[FakeContext, httpx.Response]:
    ctx = FakeContext()
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = httpx.Request("POST", f"{host}/v1/chat/completions", content=content)
    return ctx, ModelApi(ctx).chat(request)  # type: ignore[arg-type]


def test_chat_answers_with_the_runs_model() -> None:
    ctx, response = chat({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "scripted"  # the backend's name, not the one requested
    assert body["choices"][0]["message"]["content"] == "hello"
    assert ctx.asked == [([{"role": "user", "content": "hi"}], [])]


def test_chat_streams_server_sent_events() -> None:
    _, response = chat(
        {
            "model": "gpt-x",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    assert response.headers["content-type"] == "text/event-stream"
    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: ") :]) for e in events[:-1]]
    assert "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    ) == ("hello")
    assert chunks[-1]["usage"]["prompt_tokens"] == 3


def test_an_untranslatable_chat_request_is_a_400_in_openai_shape_without_a_model_call() -> None:
    for body, words in (
        (b"{not json", "invalid chat-completions request"),
        ({"model": "m", "messages": "not a list"}, "`messages` list"),
    ):
        # even on Anthropic's host (its OpenAI-compatible endpoint): OpenAI's error shape
        ctx, response = chat(body, host="https://api.anthropic.com")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert words in error["message"]
        assert ctx.asked == []
