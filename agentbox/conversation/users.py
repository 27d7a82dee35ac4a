"""The users who answer an agent: scripted turns, a simulated user, a python user.

Each is a :class:`UserSource`: given the conversation so far (a :class:`TurnView`) it
returns a :class:`Reply` -- the next message, or a stop. Sources know nothing of the
runner or the store; :mod:`agentbox.conversation.turns` records what they say as
``user`` steps, and replays a simulated user from those recordings
(:class:`RecordedUser`), so a replay never asks its model again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import simpleeval

from agentbox.cassette import request_hash
from agentbox.errors import AgentboxError, ModelError
from agentbox.models import Message, ModelBackend, make_model
from agentbox.policy import _FUNCTIONS, _RuleEvaluator
from agentbox.scenario import ScriptTurn, UserSpec, UserTurn

OPENING = "Hi! How can I help you today?"
"""What the simulated user is told the agent said when the user opens the conversation
(an empty ``input``), as tau-bench does."""

SIMULATOR_PROMPT = """You are playing a customer talking to a customer-service agent. \
Stay in this role for the whole conversation; never act as the agent or as an assistant.

{instructions}

Rules:
- Write one message at a time, as the customer would, in plain text.
- Give only the information the agent needs for the current step; do not recite these \
instructions.
- Never invent facts the instructions do not give you; if you do not know, say so.
- When your goal is met (or cannot be met), reply with {stop} alone to end the \
conversation."""
"""The simulated user's system prompt; ``{instructions}`` and ``{stop}`` are filled in."""


@dataclass
class TurnView:
    """What a user sees when it is their turn.

    Attributes:
        history: the conversation so far, ``{role, content}`` messages with the agent as
            ``assistant`` and the user as ``user`` (the scenario's input first, if any).
        last: the agent's last message ("" when the user opens the conversation).
        tools: names of the tools that ran successfully so far, in order.
        turn: this user turn's number, from 1.
    """

    history: list[Message]
    last: str
    tools: list[str]
    turn: int


@dataclass
class Reply:
    """One answer of a user.

    Attributes:
        text: the message (may contain the stop token), or None: the user has nothing
            more to say (the conversation ends without a step).
        by: ``scripted``, ``simulated``, ``python`` or ``fork`` (edited at a fork).
        model: the simulated user's model. request: ``{hash}`` of its request.
        input_tokens / output_tokens / cost_usd: the simulated user's usage (cost None:
            unknown price).
        turn_index: for scripted users, which turn of ``user.turns`` was said.
        error: the simulator failed (errored or broke character): ``simulator_error``.
    """

    text: str | None
    by: str = "scripted"
    model: str | None = None
    request: dict[str, Any] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    turn_index: int | None = None
    latency_s: float = 0.0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class UserSource(Protocol):
    """Anything that answers the agent."""

    kind: str

    def reply(self, view: TurnView) -> Reply:
        """The user's next message (see :class:`Reply`)."""
        ...

    def served(self, data: dict[str, Any]) -> None:
        """A recorded ``user`` step was replayed (resume, fork): move past it."""
        ...


# ---- scripted turns -------------------------------------------------------------------
def guard_passes(turn: UserTurn, view: TurnView) -> bool:
    """Whether a scripted turn's ``after`` / ``when`` guard holds now.

    ``when`` is evaluated safely (simpleeval, the policy's bounded evaluator) over
    ``last``, ``tools`` and ``turn``; an expression that cannot be evaluated is false.
    """
    if turn.after is not None and turn.after not in view.tools:
        return False
    if turn.when is None:
        return True
    evaluator = _RuleEvaluator()
    evaluator.names = {"last": view.last, "tools": list(view.tools), "turn": view.turn}
    evaluator.functions = dict(_FUNCTIONS)
    try:
        return bool(evaluator.eval(turn.when.strip()))
    except (simpleeval.InvalidExpression, ArithmeticError, TypeError, ValueError):
        return False
    except (IndexError, KeyError, RecursionError):
        return False


class ScriptedUser:
    """Plays ``user.turns`` in order, skipping a turn whose guard is false."""

    kind = "scripted"

    def __init__(self, turns: list[UserTurn]) -> None:
        self.turns = list(turns)
        self.position = 0

    def reply(self, view: TurnView) -> Reply:
        while self.position < len(self.turns):
            index, turn = self.position, self.turns[self.position]
            self.position += 1
            if guard_passes(turn, view):
                return Reply(turn.say, "scripted", turn_index=index)
        return Reply(None, "scripted")

    def served(self, data: dict[str, Any]) -> None:
        index = data.get("turn_index")
        if isinstance(index, int):
            self.position = index + 1


# ---- a simulated user ----------------------------------------------------------------
def simulator_messages(spec: UserSpec, history: list[Message]) -> list[Message]:
    """The simulated user's request: its system prompt, then the conversation with the
    roles flipped (the agent speaks as ``user``, the simulated user as ``assistant``)."""
    system = SIMULATOR_PROMPT.format(instructions=spec.instructions.strip(), stop=spec.stop)
    out: list[Message] = [{"role": "system", "content": system}]
    flipped = [
        {"role": "user" if m["role"] == "assistant" else "assistant", "content": m["content"]}
        for m in history
    ]
    if not flipped or flipped[0]["role"] != "user":
        flipped.insert(0, {"role": "user", "content": OPENING})
    return out + flipped


def broke_character(text: str | None, spec: UserSpec) -> str | None:
    """Why a simulated reply is out of character (None when it is fine)."""
    if text is None or not text.strip():
        return "the simulated user said nothing"
    lowered = text.lower()
    for phrase in spec.out_of_character:
        if phrase.lower() in lowered:
            return f"the simulated user broke character (said {phrase!r})"
    return None


class SimulatedUser:
    """A model playing the customer from ``user.instructions`` (tau-bench style).

    Args:
        spec: the scenario's ``user`` section.
        backend: the model (default: from ``spec.model``; ``scripted`` plays
            ``spec.script``).
        hasher: hashes requests as the run's redactor stores them.
    """

    kind = "simulated"

    def __init__(
        self,
        spec: UserSpec,
        backend: ModelBackend | None = None,
        hasher: Callable[[list[Message]], str] | None = None,
    ) -> None:
        self.spec = spec
        assert spec.model is not None
        script = [ScriptTurn(say=text) for text in spec.script]
        self.backend = backend or make_model(spec.model, script, spec.params)
        self.calls = 0
        self._hash = hasher or (lambda messages: request_hash(messages, []))

    def reply(self, view: TurnView) -> Reply:
        messages = simulator_messages(self.spec, view.history)
        digest = self._hash(messages)
        ordinal, self.calls = self.calls, self.calls + 1
        try:
            response = self.backend.complete(messages, [], ordinal)
        except AgentboxError as exc:
            return Reply(
                None,
                "simulated",
                self.backend.name,
                {"hash": digest},
                error=f"the simulated user's model failed: {exc.message}",
            )
        reply = Reply(
            response.text,
            "simulated",
            response.model or self.backend.name,
            {"hash": digest},
            response.input_tokens,
            response.output_tokens,
            response.cost_usd,
            latency_s=response.latency_s,
        )
        if response.tool_calls:
            reply.error = "the simulated user answered with tool calls"
        else:
            reply.error = broke_character(response.text, self.spec)
        return reply

    def served(self, data: dict[str, Any]) -> None:
        if data.get("request"):
            self.calls += 1


class RecordedUser:
    """A simulated user answered from a recording (replays, suite cases).

    Args:
        entries: the recorded answers in order, ``{text, request: {hash}, model,
            input_tokens, output_tokens, cost_usd}``.
        hasher: as the recording run hashed (its redactor).

    Raises (from :meth:`reply`):
        ModelError: a request differs from the recording (a cassette miss).
    """

    kind = "simulated"

    def __init__(
        self,
        spec: UserSpec,
        entries: list[dict[str, Any]],
        hasher: Callable[[list[Message]], str] | None = None,
    ) -> None:
        self.spec = spec
        self.entries = list(entries)
        self.calls = 0
        self._hash = hasher or (lambda messages: request_hash(messages, []))

    def reply(self, view: TurnView) -> Reply:
        messages = simulator_messages(self.spec, view.history)
        digest = self._hash(messages)
        ordinal, self.calls = self.calls, self.calls + 1
        if ordinal >= len(self.entries):
            raise ModelError(
                f"user cassette miss at simulated-user call {ordinal}: the recording has "
                f"only {len(self.entries)}",
                "the agent said something new; run live to ask the simulated user",
            )
        entry = self.entries[ordinal]
        recorded = (entry.get("request") or {}).get("hash")
        if recorded and recorded != digest:
            raise ModelError(
                f"user cassette miss at simulated-user call {ordinal}: the conversation "
                "differs from the recording; last agent message now: "
                + json.dumps(view.last[:300]),
                "the agent's replies changed; run live to ask the simulated user again",
            )
        return Reply(
            entry.get("text"),
            "simulated",
            entry.get("model"),
            {"hash": digest},
            int(entry.get("input_tokens") or 0),
            int(entry.get("output_tokens") or 0),
            entry.get("cost_usd"),
        )

    def served(self, data: dict[str, Any]) -> None:
        if data.get("request"):
            self.calls += 1


# ---- a python user -------------------------------------------------------------------
class PythonUser:
    """Your function playing the user: ``fn(conversation) -> str | None``.

    ``conversation`` is :attr:`TurnView.history` (a copy); returning None ends the
    conversation, and a message holding the stop token ends it after that message.
    """

    kind = "python"

    def __init__(self, fn: Callable[[list[Message]], Any]) -> None:
        self.fn = fn

    def reply(self, view: TurnView) -> Reply:
        try:
            text = self.fn([dict(m) for m in view.history])
        except Exception as exc:
            return Reply(
                None, "python", error=f"the python user raised {type(exc).__name__}: {exc}"
            )
        if text is not None and not isinstance(text, str):
            return Reply(
                None, "python", error=f"the python user returned {type(text).__name__}, not str"
            )
        return Reply(text, "python")

    def served(self, data: dict[str, Any]) -> None:
        return None
