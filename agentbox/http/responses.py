"""OpenAI Responses wire format (``POST {base_url}/responses``) <-> agentbox model calls.

The request's ``instructions`` and ``input`` (a string, or items: messages, ``function_call``
and ``function_call_output`` items, ``reasoning`` items) become chat messages for
:meth:`AgentContext.complete`; flat function tools (``{"type": "function", "name",
"parameters"}``) become chat function tools. ``previous_response_id`` continues a response
made earlier in the same run: its conversation is kept in memory by the dispatcher and put
before the new input (its ``instructions`` are not carried over, as the API specifies).

The :class:`~agentbox.models.ModelResponse` goes back as a ``response`` object whose
``output`` holds a ``reasoning`` item (the reasoning as summary text), a ``message`` item
(``output_text``) and one ``function_call`` item per tool call; or, for ``stream: true``,
as the server-sent events the SDK's stream accumulator parses (``response.created`` ...
``response.completed``, numbered by ``sequence_number``). Ids derive from the run's
model-call ordinal (``resp_agentbox_3``), and ``created_at`` is fixed, so a replayed run
sends and sees the same bytes.

Reasoning items in the input are dropped (the reasoning of a turn is recorded with that
turn's ``llm`` step); ``developer`` messages become ``system`` messages. Hosted tools
(web search, file search, computer use, ...) and other item types are refused with a
:class:`~agentbox.http.wire.WireError` naming them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from agentbox.http.chat import CREATED
from agentbox.http.wire import WireError, append_call, chat_tool, function_call, join_parts, sse
from agentbox.models import Message, ModelResponse

__all__ = [
    "ResponsesCall",
    "is_responses",
    "parse_responses_request",
    "response_events",
    "response_object",
]

_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "refusal")
_ITEM_TYPES = "messages, function_call, function_call_output and reasoning items"


def is_responses(request: httpx.Request) -> bool:
    """Whether ``request`` creates an OpenAI response (``POST .../responses``, any base URL)."""
    return request.method == "POST" and request.url.path.rstrip("/").endswith("/responses")


@dataclass
class ResponsesCall:
    """A translated Responses request.

    Attributes:
        messages: the chat messages to send (instructions first, then the conversation).
        tools: chat function tools.
        instructions: how many leading ``messages`` came from ``instructions`` (they are
            not part of the conversation a later ``previous_response_id`` continues).
        payload: the request body.
    """

    messages: list[Message]
    tools: list[dict[str, Any]]
    instructions: int
    payload: dict[str, Any]

    @property
    def stream(self) -> bool:
        """Whether the answer is a server-sent event stream."""
        return bool(self.payload.get("stream"))

    def conversation(self, response: ModelResponse) -> list[Message]:
        """The conversation a later request continues with ``previous_response_id``."""
        return [*self.messages[self.instructions :], response.message()]


def _parts(content: Any, where: str) -> str | list[dict[str, Any]]:
    """Chat content from a Responses content (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise WireError(f"{where} must be a string or a list of content parts")
    parts: list[dict[str, Any]] = []
    for n, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS:
            text = part.get("refusal") if kind == "refusal" else part.get("text")
            parts.append({"type": "text", "text": str(text or "")})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise WireError(
                f"{where}[{n}]: content parts of type {kind!r} are not translated; "
                "agentbox translates input_text, output_text and input_image (by URL) parts"
            )
    return join_parts(parts)


def _text(content: str | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content)


def _input_messages(items: Any, fresh: list[Message]) -> None:
    """Append the chat messages of Responses ``input`` items to ``fresh``."""
    start = len(fresh)
    if isinstance(items, str):
        fresh.append({"role": "user", "content": items})
        return
    if not isinstance(items, list):
        raise WireError("`input` must be a string or a list of input items")
    for n, item in enumerate(items):
        where = f"input[{n}]"
        if not isinstance(item, dict):
            raise WireError(f"{where} must be an object")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise WireError(f"{where}.role must be user, assistant, system or developer")
            content = _parts(item.get("content"), f"{where}.content")
            if role == "assistant":
                fresh.append({"role": "assistant", "content": _text(content)})
            else:
                fresh.append(
                    {"role": "system" if role == "developer" else role, "content": content}
                )
        elif kind == "function_call":
            call = function_call(
                item.get("call_id"), item.get("name"), item.get("arguments"), where
            )
            append_call(fresh, start, call)
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise WireError(f"{where}.call_id must be a non-empty string")
            content = _parts(item.get("output"), f"{where}.output")
            fresh.append({"role": "tool", "tool_call_id": call_id, "content": content})
        elif kind == "reasoning":
            continue  # recorded with the turn that produced it
        else:
            raise WireError(
                f"{where}: input items of type {kind!r} are not translated; "
                f"agentbox translates {_ITEM_TYPES}"
            )


def _tools(payload: dict[str, Any]) -> list[dict[str, Any]]:
    tools = payload.get("tools") or []
    if not isinstance(tools, list):
        raise WireError("`tools` must be a list")
    out = []
    for n, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise WireError(
                f"tools[{n}]: tools of type {kind!r} are not translated (the run's model "
                "cannot run hosted tools); agentbox translates function tools"
            )
        out.append(
            chat_tool(
                tool.get("name"), tool.get("description"), tool.get("parameters"), f"tools[{n}]"
            )
        )
    return out


def parse_responses_request(payload: Any, history: Mapping[str, list[Message]]) -> ResponsesCall:
    """Translate a Responses request body.

    Args:
        payload: the parsed JSON body.
        history: the conversation of each earlier response of this run, by response id.

    Raises:
        WireError: the body is not a Responses request agentbox translates (404 for an
            unknown ``previous_response_id``).
    """
    if not isinstance(payload, dict):
        raise WireError("the body must be a JSON object")
    for unsupported in ("conversation", "prompt"):
        if payload.get(unsupported):
            raise WireError(
                f"`{unsupported}` is not translated (it lives on OpenAI's servers); send the "
                "conversation as `input`, or continue it with `previous_response_id`"
            )
    messages: list[Message] = []
    instructions = payload.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise WireError("`instructions` must be a string")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    count = len(messages)
    previous = payload.get("previous_response_id")
    if previous is not None:
        if previous not in history:
            raise WireError(
                f"previous_response_id {previous!r} is unknown: agentbox keeps the responses "
                "made earlier in the same run only",
                status=404,
            )
        messages.extend(history[previous])
    if "input" not in payload and previous is None:
        raise WireError("the body must have an `input` (a string or a list of input items)")
    _input_messages(payload.get("input") or [], messages)
    return ResponsesCall(messages, _tools(payload), count, payload)


# ---- the answer ---------------------------------------------------------------------
def _usage(response: ModelResponse) -> dict[str, Any]:
    return {
        "input_tokens": response.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": response.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": response.input_tokens + response.output_tokens,
    }


def _output(response: ModelResponse, ordinal: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if response.reasoning:
        items.append(
            {
                "id": f"rs_agentbox_{ordinal}",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": response.reasoning}],
            }
        )
    if response.text is not None or not response.tool_calls:
        text = {
            "type": "output_text",
            "text": response.text or "",
            "annotations": [],
            "logprobs": [],
        }
        items.append(
            {
                "id": f"msg_agentbox_{ordinal}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [text],
            }
        )
    for i, call in enumerate(response.tool_calls):
        items.append(
            {
                "id": f"fc_agentbox_{ordinal}_{i}",
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.raw_arguments(),
                "status": "completed",
            }
        )
    return items


def _echo_tools(payload: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("type", "name", "description", "parameters", "strict")
    return [{k: t[k] for k in keys if k in t} for t in payload.get("tools") or []]


def response_object(
    response: ModelResponse,
    payload: dict[str, Any],
    ordinal: int,
    *,
    done: bool = True,
) -> dict[str, Any]:
    """A ``response`` object for one model turn.

    Args:
        response: the turn.
        payload: the request body (model, instructions, tools ... are echoed).
        ordinal: the run's model-call number (makes the ids deterministic).
        done: False for the ``in_progress`` snapshot that opens a stream (no output yet).
    """
    return {
        "id": f"resp_agentbox_{ordinal}",
        "object": "response",
        "created_at": CREATED,
        "status": "completed" if done else "in_progress",
        "completed_at": CREATED if done else None,
        "error": None,
        "incomplete_details": None,
        "instructions": payload.get("instructions"),
        "max_output_tokens": payload.get("max_output_tokens"),
        "metadata": payload.get("metadata") or {},
        "model": response.model or str(payload.get("model") or ""),
        "output": _output(response, ordinal) if done else [],
        "parallel_tool_calls": payload.get("parallel_tool_calls", True),
        "previous_response_id": payload.get("previous_response_id"),
        "store": payload.get("store", True),
        "temperature": payload.get("temperature"),
        "text": {"format": {"type": "text"}},
        "tool_choice": payload.get("tool_choice") or "auto",
        "tools": _echo_tools(payload),
        "top_p": payload.get("top_p"),
        "truncation": "disabled",
        "usage": _usage(response) if done else None,
        "user": None,
    }


def _in_progress(item: dict[str, Any]) -> dict[str, Any]:
    if item["type"] == "reasoning":
        return {**item, "summary": []}
    if item["type"] == "message":
        return {**item, "status": "in_progress", "content": []}
    return {**item, "status": "in_progress", "arguments": ""}


def _item_events(item: dict[str, Any], index: int) -> list[tuple[str, dict[str, Any]]]:
    at = {"item_id": item["id"], "output_index": index}
    events: list[tuple[str, dict[str, Any]]] = []
    if item["type"] == "reasoning":
        text = item["summary"][0]["text"]
        at = {**at, "summary_index": 0}
        events += [
            (
                "response.reasoning_summary_part.added",
                {**at, "part": {"type": "summary_text", "text": ""}},
            ),
            ("response.reasoning_summary_text.delta", {**at, "delta": text}),
            ("response.reasoning_summary_text.done", {**at, "text": text}),
            (
                "response.reasoning_summary_part.done",
                {**at, "part": {"type": "summary_text", "text": text}},
            ),
        ]
    elif item["type"] == "message":
        part = item["content"][0]
        at = {**at, "content_index": 0}
        events += [
            ("response.content_part.added", {**at, "part": {**part, "text": ""}}),
            ("response.output_text.delta", {**at, "delta": part["text"], "logprobs": []}),
            ("response.output_text.done", {**at, "text": part["text"], "logprobs": []}),
            ("response.content_part.done", {**at, "part": part}),
        ]
    else:
        events += [
            ("response.function_call_arguments.delta", {**at, "delta": item["arguments"]}),
            (
                "response.function_call_arguments.done",
                {**at, "name": item["name"], "arguments": item["arguments"]},
            ),
        ]
    return [
        ("response.output_item.added", {"output_index": index, "item": _in_progress(item)}),
        *events,
        ("response.output_item.done", {"output_index": index, "item": item}),
    ]


def response_events(response: ModelResponse, payload: dict[str, Any], ordinal: int) -> bytes:
    """The same turn as a ``text/event-stream`` body of Responses streaming events."""
    final = response_object(response, payload, ordinal)
    opening = response_object(response, payload, ordinal, done=False)
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": opening}),
        ("response.in_progress", {"response": opening}),
    ]
    for index, item in enumerate(final["output"]):
        events += _item_events(item, index)
    events.append(("response.completed", {"response": final}))
    numbered = [
        (name, {"type": name, "sequence_number": n, **data})
        for n, (name, data) in enumerate(events)
    ]
    return sse(numbered)
