"""Pieces shared by the wire formats (OpenAI Responses, Anthropic Messages).

Every wire format is translated to the run's one conversation shape, OpenAI chat messages
(``{"role": "system" | "user" | "assistant" | "tool", ...}``) with chat function tools
(``{"type": "function", "function": {"name", "description", "parameters"}}``), because
that is what :meth:`AgentContext.complete`, the model backends and the cassette's request
hash take. The answers go back through :class:`~agentbox.models.ModelResponse`.

A request we cannot translate raises :class:`WireError`; the dispatcher
(:mod:`agentbox.http.model_api`) turns it into a 4xx in the wire format's own error shape.
"""

from __future__ import annotations

import json
from typing import Any

from agentbox.models import Message

__all__ = [
    "WireError",
    "append_call",
    "chat_tool",
    "function_call",
    "join_parts",
    "sse",
]


class WireError(ValueError):
    """A request agentbox does not translate (an HTTP 400 for the agent, never the network).

    Args:
        message: what is wrong and what is supported, naming the field (``input[2].type``).
        status: the HTTP status to answer with (400 unless a lookup failed: 404).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def chat_tool(name: Any, description: Any, parameters: Any, where: str) -> dict[str, Any]:
    """A chat function tool from a wire format's tool fields.

    Raises:
        WireError: ``name`` is not a non-empty string or ``parameters`` not an object.
    """
    if not isinstance(name, str) or not name:
        raise WireError(f"{where}.name must be a non-empty string")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise WireError(f"{where}: the parameter schema must be a JSON object")
    function: dict[str, Any] = {"name": name}
    if isinstance(description, str) and description:
        function["description"] = description
    function["parameters"] = parameters
    return {"type": "function", "function": function}


def function_call(call_id: Any, name: Any, arguments: Any, where: str) -> dict[str, Any]:
    """One entry of an assistant message's ``tool_calls`` (arguments as a JSON string).

    Raises:
        WireError: the id or name is missing.
    """
    if not isinstance(call_id, str) or not call_id:
        raise WireError(f"{where}: the call id must be a non-empty string")
    if not isinstance(name, str) or not name:
        raise WireError(f"{where}.name must be a non-empty string")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {})
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def join_parts(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Chat content from chat content parts: one text part is a plain string."""
    if len(parts) == 1 and parts[0].get("type") == "text":
        return str(parts[0]["text"])
    return parts


def append_call(out: list[Message], fresh: int, call: dict[str, Any]) -> None:
    """Add a tool call to the assistant message it belongs to, or start one.

    Calls join the assistant message just before them (its text and earlier calls) when
    that message was made from this request (index ``>= fresh``); messages kept from an
    earlier request are never changed in place (the cassette hashes them by identity).
    """
    last = out[-1] if len(out) > fresh else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
    else:
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})


def sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    """A ``text/event-stream`` body: ``event: NAME`` and ``data: JSON`` per event."""
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
