"""Anthropic Messages wire format (``POST {base_url}/v1/messages``) <-> agentbox model calls.

The request's ``system`` (a string or text blocks) and ``messages`` (strings or content
blocks: ``text``, ``image``, ``tool_use``, ``tool_result``, ``thinking``) become chat
messages for :meth:`AgentContext.complete`, and its tools (``{"name", "description",
"input_schema"}``) chat function tools. A user turn's ``tool_result`` blocks become ``tool``
messages (before the turn's text, as chat requires); an assistant turn's ``tool_use``
blocks become its ``tool_calls``; ``thinking`` blocks are dropped (the reasoning of a turn
is recorded with that turn's ``llm`` step). ``max_tokens``, ``thinking``, ``tool_choice``
and sampling parameters are ignored: the run's model backend decides.

The :class:`~agentbox.models.ModelResponse` goes back as a ``message`` whose content is a
``thinking`` block (the reasoning), a ``text`` block and one ``tool_use`` block per tool
call, with ``stop_reason`` ``tool_use`` or ``end_turn``; or, for ``stream: true``, as the
server-sent events the SDK's stream accumulator parses (``message_start``,
``content_block_start`` / ``_delta`` (``thinking_delta``, ``text_delta``,
``input_json_delta``) / ``_stop``, ``message_delta``, ``message_stop``). Ids derive from
the run's model-call ordinal, so a replayed run sees the same bytes. Tool-call arguments
that are not a JSON object (a model's malformed output) are sent as ``{"value": ...}``,
since ``tool_use.input`` must be an object.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import httpx

from agentbox.http.wire import WireError, append_call, chat_tool, function_call, join_parts, sse
from agentbox.models import Message, ModelResponse, ToolCall

__all__ = [
    "MessagesCall",
    "anthropic_events",
    "anthropic_message",
    "is_anthropic_messages",
    "parse_anthropic_request",
]


def is_anthropic_messages(request: httpx.Request) -> bool:
    """Whether ``request`` creates an Anthropic message.

    ``POST .../v1/messages`` on any base URL, or ``POST .../messages`` with the
    ``anthropic-version`` header every Anthropic client sends (OpenAI's Assistants API
    also has ``.../threads/{id}/messages``, without it).
    """
    if request.method != "POST":
        return False
    path = request.url.path.rstrip("/")
    if path.endswith("/v1/messages"):
        return True
    return path.endswith("/messages") and "anthropic-version" in request.headers


@dataclass
class MessagesCall:
    """A translated Messages request: chat ``messages``, chat ``tools`` and the ``payload``."""

    messages: list[Message]
    tools: list[dict[str, Any]]
    payload: dict[str, Any]

    @property
    def stream(self) -> bool:
        """Whether the answer is a server-sent event stream."""
        return bool(self.payload.get("stream"))


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif isinstance(source, dict) and source.get("type") == "url":
        url = str(source.get("url"))
    else:
        raise WireError(f"{where}.source: agentbox translates base64 and url image sources")
    return {"type": "image_url", "image_url": {"url": url}}


def _content(blocks: Any, where: str) -> str | list[dict[str, Any]]:
    """Chat content of text and image blocks (or a plain string)."""
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        raise WireError(f"{where} must be a string or a list of content blocks")
    parts = []
    for n, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text") or "")})
        elif kind == "image":
            parts.append(_image(block, f"{where}[{n}]"))
        else:
            raise WireError(
                f"{where}[{n}]: content blocks of type {kind!r} are not translated here; "
                "agentbox translates text, image, tool_use, tool_result and thinking blocks"
            )
    return join_parts(parts)


def _user(content: Any, where: str, out: list[Message]) -> None:
    if isinstance(content, str):
        out.append({"role": "user", "content": content})
        return
    if not isinstance(content, list):
        raise WireError(f"{where} must be a string or a list of content blocks")
    rest = []
    for n, block in enumerate(content):
        if isinstance(block, dict) and block.get("type") == "tool_result":
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or not call_id:
                raise WireError(f"{where}[{n}].tool_use_id must be a non-empty string")
            result = _content(block.get("content") or "", f"{where}[{n}].content")
            if block.get("is_error") and isinstance(result, str):
                result = f"Error: {result}"
            out.append({"role": "tool", "tool_call_id": call_id, "content": result})
        else:
            rest.append(block)
    if rest:
        out.append({"role": "user", "content": _content(rest, where)})


def _assistant(content: Any, where: str, out: list[Message]) -> None:
    if isinstance(content, str):
        out.append({"role": "assistant", "content": content})
        return
    if not isinstance(content, list):
        raise WireError(f"{where} must be a string or a list of content blocks")
    start = len(out)
    texts = []
    calls = []
    for n, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            calls.append(
                function_call(
                    block.get("id"), block.get("name"), block.get("input"), f"{where}[{n}]"
                )
            )
        elif kind not in ("thinking", "redacted_thinking"):
            raise WireError(
                f"{where}[{n}]: assistant blocks of type {kind!r} are not translated; "
                "agentbox translates text, tool_use and thinking blocks"
            )
    out.append({"role": "assistant", "content": "".join(texts) if texts else None})
    for call in calls:
        append_call(out, start, call)


def _system(system: Any) -> list[Message]:
    if system is None or system == "" or system == []:
        return []
    return [{"role": "system", "content": _content(system, "system")}]


def _tools(payload: dict[str, Any]) -> list[dict[str, Any]]:
    tools = payload.get("tools") or []
    if not isinstance(tools, list):
        raise WireError("`tools` must be a list")
    out = []
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise WireError(f"tools[{n}] must be an object")
        kind = tool.get("type")
        if kind not in (None, "custom") or "input_schema" not in tool:
            raise WireError(
                f"tools[{n}]: tools of type {kind!r} are not translated (the run's model "
                "cannot run server tools); agentbox translates custom tools with an input_schema"
            )
        out.append(
            chat_tool(
                tool.get("name"), tool.get("description"), tool["input_schema"], f"tools[{n}]"
            )
        )
    return out


def parse_anthropic_request(payload: Any) -> MessagesCall:
    """Translate a Messages request body.

    Raises:
        WireError: the body is not a Messages request agentbox translates.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        raise WireError("the body must be a JSON object with a `messages` list")
    messages = _system(payload.get("system"))
    for n, message in enumerate(payload["messages"]):
        where = f"messages[{n}]"
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise WireError(f"{where} must be an object with role user or assistant")
        if message["role"] == "user":
            _user(message.get("content"), f"{where}.content", messages)
        else:
            _assistant(message.get("content"), f"{where}.content", messages)
    return MessagesCall(messages, _tools(payload), payload)


# ---- the answer ---------------------------------------------------------------------
def _input(call: ToolCall) -> dict[str, Any]:
    args = call.arguments
    if isinstance(args, str):
        with contextlib.suppress(json.JSONDecodeError):
            args = json.loads(args)
    return args if isinstance(args, dict) else {"value": args}


def _blocks(response: ModelResponse) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if response.reasoning:
        blocks.append({"type": "thinking", "thinking": response.reasoning, "signature": ""})
    if response.text is not None or not response.tool_calls:
        blocks.append({"type": "text", "text": response.text or "", "citations": None})
    for call in response.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call)})
    return blocks


def _usage(response: ModelResponse, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": response.input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def anthropic_message(
    response: ModelResponse, model: str, ordinal: int, *, done: bool = True
) -> dict[str, Any]:
    """A Messages ``message`` object for one model turn.

    Args:
        response: the turn.
        model: the model name to report (the backend's, else the one requested).
        ordinal: the run's model-call number (makes the id deterministic).
        done: False for the empty snapshot that opens a stream (``message_start``).
    """
    return {
        "id": f"msg_agentbox_{ordinal}",
        "type": "message",
        "role": "assistant",
        "model": response.model or model,
        "content": _blocks(response) if done else [],
        "stop_reason": ("tool_use" if response.tool_calls else "end_turn") if done else None,
        "stop_sequence": None,
        "usage": _usage(response, response.output_tokens if done else 0),
    }


def _block_events(block: dict[str, Any], index: int) -> list[tuple[str, dict[str, Any]]]:
    kind = block["type"]
    if kind == "thinking":
        start = {**block, "thinking": ""}
        delta = {"type": "thinking_delta", "thinking": block["thinking"]}
    elif kind == "text":
        start = {**block, "text": ""}
        delta = {"type": "text_delta", "text": block["text"]}
    else:
        start = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    return [
        ("content_block_start", {"index": index, "content_block": start}),
        ("content_block_delta", {"index": index, "delta": delta}),
        ("content_block_stop", {"index": index}),
    ]


def anthropic_events(response: ModelResponse, model: str, ordinal: int) -> bytes:
    """The same turn as a ``text/event-stream`` body of Messages streaming events."""
    final = anthropic_message(response, model, ordinal)
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"message": anthropic_message(response, model, ordinal, done=False)})
    ]
    for index, block in enumerate(final["content"]):
        events += _block_events(block, index)
    events += [
        (
            "message_delta",
            {
                "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": response.output_tokens},
            },
        ),
        ("message_stop", {}),
    ]
    return sse([(name, {"type": name, **data}) for name, data in events])
