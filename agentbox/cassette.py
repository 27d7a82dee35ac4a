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
import functools
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

    @property
    def redactor(self) -> Callable[[Any], Any]:
        """The redactor messages are hashed through."""
        return self._redact

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
        appended = shared == len(self._sent)  # the previous request plus new messages
        # extended in place when appended to: copying them would grow with the history
        chain = self._chain if appended else self._chain[:shared]
        head = chain[-1] if chain else ""
        for message in messages[shared:]:
            text = head + json.dumps(self._redact(message), sort_keys=True, default=str)
            head = hashlib.sha256(text.encode()).hexdigest()
            chain.append(head)
        if appended:
            self._sent.extend(messages[shared:])
        else:
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


def _message_lines(message: Message) -> list[str]:
    """A message as diffable lines: its text content line by line, other fields as JSON."""
    content = message.get("content")
    rest = {k: v for k, v in message.items() if k not in ("content", "role")}
    lines = content.splitlines() if isinstance(content, str) else []
    if content is not None and not isinstance(content, str):
        lines.append(json.dumps(content, sort_keys=True, default=str))
    if rest:
        lines.append(json.dumps(rest, sort_keys=True, default=str))
    return lines


def _clip_pair(old: str, new: str, width: int = 160) -> tuple[str, str]:
    """Two long changed lines cut down to the changed span with a little context."""
    if len(old) <= width and len(new) <= width:
        return old, new
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    start = max(0, head - 40)

    def cut(text: str) -> str:
        end = min(len(text), len(text) - tail + 40)
        body = text[start:end]
        if len(body) > width:
            body = body[: width - 1] + "…"
        return ("…" if start else "") + body + ("…" if end < len(text) else "")

    return cut(old), cut(new)


def _changed_lines(old: list[str], new: list[str]) -> list[str]:
    """``-``/``+`` lines of what differs between two line lists (no context)."""
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        gone, added = old[i1:i2], new[j1:j2]
        if tag == "replace" and len(gone) == len(added):
            for a, b in zip(gone, added, strict=True):
                a, b = _clip_pair(a, b)
                out += [f"-{a}", f"+{b}"]
            continue
        out += [f"-{_clip_pair(a, '')[0]}" for a in gone]
        out += [f"+{_clip_pair('', b)[1]}" for b in added]
    return out


def compact_request_diff(recorded: list[Message], new: list[Message], max_lines: int = 40) -> str:
    """What changed between two requests, message by message, changed lines only.

    Each changed message gets a header (``message 0 (system) changed:``) and its removed
    (``-``) and added (``+``) lines; long lines are cut to the changed span; unchanged
    messages and lines are left out. At most ``max_lines`` lines (a last line says how
    many more). ``""`` when the messages are equal.
    """
    keys = [json.dumps(m, sort_keys=True, default=str) for m in recorded]
    now = [json.dumps(m, sort_keys=True, default=str) for m in new]
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, keys, now, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(pairs):
            old_m, new_m = recorded[i1 + k], new[j1 + k]
            out.append(f"message {j1 + k} ({new_m.get('role', '?')}) changed:")
            out += _changed_lines(_message_lines(old_m), _message_lines(new_m))
        for i in range(i1 + pairs, i2):
            out.append(f"message {i} ({recorded[i].get('role', '?')}) recorded, not sent now:")
            out += [f"-{_clip_pair(x, '')[0]}" for x in _message_lines(recorded[i])]
        for j in range(j1 + pairs, j2):
            out.append(f"message {j} ({new[j].get('role', '?')}) sent now, not recorded:")
            out += [f"+{_clip_pair('', x)[1]}" for x in _message_lines(new[j])]
    if len(out) > max_lines:
        out = [*out[:max_lines], f"… {len(out) - max_lines} more line(s); -v shows every message"]
    return "\n".join(out)


def request_diff(recorded: list[Message], new: list[Message]) -> str:
    """A unified diff of two whole requests, one message per JSON line (``-v``)."""

    def lines(msgs: list[Message]) -> list[str]:
        return [json.dumps(m, sort_keys=True, default=str) for m in msgs]

    context = max(len(recorded), len(new))
    diff = difflib.unified_diff(
        lines(recorded), lines(new), "recorded", "new", lineterm="", n=context
    )
    return "\n".join(diff)


@dataclass
class Recording:
    """One recorded model call, as a cassette serves it.

    Attributes:
        hash: the request hash it answers (None: it answers any request, unchecked).
        prefix / delta: the request, stored compactly (shared-prefix length, new messages).
        tools: names of the tools offered (None: as in the previous call).
        response: builds the recorded response.
    """

    hash: str | None
    prefix: int
    delta: list[Message]
    tools: list[str] | None
    response: Callable[[], ModelResponse]


class CassetteModel:
    """Serve recorded responses for a run's model calls (runs and suite cases alike).

    Call ``n`` is answered by recording ``n`` when their request hashes agree (identical
    repeated requests stay distinct by ordinal). A miss raises :class:`ModelError` whose
    message shows what changed, compactly (:func:`compact_request_diff`); ``miss`` keeps
    that message and ``miss_full`` the whole-request diff (``-v``), even if an agent
    swallows the error.

    Args:
        calls: the recordings, in call order.
        mode: ``strict`` (a miss raises ModelError) or ``live-on-miss``.
        live: the backend asked from the first miss on (``live-on-miss``).
        redactor: what the recording run redacted (see :class:`RequestHasher`).
        name: the model name shown. source: what recorded it (``the recording``, ``the case``).
        hint: the ModelError's hint.
    """

    def __init__(
        self,
        calls: list[Recording],
        *,
        mode: str = "strict",
        live: ModelBackend | None = None,
        redactor: Callable[[Any], Any] | None = None,
        name: str = "cassette",
        source: str = "the recording",
        hint: str = "the scenario, prompt, tools or policy changed since the recording; "
        "use --on-miss live to ask the model from here",
    ) -> None:
        self.calls = calls
        self.mode = mode
        self.live = live
        self.name = name
        self.source = source
        self.hint = hint
        self.missed = False
        self.hits = 0
        self.miss: str | None = None
        """The first miss message (compact diff)."""
        self.miss_full: str | None = None
        """The first miss with the whole-request diff (``-v``)."""
        self.steps: list[StepRow] = []
        """The recorded run's steps (read-through API responses are served from them)."""
        self._hasher = RequestHasher(redactor)

    @classmethod
    def from_steps(
        cls,
        steps: list[StepRow],
        mode: str = "strict",
        live: ModelBackend | None = None,
        redactor: Callable[[Any], Any] | None = None,
    ) -> CassetteModel:
        """A cassette of a stored run (its ``llm`` steps are the recordings)."""
        llm_steps = [s for s in steps if s.kind == "llm"]
        calls = []
        for s in llm_steps:
            req = s.data.get("request", {})
            calls.append(
                Recording(
                    req.get("hash", ""),
                    req.get("prefix", 0),
                    req.get("delta", []),
                    req.get("tools"),
                    functools.partial(response_from, s),
                )
            )
        name = llm_steps[0].name if llm_steps and llm_steps[0].name else "cassette"
        model = cls(calls, mode=mode, live=live, redactor=redactor, name=name)
        model.steps = steps
        return model

    def complete(
        self, messages: list[Message], tools: list[dict[str, Any]], ordinal: int
    ) -> ModelResponse:
        """Answer call ``ordinal`` from the recording.

        Raises:
            ModelError: a miss (changed request, or more calls than recorded), with a diff.
        """
        return self.complete_hashed(messages, tools, ordinal, None, None)

    def complete_hashed(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]],
        ordinal: int,
        digest: str | None,
        redactor: Callable[[Any], Any] | None,
    ) -> ModelResponse:
        """:meth:`complete`, given the request's hash as the caller computed it (the
        runner hashes every request it stores): used instead of hashing it again when
        ``redactor`` is the very redactor this cassette hashes with.

        Raises:
            ModelError: see :meth:`complete`.
        """
        if not self.missed and ordinal < len(self.calls):
            expected = self.calls[ordinal].hash
            if digest is None or redactor is not self._hasher.redactor:
                digest = None if expected is None else self._hasher.hash(messages, tools)[0]
            if expected is None or expected == digest:
                self.hits += 1
                return self.calls[ordinal].response()
        if self.mode == "live-on-miss" and self.live is not None:
            self.missed = True
            return self.live.complete(messages, tools, ordinal)
        compact, full = self._miss_messages(messages, tools, ordinal)
        if self.miss is None:
            self.miss, self.miss_full = compact, full
        raise ModelError(compact, self.hint)

    def recorded_requests(self) -> list[list[Message]]:
        """The full message list of every recorded request (rebuilt from the deltas)."""
        return expand_requests((c.prefix, c.delta) for c in self.calls)

    def _miss_messages(
        self, messages: list[Message], tools: list[dict[str, Any]], ordinal: int
    ) -> tuple[str, str]:
        if ordinal >= len(self.calls):
            text = (
                f"cassette miss at model call {ordinal}: {self.source} has only "
                f"{len(self.calls)} model call(s)"
            )
            return text, text
        digest = self._hasher.hash(messages, tools)[0]
        same = [i for i, c in enumerate(self.calls) if c.hash == digest]
        where = f" (an identical request was recorded at call {same[0]})" if same else ""
        recorded = self.recorded_requests()[ordinal]  # rebuilt only on a miss
        head = f"cassette miss at model call {ordinal}{where}; request vs recording:\n"
        compact = compact_request_diff(recorded, messages)
        if not compact:
            names = [t.get("function", {}).get("name") for t in tools]
            was = next(
                (c.tools for c in reversed(self.calls[: ordinal + 1]) if c.tools is not None), []
            )
            compact = (
                f"(messages are identical: the offered tools differ: recorded {was}, now {names})"
                if names != was
                else "(messages and tool names match the recording but the request hash "
                "does not: a tool's schema or description changed, or the recorded messages "
                "or hash were edited)"
            )
            return head + compact, head + compact
        return head + compact, head + request_diff(recorded, messages)
