"""Unit tier for agentbox.approvals: the one edit check, the one replay approver, and the
choice of approver (used by the runner, the CLI, the TUI and suites alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentbox.approvals import (
    ApprovalDecision,
    ApprovalRequest,
    approver_for,
    check_edit,
    parse_edits,
    recorded_holds,
    replay_approver,
)
from agentbox.config import Settings
from agentbox.planning import RunPlan, plan_run
from agentbox.policy import Decision
from agentbox.scenario import ApprovalsSpec
from agentbox.store import StepRow, TraceStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plan() -> RunPlan:
    return plan_run(ROOT / "scenarios/refund-over-limit.yaml", Settings(root=ROOT))


def refund(**args: Any) -> dict[str, Any]:
    return {"order_id": "ord_5531", "amount_usd": 240, "idempotency_key": "r-1", **args}


def request(tool: str = "create_refund") -> ApprovalRequest:
    return ApprovalRequest(
        "ap_1", "run1", 3, tool, refund(), Decision("hold", "yellow", "big-refund", "x")
    )


# ---- check_edit ---------------------------------------------------------------------------
def test_check_edit_normalises_valid_arguments_and_rechecks_the_policy(plan: RunPlan) -> None:
    check = check_edit(plan.tool("create_refund"), plan.policy, "create_refund", refund())
    assert check.ok and check.errors == []
    assert check.args is not None and check.args["amount_usd"] == 240.0
    assert check.recheck is not None and check.recheck.verdict == "hold"  # still over $200


def test_check_edit_reports_schema_errors(plan: RunPlan) -> None:
    check = check_edit(
        plan.tool("create_refund"), plan.policy, "create_refund", refund(amount_usd="lots")
    )
    assert not check.ok and check.args is None and "amount_usd" in "; ".join(check.errors)


def test_check_edit_refuses_arguments_the_policy_blocks(plan: RunPlan) -> None:
    args = {"customer_id": "cus_1042", "iban": "DE00"}  # not on the allow list
    check = check_edit(plan.tool("update_bank_details"), plan.policy, "update_bank_details", args)
    assert check.blocked and not check.ok and check.args == args
    assert check.errors[0].startswith("blocked by policy (allowlist)")


def test_check_edit_without_the_tool() -> None:
    check = check_edit(None, None, "gone", {})  # type: ignore[arg-type]
    assert check.errors == ["the sandbox has no tool 'gone'"] and not check.ok


def test_parse_edits_reads_json_values_and_refuses_bare_words() -> None:
    assert parse_edits(["amount_usd=180", 'note="a b"', "key=r-2"]) == {
        "amount_usd": 180,
        "note": "a b",
        "key": "r-2",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_edits(["amount_usd"])


# ---- the replay approver (stored runs and suite cases) ------------------------------------
def approval_step(idx: int, status: str, **data: Any) -> StepRow:
    return StepRow(
        "r", idx, "approval", "create_refund", status=status, data={"tool": "create_refund", **data}
    )


def test_recorded_holds_map_step_statuses_to_verdicts() -> None:
    steps = [
        approval_step(1, "edited", edited_args={"amount_usd": 180}, decided_by="sam"),
        approval_step(2, "approved", edited_args=None),
        approval_step(3, "denied", reason="too much"),
        approval_step(4, "closed"),
        StepRow("r", 5, "tool", "create_refund"),
    ]
    got = [
        (h.tool, h.decision.verdict, h.decision.args, h.decision.by) for h in recorded_holds(steps)
    ]
    assert got == [
        ("create_refund", "approve", {"amount_usd": 180}, "sam"),
        ("create_refund", "approve", None, "replay"),
        ("create_refund", "deny", None, "replay"),
        ("create_refund", "fail", None, "replay"),
    ]


def test_replay_approver_answers_in_order_then_fails_naming_the_call() -> None:
    decide = replay_approver(recorded_holds([approval_step(1, "denied", reason="no")]))
    assert decide(request()).verdict == "deny"
    last = decide(request())
    assert last.verdict == "fail" and "no decision for this hold" in last.reason
    assert "create_refund held by rule 'big-refund'" in last.reason


def test_replay_approver_fails_a_hold_of_another_tool_unless_live() -> None:
    holds = recorded_holds([approval_step(1, "approved")])
    wrong = replay_approver(holds)(request("pay"))
    assert wrong.verdict == "fail" and "a decision for create_refund, not pay" in wrong.reason
    live = replay_approver(holds, lambda r: ApprovalDecision("deny", by="live"))
    assert live(request("pay")).by == "live"


# ---- which approver a run gets ------------------------------------------------------------
def test_approver_for_follows_detach_the_handler_and_the_terminal(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.db")
    try:
        prompt = ApprovalsSpec(handler="prompt")
        assert approver_for(prompt, store, detach=True)(request()).verdict == "park"
        assert approver_for(ApprovalsSpec(handler="deny"), store)(request()).verdict == "deny"
        no_terminal = approver_for(prompt, store)(request())
        assert no_terminal.verdict == "fail" and "no terminal" in no_terminal.reason
        asked = approver_for(prompt, store, ask=lambda: lambda r: ApprovalDecision("approve"))
        assert asked(request()).verdict == "approve"
    finally:
        store.close()
