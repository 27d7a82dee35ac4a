"""Unit tests of the expectations (:func:`agentbox.evals.check_expectations`) over a
hand-built outcome: each promise passes or fails on its own, with a detail saying why."""

from __future__ import annotations

from typing import Any

import pytest

from agentbox.errors import ModelError
from agentbox.evals import RunOutcome, check_expectations, matches_subset, path_exists, resolve_path
from agentbox.policy import Counters
from agentbox.sandbox.state import State
from agentbox.scenario import Expect
from agentbox.store import StepRow


def tool_step(idx: int, name: str, args: dict[str, Any], status: str = "ok") -> StepRow:
    return StepRow("r1", idx, "tool", name=name, status=status, data={"args": args})


@pytest.fixture()
def state() -> State:
    s = State(
        {
            "orders": {"o1": {"status": "delivered", "total": 240, "items": [{"sku": "a"}]}},
            "refunds": {},
        }
    )
    s.put("refunds", "r1", {"order_id": "o1", "status": "pending", "amount_usd": 240.0})
    s.put("refunds", "r2", {"order_id": "o1", "status": "denied", "amount_usd": 10})
    return s


def outcome(state: State, **kw: Any) -> RunOutcome:
    steps = kw.pop(
        "steps",
        [
            tool_step(0, "get_order", {"order_id": "o1"}),
            tool_step(1, "create_refund", {"order_id": "o1", "amount_usd": 240}, status="blocked"),
            tool_step(2, "create_refund", {"order_id": "o1", "amount_usd": 240}),
            StepRow("r1", 3, "final"),
        ],
    )
    return RunOutcome(
        status=kw.pop("status", "completed"),
        output=kw.pop("output", "Your refund of $240 is pending."),
        counters=kw.pop("counters", Counters()),
        steps=steps,
        state=state,
    )


def check(expect: dict[str, Any], run: RunOutcome, **kw: Any) -> dict[str, tuple[bool, str]]:
    results = check_expectations(Expect.model_validate(expect), run, **kw)
    return {r.name: (r.passed, r.detail) for r in results}


def test_no_expect_section_checks_nothing(state: State) -> None:
    assert check_expectations(None, outcome(state)) == []


def test_status(state: State) -> None:
    assert check({"status": "completed"}, outcome(state)) == {
        "status": (True, "expected completed, got completed")
    }
    assert check({"status": "completed"}, outcome(state, status="halted"))["status"][0] is False


def test_tool_calls_count_only_executed_calls(state: State) -> None:
    got = check(
        {"tool_calls": [{"create_refund": {"amount_usd": 240.0}}, {"delete_order": None}]},
        outcome(state),
    )
    assert got["tool_calls[0] create_refund"] == (True, "found at step 2")
    passed, detail = got["tool_calls[1] delete_order"]
    assert not passed
    assert detail == ("no executed call delete_order({}); executed: ['get_order', 'create_refund']")


def test_ordered_tool_calls_must_follow_each_other(state: State) -> None:
    expect = {"tool_calls": [{"create_refund": {}}, {"get_order": {}}]}
    assert all(ok for ok, _ in check(expect, outcome(state)).values())
    ordered = check({**expect, "ordered": True}, outcome(state))
    assert ordered["tool_calls[0] create_refund"][0] is True
    assert ordered["tool_calls[1] get_order"] == (
        False,
        "no executed call get_order({}) after the previous expected call; "
        "executed: ['get_order', 'create_refund']",
    )


def test_no_tool_calls(state: State) -> None:
    got = check({"no_tool_calls": ["create_refund", "delete_order"]}, outcome(state))
    assert got["no_tool_calls create_refund"] == (False, "executed at steps [2]")
    assert got["no_tool_calls delete_order"] == (True, "not executed")


def test_state_equals_and_exists(state: State) -> None:
    got = check(
        {
            "state": [
                {"path": "refunds[-1].status", "equals": "denied"},
                {"path": "refunds.r1", "equals": {"order_id": "o1", "status": "pending"}},
                {"path": "orders.o1.items[0].sku", "equals": "a"},
                {"path": "refunds.r9"},
                {"path": "refunds.r9", "exists": False},
                {"path": "refunds[0].amount_usd", "equals": 240},
            ]
        },
        outcome(state),
    )
    assert got["state[0] refunds[-1].status"] == (True, 'expected "denied", got "denied"')
    # equals is exact both ways: a record with more keys than expected does not match
    assert got["state[1] refunds.r1"][0] is False
    assert got["state[2] orders.o1.items[0].sku"][0] is True
    assert got["state[3] refunds.r9"] == (False, "absent")
    assert got["state[4] refunds.r9"] == (True, "absent")
    assert got["state[5] refunds[0].amount_usd"][0] is True  # 240 == 240.0


def test_counts_cost_and_tokens(state: State) -> None:
    counters = Counters(holds=1, approvals=1, input_tokens=70, output_tokens=40, cost_usd=0.02)
    got = check(
        {"holds": 1, "approvals": 2, "blocks": 0, "max_tokens": 100, "max_cost_usd": 0.05},
        outcome(state, counters=counters),
    )
    assert got["holds"] == (True, "expected 1, got 1")
    assert got["approvals"] == (False, "expected 2, got 1")
    assert got["blocks"] == (True, "expected 0, got 0")
    assert got["max_tokens"] == (False, "110 of 100")
    assert got["max_cost_usd"] == (True, "$0.0200 of $0.05")


def test_an_unknown_price_fails_a_cost_expectation(state: State) -> None:
    got = check({"max_cost_usd": 1.0}, outcome(state, counters=Counters(cost_unknown=1)))
    assert got["max_cost_usd"] == (
        False,
        "$0.0000 of $1.0; 1 model call(s) with unknown price",
    )


def test_output_contains_ignores_case(state: State) -> None:
    got = check({"output_contains": ["REFUND", "approved"]}, outcome(state))
    assert got["output_contains 'REFUND'"] == (True, "found")
    assert got["output_contains 'approved'"][0] is False


def test_state_hash_needs_a_hasher(state: State) -> None:
    got = check({"state_hash": "abc"}, outcome(state))
    assert got["state_hash"] == (False, "the sandbox defines no state_fingerprint hook (tools.py)")
    got = check({"state_hash": "abc"}, outcome(state), state_hasher=lambda s: "abc")
    assert got["state_hash"][0] is True


def test_llm_judge_uses_the_judge_and_reports_its_failures(state: State) -> None:
    expect = {"llm_judge": [{"rubric": "polite"}, {"rubric": "correct"}]}
    assert check(expect, outcome(state))["llm_judge[0]"] == (False, "no judge model available")

    def judge(spec: Any, output: str) -> tuple[bool, str, dict[str, Any]]:
        if spec.rubric == "correct":
            raise ModelError("model unreachable")
        return "refund" in output, "it is polite", {"verdict": "pass"}

    got = check(expect, outcome(state), judge=judge)
    assert got["llm_judge[0]"] == (True, "it is polite")
    assert got["llm_judge[1]"] == (False, "judge failed: model unreachable")


def test_resolve_path_walks_collections_records_and_lists(state: State) -> None:
    assert resolve_path(state, "refunds[0].order_id") == "o1"
    assert resolve_path(state, "refunds[-1].amount_usd") == 10
    assert resolve_path(state, "orders.o1.items[-1]") == {"sku": "a"}
    assert resolve_path(state, "orders") == {"o1": state.get("orders", "o1")}
    for missing in ("nope", "refunds[2]", "orders.o9", "orders.o1.items[1]", "orders.o1.x", ""):
        assert not path_exists(resolve_path(state, missing)), missing


def test_matches_subset() -> None:
    assert matches_subset({"a": 1}, {"a": 1.0, "b": 2})
    assert not matches_subset({"a": 1, "c": 3}, {"a": 1, "b": 2})
    assert matches_subset({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2], "c": 0}})
    assert not matches_subset([1], [1, 2])
    assert not matches_subset("1", 1)
