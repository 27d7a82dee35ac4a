"""Unit tests of the policy gate (:class:`agentbox.policy.Policy`) and the budgets
(:func:`agentbox.policy.check_budgets`), without a run: the decisions the CLI tests reach
through whole runs, checked one rule at a time."""

from __future__ import annotations

from typing import Any

import pytest

from agentbox.policy import Counters, Policy, check_budgets, merge_budgets
from agentbox.sandbox.state import State
from agentbox.sandbox.tools import ToolSpec, make_tool
from agentbox.scenario import Budgets, PolicySpec


def _refund(state: State, order_id: str, amount_usd: float, note: str = "") -> dict[str, Any]:
    """Refund an order."""
    return {}


def _get_order(state: State, order_id: str) -> dict[str, Any]:
    """Read an order."""
    return {}


def _delete_order(state: State, order_id: str) -> None:
    """Delete an order."""


TOOLS: dict[str, ToolSpec] = {
    "create_refund": make_tool(_refund, effect="write", name="create_refund"),
    "get_order": make_tool(_get_order, effect="read", name="get_order"),
    "delete_order": make_tool(_delete_order, effect="write", name="delete_order"),
}


def policy(**spec: Any) -> Policy:
    return Policy(PolicySpec.model_validate(spec), TOOLS)


def test_no_rules_allows_everything() -> None:
    decision = policy().check("create_refund", {"order_id": "o1", "amount_usd": 500})
    assert (decision.verdict, decision.tier, decision.rule) == ("allow", "green", None)


def test_allow_and_deny_lists_with_wildcards() -> None:
    p = policy(allow=["get_*", "create_refund"], deny=["*_order"])
    assert p.check("create_refund", {}).verdict == "allow"
    denied = p.check("get_order", {"order_id": "o1"})
    assert (denied.verdict, denied.rule) == ("block", "denylist")
    assert denied.reason == "get_order is on the policy's deny list"
    unlisted = policy(allow=["get_*"]).check("delete_order", {"order_id": "o1"})
    assert (unlisted.verdict, unlisted.rule) == ("block", "allowlist")


def test_a_when_rule_holds_only_when_true() -> None:
    p = policy(
        rules=[
            {"name": "big", "tool": "create_refund", "when": "amount_usd > 200", "tier": "yellow"}
        ]
    )
    small = p.check("create_refund", {"order_id": "o1", "amount_usd": 200})
    big = p.check("create_refund", {"order_id": "o1", "amount_usd": 200.01})
    assert small.verdict == "allow"
    assert (big.verdict, big.tier, big.rule) == ("hold", "yellow", "big")
    assert big.reason == "amount_usd > 200 is true"


def test_the_most_severe_rule_wins_and_ties_go_to_the_first() -> None:
    rules = [
        {
            "name": "first-yellow",
            "tool": "create_refund",
            "when": "amount_usd > 1",
            "tier": "yellow",
        },
        {
            "name": "second-yellow",
            "tool": "create_refund",
            "when": "amount_usd > 2",
            "tier": "yellow",
        },
        {"name": "red", "tool": "create_*", "when": "amount_usd > 100", "tier": "red"},
    ]
    p = policy(rules=rules)
    assert p.check("create_refund", {"amount_usd": 50}).rule == "first-yellow"
    worst = p.check("create_refund", {"amount_usd": 500})
    assert (worst.verdict, worst.rule) == ("block", "red")


def test_a_rule_reason_replaces_the_default_sentence() -> None:
    p = policy(
        rules=[
            {
                "name": "big",
                "tool": "create_refund",
                "when": "amount_usd > 10",
                "tier": "yellow",
                "reason": "a supervisor signs refunds over $10",
            }
        ]
    )
    assert p.check("create_refund", {"amount_usd": 11}).reason == (
        "a supervisor signs refunds over $10"
    )


def test_require_fires_on_missing_or_empty_arguments() -> None:
    p = policy(rules=[{"name": "keys", "tool": "create_refund", "require": ["note"]}])
    assert p.check("create_refund", {"order_id": "o1", "note": "n"}).verdict == "allow"
    for args in ({"order_id": "o1"}, {"order_id": "o1", "note": ""}):
        decision = p.check("create_refund", args)
        assert decision.verdict == "block"  # a rule without a tier blocks
        assert decision.reason == "missing required argument(s): note"


def test_a_rule_without_when_or_require_matches_every_call_of_its_tool() -> None:
    p = policy(rules=[{"name": "never-delete", "tool": "delete_order", "tier": "red"}])
    assert p.check("delete_order", {"order_id": "o1"}).reason == (
        "every call of delete_order matches this rule"
    )
    assert p.check("get_order", {"order_id": "o1"}).verdict == "allow"


@pytest.mark.parametrize(
    ("when", "error"),
    [
        ("amount_usd / 0 > 1", "ZeroDivisionError"),
        ("no_such_name > 1", "NameNotDefined"),
        ("'x' * 100000 == ''", "IterableTooLong"),
    ],
)
def test_a_rule_that_cannot_be_evaluated_fails_closed(when: str, error: str) -> None:
    p = policy(
        rules=[
            {
                "name": "r",
                "tool": "create_refund",
                "when": when,
                "tier": "yellow",
                "reason": "hidden",
            }
        ]
    )
    decision = p.check("create_refund", {"amount_usd": 5})
    assert decision.verdict == "hold"
    assert decision.reason.startswith(f"rule r could not be evaluated: {error}")


def test_problems_name_the_field_and_line() -> None:
    p = policy(
        allow=["get_order", "refund_*"],
        rules=[
            {"name": "a", "tool": "nope", "tier": "red"},
            {"name": "b", "tool": "create_refund", "require": ["idempotency_key"]},
            {"name": "c", "tool": "create_refund", "when": "amount > 1"},
            {"name": "d", "tool": "create_refund", "when": "amount_usd >"},
        ],
    )
    found = p.problems("s.yaml", lambda loc: len(loc))
    assert [(x.field, x.message) for x in found] == [
        ("policy.allow[1]", "no sandbox tool matches 'refund_*'"),
        ("policy.rules[0].tool", "no sandbox tool matches 'nope'"),
        ("policy.rules[1].require", "create_refund has no argument 'idempotency_key'"),
        (
            "policy.rules[2].when",
            "unknown name 'amount'; arguments of create_refund: amount_usd, note, order_id",
        ),
        ("policy.rules[3].when", "invalid expression: invalid syntax"),
    ]
    assert {x.file for x in found} == {"s.yaml"}
    assert found[1].line == 4  # line_of got ("policy", "rules", 0, "tool")


def test_names_bound_by_a_comprehension_are_not_unknown() -> None:
    p = policy(
        rules=[{"name": "c", "tool": "create_refund", "when": "any(c == 'x' for c in note)"}]
    )
    assert p.problems("s.yaml", lambda loc: None) == []
    assert p.check("create_refund", {"note": "axe"}).verdict == "hold"  # default: yellow
    assert p.check("create_refund", {"note": "bee"}).verdict == "allow"


# ---- budgets -------------------------------------------------------------------------
def test_no_budget_never_stops() -> None:
    assert (
        check_budgets(Budgets(), Counters(steps=10**6, tool_calls=10**6), next_is_tool=True) is None
    )


def test_steps_and_tool_calls_are_checked_before_the_next_one() -> None:
    b = Budgets(max_steps=3, max_tool_calls=2)
    assert check_budgets(b, Counters(steps=2, tool_calls=2)) is None  # next is not a tool
    assert check_budgets(b, Counters(steps=2, tool_calls=2), next_is_tool=True) == (
        "halted",
        "tool-call budget exhausted: 2 of max_tool_calls=2",
    )
    assert check_budgets(b, Counters(steps=3)) == (
        "halted",
        "step budget exhausted: 3 of max_steps=3",
    )


def test_tokens_and_cost_stop_only_once_exceeded() -> None:
    b = Budgets(max_tokens=100, max_cost_usd=0.5)
    assert check_budgets(b, Counters(input_tokens=60, output_tokens=40, cost_usd=0.5)) is None
    assert check_budgets(b, Counters(input_tokens=60, output_tokens=41)) == (
        "halted",
        "token budget exceeded: 101 > max_tokens=100",
    )
    assert check_budgets(b, Counters(cost_usd=0.50001)) == (
        "halted",
        "cost budget exceeded: $0.5000 > max_cost_usd=$0.5",
    )


def test_time_budget_gives_the_timeout_status() -> None:
    b = Budgets(max_seconds=2)
    assert check_budgets(b, Counters(elapsed_s=2.0)) is None
    assert check_budgets(b, Counters(elapsed_s=2.25)) == (
        "timeout",
        "time budget exceeded: 2.2 s > max_seconds=2",
    )


def test_later_budget_layers_override_only_what_they_set() -> None:
    merged = merge_budgets(Budgets(max_steps=5, max_tokens=10), None, Budgets(max_tokens=99))
    assert (merged.max_steps, merged.max_tokens, merged.max_cost_usd) == (5, 99, None)
