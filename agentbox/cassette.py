"""Cassettes: recorded model requests and responses, replayed offline.

Every ``llm`` step stores its request compactly: a hash of the full request (messages +
tool names), the length of the prefix it shares with the run's previous request, and only
the messages after that prefix. Requests can therefore be rebuilt exactly (for diffs)
while the store grows linearly with the conversation, not quadratically.

A :class:`CassetteModel` answers call ``n`` with the recording of call ``n`` when their
request hashes agree (identical repeated requests stay distinct by ordinal). On a miss it
fails loudly with a diff against the recorded request (``strict``), or switches to a live
model from that call on (``live-on-miss``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from agentbox.errors import ModelError
from agentbox.models import Message, ModelBackend, ModelResponse, ToolCall
from agentbox.redact import Redactor
from agentbox.store import StepRow

_TOOLS_DIGEST: dict[int, tuple[list[dict[str, Any]], str]] = {}


def _tools_digest(tools: list[dict[str, Any]]) -> str:
    # A run offers the same tool list object on every call: encode it once.
    cached = _TOOLS_DIGEST.get(id(tools))
    if cached is not None and cached[0] is tools:
        return cached[1]
    digest = hashlib.sha256(json.dumps(tools, sort_keys=True, default=str).encode()).hexdigest()
    if len(_TOOLS_DIGEST) > 64:
        _TOOLS_DIGEST.clear()
    _TOOLS_DIGEST[id(tools)] = (tools, digest)
    return digest


class RequestHasher:
    """Hash a run's successive requests in time proportional to what is new in each.

    The hash of a request is ``sha256(chain(messages) + "|" + sha256(tools JSON))`` where
    ``chain`` folds ``sha256(previous + canonical JSON of message)`` over the messages. A
    message list that extends the previous one (the same message objects, as every chat
    loop sends) reuses its chain, so hashing does not grow with the conversation.
    Messages already sent must not be changed in place (send new dicts instead).

    Each message is hashed as redacted (:mod:`agentbox.redact`), which is how it is
    stored: a request holding a secret when recorded and the same request rebuilt from
    the redacted recording hash alike.

    Args:
        redactor: the run's redactor (default: built-in rules + this environment's secrets).
    """

    def __init__(self, redactor: Callable[[Any], Any] | None = None) -> None:
        self._sent: list[Message] = []
        self._chain: list[str] = []
        self._redact = redactor or Redactor.from_env(os.environ)

    def shared_prefix(self, messages: list[Message]) -> int:
        """How many leading messages are the previous request's (by identity)."""
        sent, n = self._sent, min(len(messages), len(self._sent))
        if n and messages[n - 1] is sent[n - 1] and messages[0] is sent[0]:
            return n  # the common case: the same conversation, appended to
        shared = 0
        while shared < n and messages[shared] is sent[shared]:
            shared += 1
        return shared

    def hash(self, messages: list[Message], tools: list[dict[str, Any]]) -> tuple[str, int]:
        """``(request hash, shared-prefix length with the previous request)``."""
        shared = self.shared_prefix(messages)
        chain = self._chain[:shared]
        head = chain[-1] if chain else ""
        for message in messages[shared:]:
            text = head + json.dumps(self._redact(message), sort_keys=True, default=str)
            head = hashlib.sha256(text.encode()).hexdigest()
            chain.append(head)
        self._sent, self._chain = list(messages), chain
        digest = hashlib.sha256(f"{head}|{_tools_digest(tools)}".encode()).hexdigest()
        return digest, shared


def request_hash(messages: list[Message], tools: list[dict[str, Any]]) -> str:
    """The hash of one request (see :class:`RequestHasher`)."""
    return RequestHasher().hash(messages, tools)[0]


def compact_request(
    messages: list[Message], tools: list[dict[str, Any]], hasher: RequestHasher
) -> dict[str, Any]:
    """The stored form of a request: hash, shared-prefix length, new messages, tool names."""
    digest, shared = hasher.hash(messages, tools)
    return {
        "hash": digest,
        "prefix": shared,
        "delta": messages[shared:],
        "tools": [t["function"]["name"] for t in tools],
    }


def expand_requests(compact: Iterable[tuple[int, list[Message]]]) -> list[list[Message]]:
    """Full message lists from ``(shared prefix length, new messages)`` pairs, in order."""
    out: list[list[Message]] = []
    previous: list[Message] = []
    for prefix, delta in compact:
        previous = previous[:prefix] + list(delta)
        out.append(previous)
    return out


def rebuild_requests(steps: list[StepRow]) -> list[list[Message]]:
    """The full message list of every ``llm`` step, in order."""
    requests = (s.data.get("request", {}) for s in steps if s.kind == "llm")
    return expand_requests((r.get("prefix", 0), r.get("delta", [])) for r in requests)


def response_from(step: StepRow) -> ModelResponse:
    """The recorded response of an ``llm`` step."""
    r = step.data["response"]
    return ModelResponse(
        text=r.get("text"),
        reasoning=r.get("reasoning"),
        tool_calls=[ToolCall(c["id"], c["name"], c["arguments"]) for c in r.get("tool_calls", [])],
        input_tokens=r.get("input_tokens", 0),
        output_tokens=r.get("output_tokens", 0),
        cost_usd=r.get("cost_usd"),
        model=r.get("model", ""),
        latency_s=0.0,
    )


def request_diff(recorded: list[Message], new: list[Message]) -> str:
    """A unified diff of two requests, one message per JSON line."""

    def lines(msgs: list[Message]) -> list[str]:
        return [json.dumps(m, sort_keys=True, default=str) for m in msgs]

    diff = difflib.unified_diff(lines(recorded), lines(new), "recorded", "new", lineterm="", n=1)
    return "\n".join(diff)


@dataclass
class _Entry:
    hash: str
    step: StepRow


class CassetteModel:
    """Serve recorded responses for a run's model calls.

    Args:
        steps: the recorded run's steps (its ``llm`` steps are the cassette).
        mode: ``strict`` (a miss raises ModelError) or ``live-on-miss``.
        live: the backend asked from the first miss on (``live-on-miss``).
        redactor: what the recording run redacted (see :class:`RequestHasher`).
    """

    def __init__(
        self,
        steps: list[StepRow],
        mode: str = "strict",
        live: ModelBackend | None = None,
        redactor: Callable[[Any], Any] | None = None,
    ) -> None:
        llm_steps = [s for s in steps if s.kind == "llm"]
        self.entries = [_Entry(s.data.get("request", {}).get("hash", ""), s) for s in llm_steps]
        self.mode = mode
        self.live = live
        self.name = llm_steps[0].name if llm_steps and llm_steps[0].name else "cassette"
        self.missed = False
        self.hits = 0
        self._hasher = RequestHasher(redactor)

    def complete(
        self, messages: list[Message], tools: list[dict[str, Any]], ordinal: int
    ) -> ModelResponse:
        digest = self._hasher.hash(messages, tools)[0]
        if not self.missed and ordinal < len(self.entries) and self.entries[ordinal].hash == digest:
            self.hits += 1
            return response_from(self.entries[ordinal].step)
        if self.mode == "live-on-miss" and self.live is not None:
            self.missed = True
            return self.live.complete(messages, tools, ordinal)
        raise ModelError(
            self._miss_message(messages, digest, ordinal),
            "the scenario, prompt, tools or policy changed since the recording; "
            "use --mode live-on-miss to ask the model from here",
        )

    def _miss_message(self, messages: list[Message], digest: str, ordinal: int) -> str:
        if ordinal >= len(self.entries):
            return (
                f"cassette miss at model call {ordinal}: the recording has only "
                f"{len(self.entries)} model call(s)"
            )
        same_hash = [i for i, e in enumerate(self.entries) if e.hash == digest]
        where = f" (an identical request was recorded at call {same_hash[0]})" if same_hash else ""
        recorded = rebuild_requests([e.step for e in self.entries])[ordinal]  # only on a miss
        diff = request_diff(recorded, messages)
        if not diff:
            diff = "(messages are identical: the offered tools differ)"
        return f"cassette miss at model call {ordinal}{where}; request vs recording:\n{diff}"
