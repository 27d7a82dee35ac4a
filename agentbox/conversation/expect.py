"""Expectations over a conversation: user turns, the user's last words, confirmations.

Called by :func:`agentbox.evals.check_expectations` for the ``user_turns``,
``user_final_contains`` and ``confirmed_before`` fields of ``expect:``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentbox.evals import ExpectationResult
    from agentbox.scenario import Expect
    from agentbox.store import StepRow


def user_steps(steps: list[StepRow]) -> list[StepRow]:
    """The run's ``user`` steps, in order."""
    return [s for s in steps if s.kind == "user"]


def _agent_text(step: StepRow) -> str:
    response: dict[str, Any] = step.data.get("response") or {}
    return str(response.get("text") or "")


def confirmation_of(steps: list[StepRow], call: StepRow) -> StepRow | None:
    """The user step that confirmed ``call``: the last user answer before it, given
    after any earlier successful call of the same tool, to an agent message asking a
    question (``?``). None when the agent acted without asking."""
    before = [s for s in steps if s.idx < call.idx]
    earlier = [
        s.idx for s in before if s.kind == "tool" and s.status == "ok" and s.name == call.name
    ]
    floor = max(earlier, default=-1)
    answers = [s for s in before if s.kind == "user" and s.idx > floor]
    if not answers:
        return None
    answer = answers[-1]
    asked = str(answer.data.get("in_reply_to") or "")
    if not asked:
        said = [s for s in before if s.kind == "llm" and s.idx < answer.idx]
        asked = _agent_text(said[-1]) if said else ""
    return answer if "?" in asked else None


def check_conversation(expect: Expect, steps: list[StepRow]) -> list[ExpectationResult]:
    """Check ``user_turns``, ``user_final_contains`` and ``confirmed_before``."""
    from agentbox.evals import ExpectationResult

    out: list[ExpectationResult] = []
    users = user_steps(steps)
    if expect.user_turns is not None:
        out.append(
            ExpectationResult(
                "user_turns",
                len(users) == expect.user_turns,
                f"expected {expect.user_turns}, got {len(users)}",
            )
        )
    final = str(users[-1].data.get("text") or "") if users else ""
    for text in expect.user_final_contains:
        found = bool(users) and text.lower() in final.lower()
        detail = (
            "found"
            if found
            else (f"user's last message was {final!r}" if users else "no user turns")
        )
        out.append(ExpectationResult(f"user_final_contains {text!r}", found, detail))
    for tool in expect.confirmed_before:
        calls = [s for s in steps if s.kind == "tool" and s.status == "ok" and s.name == tool]
        label = f"confirmed_before {tool}"
        if not calls:
            out.append(ExpectationResult(label, True, "not executed (nothing to confirm)"))
            continue
        missing = [c.idx for c in calls if confirmation_of(steps, c) is None]
        if missing:
            out.append(
                ExpectationResult(
                    label,
                    False,
                    f"executed at step(s) {missing} without asking the user first",
                )
            )
        else:
            where = [confirmation_of(steps, c).idx for c in calls]  # type: ignore[union-attr]
            out.append(ExpectationResult(label, True, f"confirmed by the user at step(s) {where}"))
    return out
