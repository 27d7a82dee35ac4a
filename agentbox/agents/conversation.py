"""User turns as steps: ask the run's user, record a ``user`` step, replay it.

:func:`next_user_message` is what an agent calls when it yields the floor (the llm loop
after a reply without tool calls; a python agent through ``ctx.next_user_message()`` or
``ctx.ask_user(text)``), through the runner's public seams (``serialized``,
``record_step``, ``prefix``, ``check_limits``). It returns the user's next message, or None when the
conversation is over: no ``user:`` section, the user stopped (no scripted turns left,
the stop token, a python user returning None), or ``user.max_turns`` reached by a
scripted user. A simulated or python user still talking at ``max_turns`` halts the run
(``halted``, naming the limit); a simulator that errors or breaks character ends it as
``simulator_error`` -- a failure of the simulator, kept apart from the agent's.

A ``user`` step's data: ``text`` (as said, stop token included), ``by`` (``scripted``,
``simulated``, ``python``, ``fork``), ``turn`` (from 1), ``stop`` (the user ended the
conversation with it), ``in_reply_to`` (the agent's message), and for a simulated user
``model``, ``request`` (``{hash}``) and ``usage`` (tokens, cost USD) -- counted in the
run's ``user_*`` counters, never in the agent's. While a recorded prefix is served
(resume, fork) the recorded step answers and nothing is asked; a fork at a ``user``
step with ``--message`` makes that message the user's turn (``by: fork``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentbox.agents.python import load_entry
from agentbox.cassette import RequestHasher
from agentbox.conversation.users import (
    PythonUser,
    RecordedUser,
    Reply,
    ScriptedUser,
    SimulatedUser,
    TurnView,
)
from agentbox.errors import RunHalted
from agentbox.http.guard import host_traffic
from agentbox.models import Message
from agentbox.watchdog import CallFailed, CallTimedOut, bounded_call

if TYPE_CHECKING:
    from agentbox.conversation.users import UserSource
    from agentbox.planning import RunPlan
    from agentbox.runner import Runner


@dataclass
class Conversation:
    """One run's conversation: its user and what was said so far."""

    source: UserSource
    limit: int
    stop: str
    history: list[Message] = field(default_factory=list)
    turns: int = 0
    stop_after_reply: bool = False
    ended: bool = False


_CONVERSATIONS: weakref.WeakKeyDictionary[Any, Conversation | None] = weakref.WeakKeyDictionary()


def conversation_for(runner: Runner) -> Conversation | None:
    """The run's conversation (built on first use), or None when it has no user."""
    if runner in _CONVERSATIONS:
        return _CONVERSATIONS[runner]
    spec = runner.plan.scenario.user
    conv = None
    if spec is not None:
        conv = Conversation(build_user(runner.plan, runner.redactor), spec.turn_limit, spec.stop)
        if runner.plan.scenario.input:
            conv.history.append({"role": "user", "content": runner.plan.scenario.input})
    _CONVERSATIONS[runner] = conv
    return conv


def has_user(runner: Runner) -> bool:
    """Whether the run's scenario has a ``user:`` section."""
    return runner.plan.scenario.user is not None


def split_stop(text: str, stop: str) -> tuple[str, bool]:
    """``(text without the stop token, whether it held it)``."""
    if stop and stop in text:
        return text.replace(stop, "").strip(), True
    return text, False


def next_user_message(runner: Runner, agent_text: str | None = None) -> str | None:
    """The user's answer to ``agent_text`` (the agent's message), recorded as a step.

    Returns None when the conversation is over (see the module docstring).

    Raises:
        RunHalted: a budget is exhausted; ``halted`` at ``user.max_turns``;
            ``simulator_error`` when the simulated or python user failed.
        ModelError: a replayed simulated user's request differs from the recording.
        Diverged: during a recorded prefix, the recording has another step here.
    """
    conv = conversation_for(runner)
    if conv is None or conv.ended:
        return None
    if conv.stop_after_reply:  # the user said its last words with the stop token
        conv.ended = True
        return None
    said = agent_text or ""
    with runner.serialized():
        runner.prefix.skip_markers()  # a resumed fork's markers come before its next step
        if runner.prefix.active:
            head = runner.prefix.head
            data = runner.record_step("user", head.name or "", status=head.status, data={})
            conv.source.served(data)
            return _delivered(conv, said, data)
        runner.prefix.leave_if_done()  # a fork's edits apply here (fork --message)
        spec = runner.plan.scenario.user
        assert spec is not None
        view = TurnView(
            [dict(m) for m in conv.history] + ([_agent(said)] if said else []),
            said,
            [s.name or "" for s in runner.steps() if s.kind == "tool" and s.status == "ok"],
            conv.turns + 1,
        )
        if runner.injected:  # fork --message: the edited user turn replaces the next one
            reply = Reply(str(runner.injected.pop(0).get("content") or ""), "fork")
            if conv.source.kind == "scripted":  # the scripted turn it replaces is not said
                reply.turn_index = conv.source.reply(view).turn_index
        else:
            if conv.turns >= conv.limit:
                conv.ended = True
                if conv.source.kind == "scripted":
                    return None
                raise RunHalted(
                    "halted",
                    f"user.max_turns={conv.limit} user turns reached and the "
                    f"{conv.source.kind} user had not said {spec.stop!r}",
                )
            runner.check_limits(next_is_tool=False)
            reply = _ask(runner, conv, view)
        if reply.text is None and reply.error is None:
            conv.ended = True
            return None
        data = _record(runner, conv, reply, said)
        if reply.error is not None:
            raise RunHalted("simulator_error", reply.error)
        return _delivered(conv, said, data)


def _agent(text: str) -> Message:
    return {"role": "assistant", "content": text}


def _ask(runner: Runner, conv: Conversation, view: Any) -> Reply:
    """Ask the user, bounded by ``timeouts.model_s`` for a simulated one."""
    if conv.source.kind != "simulated":
        return conv.source.reply(view)
    limit = runner.plan.policy.spec.timeouts.model_s
    with host_traffic():  # the simulated user's model traffic passes the egress guard
        try:
            return bounded_call(lambda: conv.source.reply(view), limit)
        except CallTimedOut as exc:
            return Reply(None, "simulated", error=f"the simulated user {exc} (timeouts.model_s)")
        except CallFailed as failed:
            raise failed.error from None


def _record(runner: Runner, conv: Conversation, reply: Reply, said: str) -> dict[str, Any]:
    spec = runner.plan.scenario.user
    assert spec is not None
    text = reply.text or ""
    _, stopped = split_stop(text, spec.stop)
    data: dict[str, Any] = {
        "text": text,
        "by": reply.by,
        "turn": conv.turns + 1,
        "stop": stopped,
        "in_reply_to": said,
    }
    if reply.turn_index is not None:
        data["turn_index"] = reply.turn_index
    if reply.request is not None:
        data.update(
            model=reply.model,
            request=reply.request,
            usage={
                "input_tokens": reply.input_tokens,
                "output_tokens": reply.output_tokens,
                "cost_usd": reply.cost_usd,
            },
        )
        c = runner.counters
        c.user_input_tokens += reply.input_tokens
        c.user_output_tokens += reply.output_tokens
        if reply.cost_usd is None:
            c.user_cost_unknown += 1
        else:
            c.user_cost_usd += reply.cost_usd
    if reply.error is not None:
        data["error"] = reply.error
    runner.counters.user_turns += 1
    status = "error" if reply.error is not None else "ok"
    return runner.record_step("user", reply.by, status=status, data=data)


def _delivered(conv: Conversation, said: str, data: dict[str, Any]) -> str | None:
    """Account for a recorded user turn; the text the agent gets (None: it ended)."""
    spec_stop = data.get("stop")
    text = str(data.get("text") or "")
    conv.turns += 1
    if said:
        conv.history.append(_agent(said))
    conv.history.append({"role": "user", "content": text})
    if data.get("error"):
        conv.ended = True
        return None
    if spec_stop:
        rest, _ = split_stop(text, conv.stop)
        if not rest:
            conv.ended = True
            return None
        conv.stop_after_reply = True
        return rest
    return text


def _hasher(redactor: Callable[[Any], Any] | None) -> Callable[[list[Message]], str]:
    def digest(messages: list[Message]) -> str:
        return RequestHasher(redactor).hash(messages, [])[0]

    return digest


def build_user(plan: RunPlan, redactor: Callable[[Any], Any] | None = None) -> UserSource:
    """The user of a planned run (its scenario must have a ``user:`` section).

    Raises:
        SandboxError: a python user's entry cannot be loaded.
        ModelError: a simulated user's model string is unusable.
    """
    spec = plan.scenario.user
    assert spec is not None
    if spec.turns is not None:
        return ScriptedUser(spec.turns)
    if spec.entry is not None:
        scenario = plan.scenario
        search = [scenario.path.parent] if scenario.path else []
        search.append(plan.settings.root)
        wrapped = load_entry(spec.entry, search, intercept=False)
        fn: Any = getattr(wrapped, "__wrapped__", wrapped)  # the user's own function
        return PythonUser(fn)
    recording = plan.user_recording
    if recording is not None:
        return RecordedUser(spec, recording, _hasher(redactor))
    return SimulatedUser(spec, hasher=_hasher(redactor))
