"""A conversation's recording and checks that need more than the scenario file.

:func:`recorded_user_calls` reads a simulated user's answers back from a run's ``user``
steps (the user's cassette, for replays and exported cases); :func:`user_problems`
reports guards that name tools the sandbox does not have (a ``file:line`` error at
planning, exit 2).
"""

from __future__ import annotations

from typing import Any

from agentbox.errors import Problem
from agentbox.scenario import Scenario


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
