"""Building a run's user from its scenario, and checking the ``user:`` section.

:func:`build_user` picks the source: scripted turns, a python function, a simulated
user -- or, when the plan carries a recording (``RunPlan.user_recording``: a replay or a
suite case), the recorded simulated user, so replays never ask its model.
:func:`user_problems` reports guards that name tools the sandbox does not have (a
``file:line`` error at planning, exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentbox.cassette import RequestHasher
from agentbox.conversation.users import PythonUser, RecordedUser, ScriptedUser, SimulatedUser
from agentbox.errors import Problem
from agentbox.models import Message
from agentbox.scenario import Scenario

if TYPE_CHECKING:
    from agentbox.conversation.users import UserSource
    from agentbox.planning import RunPlan


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
        from agentbox.agents.python import load_entry

        scenario = plan.scenario
        search = [scenario.path.parent] if scenario.path else []
        search.append(plan.settings.root)
        wrapped = load_entry(spec.entry, search, intercept=False)
        fn: Any = getattr(wrapped, "__wrapped__", wrapped)  # the user's own function
        return PythonUser(fn)
    recording = getattr(plan, "user_recording", None)
    if recording is not None:
        return RecordedUser(spec, recording, _hasher(redactor))
    return SimulatedUser(spec, hasher=_hasher(redactor))


def user_problems(scenario: Scenario, tools: set[str]) -> list[Problem]:
    """Problems with the ``user:`` section that need the sandbox: ``after:`` naming a
    tool that does not exist."""
    spec = scenario.user
    if spec is None or not spec.turns:
        return []
    out = []
    known = ", ".join(sorted(tools))
    for i, turn in enumerate(spec.turns):
        if turn.after is not None and turn.after not in tools:
            loc: tuple[str | int, ...] = ("user", "turns", i, "after")
            file, line = scenario.locate(*loc)
            out.append(
                Problem(
                    file,
                    line,
                    f"user.turns[{i}].after",
                    f"unknown tool {turn.after!r} (tools: {known})",
                )
            )
    return out


def recorded_user_calls(steps: list[Any]) -> list[dict[str, Any]]:
    """The simulated user's recorded answers (its cassette), from a run's ``user`` steps."""
    out = []
    for s in steps:
        if s.kind != "user" or not s.data.get("request"):
            continue
        d = s.data
        usage = d.get("usage") or {}
        out.append(
            {
                "text": d.get("text"),
                "model": d.get("model"),
                "request": {"hash": (d.get("request") or {}).get("hash")},
                "input_tokens": usage.get("input_tokens", 0),
                "output_tokens": usage.get("output_tokens", 0),
                "cost_usd": usage.get("cost_usd"),
            }
        )
    return out
