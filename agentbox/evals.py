"""Expectations: check a finished run against the scenario's ``expect:`` section.

Each listed expectation yields one named :class:`ExpectationResult`, so a failing run
says exactly which promise it broke (``tool_calls[0] create_refund``, ``state[1]
refunds[-1].status``...).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentbox.errors import AgentboxError
from agentbox.paths import parse_path
from agentbox.policy import Counters
from agentbox.sandbox.loader import Sandbox
from agentbox.sandbox.state import State
from agentbox.scenario import Expect, JudgeExpectation
from agentbox.store import StepRow

_MISSING = object()


@dataclass
class RunOutcome:
    """What the checks look at: final status, output, totals, steps and state."""

    status: str
    output: str | None
    counters: Counters
    steps: list[StepRow]
    state: State
    sandbox: Sandbox | None = None


@dataclass
class ExpectationResult:
    """One checked expectation: its name, verdict and a detail saying why."""

    name: str
    passed: bool
    detail: str
    judgment: dict[str, Any] | None = None
    """For ``llm_judge``: the recorded verdict (reused by exported cases)."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form stored on the run."""
        data: dict[str, Any] = {"name": self.name, "passed": self.passed, "detail": self.detail}
        if self.judgment is not None:
            data["judgment"] = self.judgment
        return data


def resolve_path(state: State, path: str) -> Any:
    """The value at a path like ``refunds[-1].status`` or ``orders.ord_5531.status``
    (grammar: :mod:`agentbox.paths`).

    The first name is a collection; ``[i]`` on a collection counts its records in
    insertion order. Returns a private sentinel (see :func:`path_exists`) when absent.
    """
    segments = parse_path(path)
    if not segments or not isinstance(segments[0], str):
        return _MISSING
    collection, rest = segments[0], segments[1:]
    if collection not in state.collections():
        return _MISSING
    value: Any
    if not rest:
        return dict(state.items(collection))
    first, rest = rest[0], rest[1:]
    if isinstance(first, int):
        keys = state.keys(collection)
        if not -len(keys) <= first < len(keys):
            return _MISSING
        first = keys[first]
    if not state.has(collection, first):
        return _MISSING
    value = state.get(collection, first)
    for segment in rest:
        if isinstance(segment, str):
            if not (isinstance(value, dict) and segment in value):
                return _MISSING
            value = value[segment]
        elif isinstance(value, list | dict) and -len(value) <= segment < len(value):
            value = value[segment] if isinstance(value, list) else list(value.values())[segment]
        else:
            return _MISSING
    return value


def path_exists(value: Any) -> bool:
    """Whether :func:`resolve_path` found something."""
    return value is not _MISSING


def matches_subset(expected: Any, actual: Any) -> bool:
    """Whether ``actual`` holds ``expected`` (dicts: a key subset, recursively; numbers: by value)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and matches_subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, float | int) and isinstance(actual, float | int):
        return float(expected) == float(actual)
    return bool(expected == actual)


def _executed(steps: list[StepRow]) -> list[StepRow]:
    """Tool calls that ran and succeeded (not blocked, denied, invalid or failed)."""
    return [s for s in steps if s.kind == "tool" and s.status == "ok"]


def _count(name: str, expected: int | None, actual: int) -> list[ExpectationResult]:
    if expected is None:
        return []
    return [ExpectationResult(name, actual == expected, f"expected {expected}, got {actual}")]


Judge = Callable[[JudgeExpectation, str], tuple[bool, str, dict[str, Any]]]


def check_expectations(
    expect: Expect | None,
    outcome: RunOutcome,
    state_hasher: Callable[[State], str] | None = None,
    judge: Judge | None = None,
) -> list[ExpectationResult]:
    """Check every expectation that ``expect`` lists (none when it is None).

    ``judge(spec, output) -> (passed, reasoning, record)`` grades ``llm_judge`` rubrics.
    """
    if expect is None:
        return []
    out: list[ExpectationResult] = []
    c = outcome.counters
    if expect.status is not None:
        out.append(
            ExpectationResult(
                "status",
                outcome.status == expect.status,
                f"expected {expect.status}, got {outcome.status}",
            )
        )
    executed = _executed(outcome.steps)
    cursor = 0
    for i, call in enumerate(expect.tool_calls):
        ((tool, args),) = call.items()
        args = args or {}
        pool = executed[cursor:] if expect.ordered else executed
        hit = next(
            (
                j
                for j, s in enumerate(pool)
                if s.name == tool and matches_subset(args, s.data.get("args"))
            ),
            None,
        )
        label = f"tool_calls[{i}] {tool}"
        if hit is None:
            made = [s.name for s in executed]
            where = " after the previous expected call" if expect.ordered else ""
            out.append(
                ExpectationResult(
                    label,
                    False,
                    f"no executed call {tool}({json.dumps(args)})"
                    f"{where}; executed: {made or 'none'}",
                )
            )
        else:
            if expect.ordered:
                cursor += hit + 1
            out.append(ExpectationResult(label, True, f"found at step {pool[hit].idx}"))
    for tool in expect.no_tool_calls:
        steps = [s.idx for s in executed if s.name == tool]
        out.append(
            ExpectationResult(
                f"no_tool_calls {tool}",
                not steps,
                f"executed at steps {steps}" if steps else "not executed",
            )
        )
    for i, check in enumerate(expect.state):
        value = resolve_path(outcome.state, check.path)
        label = f"state[{i}] {check.path}"
        if "equals" in check.model_fields_set:
            ok = (
                path_exists(value)
                and matches_subset(check.equals, value)
                and matches_subset(value, check.equals)
            )
            got = json.dumps(value, default=str) if path_exists(value) else "nothing"
            out.append(
                ExpectationResult(label, ok, f"expected {json.dumps(check.equals)}, got {got}")
            )
        else:
            want = True if check.exists is None else check.exists
            out.append(
                ExpectationResult(
                    label, path_exists(value) == want, "present" if path_exists(value) else "absent"
                )
            )
    out += _count("holds", expect.holds, c.holds)
    out += _count("blocks", expect.blocks, c.blocks)
    out += _count("approvals", expect.approvals, c.approvals)
    out += _count("invalid_tool_calls", expect.invalid_tool_calls, c.invalid_tool_calls)
    if expect.max_cost_usd is not None:
        ok = c.cost_unknown == 0 and c.cost_usd <= expect.max_cost_usd
        detail = f"${c.cost_usd:.4f} of ${expect.max_cost_usd}"
        if c.cost_unknown:
            detail += f"; {c.cost_unknown} model call(s) with unknown price"
        out.append(ExpectationResult("max_cost_usd", ok, detail))
    if expect.max_tokens is not None:
        out.append(
            ExpectationResult(
                "max_tokens", c.tokens <= expect.max_tokens, f"{c.tokens} of {expect.max_tokens}"
            )
        )
    for text in expect.output_contains:
        found = text.lower() in (outcome.output or "").lower()
        out.append(
            ExpectationResult(
                f"output_contains {text!r}",
                found,
                "found" if found else f"output was {outcome.output!r}",
            )
        )
    if expect.state_hash is not None:
        hasher = state_hasher or _sandbox_hasher(outcome.sandbox)
        if hasher is None:
            out.append(
                ExpectationResult(
                    "state_hash", False, "the sandbox defines no state_fingerprint hook (tools.py)"
                )
            )
        else:
            got = hasher(outcome.state)
            out.append(
                ExpectationResult(
                    "state_hash",
                    got == expect.state_hash,
                    f"expected {expect.state_hash[:16]}…, got {got[:16]}…",
                )
            )
    if expect.user_turns is not None or expect.user_final_contains or expect.confirmed_before:
        out += _check_conversation(expect, outcome.steps)
    for i, spec in enumerate(expect.llm_judge):
        label = f"llm_judge[{i}]"
        if judge is None:
            out.append(ExpectationResult(label, False, "no judge model available"))
            continue
        try:
            passed, reasoning, record = judge(spec, outcome.output or "")
        except AgentboxError as exc:
            out.append(ExpectationResult(label, False, f"judge failed: {exc.message}"))
            continue
        out.append(ExpectationResult(label, passed, reasoning, record))
    return out


# ---- conversations ---------------------------------------------------------------------
def _user_steps(steps: list[StepRow]) -> list[StepRow]:
    """The run's ``user`` steps, in order."""
    return [s for s in steps if s.kind == "user"]


def _agent_text(step: StepRow) -> str:
    response: dict[str, Any] = step.data.get("response") or {}
    return str(response.get("text") or "")


def _confirmation_of(steps: list[StepRow], call: StepRow) -> StepRow | None:
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


def _check_conversation(expect: Expect, steps: list[StepRow]) -> list[ExpectationResult]:
    """Check ``user_turns``, ``user_final_contains`` and ``confirmed_before``."""
    out: list[ExpectationResult] = []
    users = _user_steps(steps)
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
        missing = [c.idx for c in calls if _confirmation_of(steps, c) is None]
        if missing:
            out.append(
                ExpectationResult(
                    label,
                    False,
                    f"executed at step(s) {missing} without asking the user first",
                )
            )
        else:
            where = [_confirmation_of(steps, c).idx for c in calls]  # type: ignore[union-attr]
            out.append(ExpectationResult(label, True, f"confirmed by the user at step(s) {where}"))
    return out


def _sandbox_hasher(sandbox: Sandbox | None) -> Callable[[State], str] | None:
    return None if sandbox is None else sandbox.state_hasher
