"""OpenAI chat-completions wire format <-> agentbox model calls.

An intercepted ``POST {base_url}/chat/completions`` is turned into ``(messages, tools)``
for :meth:`AgentContext.complete`, and the :class:`~agentbox.models.ModelResponse` back
into a ``chat.completion`` object (or, for ``stream: true``, server-sent
``chat.completion.chunk`` events) that the official SDKs parse. Everything is
deterministic (ids from the call ordinal, a fixed ``created``) so a recorded run replays
to identical requests.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from agentbox.models import Message, ModelResponse

__all__ = [
    "CREATED",
    "chat_completion",
    "chat_completion_chunks",
    "is_chat_completions",
    "parse_chat_request",
]

CREATED = 1_767_225_600
"""The fixed ``created`` timestamp of every answer (2026-01-01T00:00:00Z)."""


def is_chat_completions(request: httpx.Request) -> bool:
    """Whether ``request`` is an OpenAI-compatible chat-completions call (any base URL)."""
    return request.method == "POST" and request.url.path.rstrip("/").endswith("/chat/completions")


def _clean_message(message: Any) -> Message:
    if not isinstance(message, dict):
        raise ValueError(f"each message must be an object, got {type(message).__name__}")
    # SDKs send unset optional fields as null (refusal, audio, function_call, ...):
    # drop them so the stored request is the conversation, not the SDK version.
    return {k: v for k, v in message.items() if v is not None or k == "content"}


def parse_chat_request(
    request: httpx.Request,
) -> tuple[list[Message], list[dict[str, Any]], dict[str, Any]]:
    """``(messages, function tools, whole payload)`` of a chat-completions request.

    ``tool_choice`` and sampling parameters are ignored: the run's model backend decides.

    Raises:
        ValueError: the body is not a JSON object with a ``messages`` list.
    """
    payload = json.loads(request.content or b"{}")
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        raise ValueError("the body must be a JSON object with a `messages` list")
    messages = [_clean_message(m) for m in payload["messages"]]
    tools = [
        t
        for t in payload.get("tools") or []
        if isinstance(t, dict)
        and t.get("type", "function") == "function"
        and isinstance(t.get("function"), dict)
        and "name" in t["function"]
    ]
    for legacy in payload.get("functions") or []:  # the deprecated `functions` parameter
        if isinstance(legacy, dict) and "name" in legacy:
            tools.append({"type": "function", "function": legacy})
    return messages, tools, payload


def _tool_calls(response: ModelResponse) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": c.raw_arguments()},
        }
        for c in response.tool_calls
    ]


def _usage(response: ModelResponse) -> dict[str, int]:
    return {
        "prompt_tokens": response.input_tokens,
        "completion_tokens": response.output_tokens,
        "total_tokens": response.input_tokens + response.output_tokens,
    }


def chat_completion(response: ModelResponse, model: str, ordinal: int) -> dict[str, Any]:
    """A ``chat.completion`` object for one model turn.

    Args:
        response: the turn.
        model: the model name to report (the backend's, else the one requested).
        ordinal: the run's model-call number (makes the id deterministic).
    """
    message: dict[str, Any] = {"role": "assistant", "content": response.text, "refusal": None}
    if response.tool_calls:
        message["tool_calls"] = _tool_calls(response)
    if response.reasoning:
        message["reasoning_content"] = response.reasoning
    return {
        "id": f"chatcmpl-agentbox-{ordinal}",
        "object": "chat.completion",
        "created": CREATED,
        "model": response.model or model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if response.tool_calls else "stop",
            }
        ],
        "usage": _usage(response),
        "system_fingerprint": None,
    }


def chat_completion_chunks(
    response: ModelResponse, model: str, ordinal: int, include_usage: bool
) -> bytes:
    """The same turn as a ``text/event-stream`` body of ``chat.completion.chunk`` events."""
    base = {
        "id": f"chatcmpl-agentbox-{ordinal}",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": response.model or model,
    }
    delta: dict[str, Any] = {"role": "assistant", "content": response.text or ""}
    if response.reasoning:
        delta["reasoning_content"] = response.reasoning
    if response.tool_calls:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(_tool_calls(response))]
    chunks = [
        {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
        },
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {},
                    "logprobs": None,
                    "finish_reason": "tool_calls" if response.tool_calls else "stop",
                }
            ],
        },
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _usage(response)})
    events = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
    return "".join(events).encode()
