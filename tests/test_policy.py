"""The policy gate through small scenarios: tiers, approvals, lists, require rules, budgets,
recorded decisions, and edit-and-approve through the library."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from agentbox.approvals import ApprovalDecision, ApprovalRequest
from agentbox.config import load_settings
from agentbox.runner import Runner, RunOptions, plan_run
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent

GET = {"get_order": {"order_id": "ord_5531"}}
BIG_REFUND = {
    "create_refund": {"order_id": "ord_5531", "amount_usd": 240, "idempotency_key": "r-5531"}
}
BIG_RULE = {
    "name": "big-refund",
    "tool": "create_refund",
    "when": "amount_usd > 200",
    "tier": "yellow",
    "reason": "refunds over $200 need a supervisor",
}


def scenario(
    script: list[dict[str, Any]], policy: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "policy-case",
        "sandbox": "retail",
        "agent": {"type": "scripted"},
        "input": "Refund ord_5531 please.",
        "script": script,
    }
    if policy is not None:
        data["policy"] = policy
    data.update(extra)
    return data


def load(store_path: Path, run_id: str | None = None):
    store = TraceStore(store_path)
    try:
        run = store.get_run(run_id) if run_id else store.list_runs(limit=1)[0]
        return run, store.steps(run.id), store.approvals(status=None, run_id=run.id)
    finally:
        store.close()


def tools(steps, name: str | None = None):
    return [s for s in steps if s.kind == "tool" and (name is None or s.name == name)]


def refunds_created(steps) -> list[dict[str, Any]]:
    return [
        op["value"]
        for s in steps
        for op in (s.patch or [])
        if op["op"] == "add" and op["path"].startswith("/refunds/")
    ]


# ---- tiers -----------------------------------------------------------------------------
def test_green_rule_allows_and_is_recorded(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "green",
        scenario(
            [{"tool_calls": [GET]}, {"say": "ok"}],
            {
                "rules": [
                    {
                        "name": "reads-ok",
                        "tool": "get_*",
                        "tier": "green",
                        "reason": "reads are safe",
                    }
                ]
            },
        ),
    )
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    _run, steps, _ = load(store_path)
    (step,) = tools(steps)
    assert step.status == "ok"
    assert step.data["decision"] == {
        "verdict": "allow",
        "tier": "green",
        "rule": "reads-ok",
        "reason": "reads are safe",
    }


def test_no_rule_allows_with_reason(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario("plain", scenario([{"tool_calls": [GET]}, {"say": "ok"}]))
    assert cli("run", path).exit_code == 0
    _, steps, _ = load(store_path)
    decision = tools(steps)[0].data["decision"]
    assert decision["verdict"] == "allow" and decision["rule"] is None and decision["reason"]


def test_yellow_hold_approved_runs_the_tool(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "yellow", scenario([{"tool_calls": [BIG_REFUND]}, {"say": "done"}], {"rules": [BIG_RULE]})
    )
    result = cli("run", path, "--approve")
    assert result.exit_code == 0, result.output
    run, steps, approvals = load(store_path)
    (hold,) = [s for s in steps if s.kind == "approval"]
    assert hold.status == "approved"
    assert hold.data["decision"]["rule"] == "big-refund"
    assert hold.data["decision"]["reason"] == "refunds over $200 need a supervisor"
    (refund,) = tools(steps, "create_refund")
    assert refund.idx > hold.idx
    assert refund.status == "ok"
    assert refund.data["decision"]["verdict"] == "hold"
    assert [r["amount_usd"] for r in refunds_created(steps)] == [240]
    assert run.counters["holds"] == 1 and run.counters["approvals"] == 1
    assert [(a.status, a.rule) for a in approvals] == [("approved", "big-refund")]


def test_yellow_hold_denied_tells_the_agent(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "deny", scenario([{"tool_calls": [BIG_REFUND]}, {"say": "sorry"}], {"rules": [BIG_RULE]})
    )
    result = cli("run", path, "--deny")
    assert result.exit_code == 0, result.output  # completes; no expectations
    run, steps, approvals = load(store_path)
    (refund,) = tools(steps, "create_refund")
    assert refund.status == "denied"
    assert refund.data["result"].startswith("Error: denied")
    assert refund.message is not None and refund.message["role"] == "tool"
    assert refund.message["content"] == refund.data["result"], "the agent is sent the denial"
    assert refunds_created(steps) == []
    assert not any(s.patch for s in steps)
    assert run.counters["denials"] == 1 and run.counters["approvals"] == 0
    assert [a.status for a in approvals] == ["denied"]
    # The model was asked again after the denial (it got to react).
    assert next(s.kind for s in steps if s.idx > refund.idx) == "llm"


def test_fail_on_hold_halts(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "failhold",
        scenario([{"tool_calls": [BIG_REFUND]}, {"say": "never"}], {"rules": [BIG_RULE]}),
    )
    result = cli("run", path, "--fail-on-hold")
    assert result.exit_code == 1, result.output
    run, steps, approvals = load(store_path)
    assert run.status == "halted"
    assert "big-refund" in (run.reason or "")
    assert tools(steps, "create_refund") == []
    assert refunds_created(steps) == []
    assert steps[-1].kind == "final" and steps[-1].status == "halted"
    # the run ended first: its approval is closed, not left pending forever (issue 11)
    assert [a.status for a in approvals] == ["closed"]
    assert (approvals[0].decision_reason or "").startswith("run halted")


def test_only_one_approval_flag(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario("flags", scenario([{"say": "hi"}]))
    result = cli("run", path, "--approve", "--deny")
    assert result.exit_code == 2
    assert not store_path.exists()


def test_red_rule_blocks(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "red",
        scenario(
            [
                {
                    "tool_calls": [
                        {
                            "update_bank_details": {
                                "customer_id": "cus_1042",
                                "iban": "GB33BUKB20201555555555",
                            }
                        }
                    ]
                },
                {"say": "no"},
            ],
            {
                "rules": [
                    {
                        "name": "no-bank",
                        "tool": "update_bank_details",
                        "tier": "red",
                        "reason": "never",
                    }
                ]
            },
        ),
    )
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    run, steps, _ = load(store_path)
    (step,) = tools(steps)
    assert step.status == "blocked"
    assert step.data["decision"] == {
        "verdict": "block",
        "tier": "red",
        "rule": "no-bank",
        "reason": "never",
    }
    assert step.data["result"] == "Error: blocked by policy (no-bank): never"
    assert not step.patch
    assert run.counters["blocks"] == 1


def test_most_severe_rule_wins(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "severity",
        scenario(
            [{"tool_calls": [BIG_REFUND]}, {"say": "x"}],
            {
                "rules": [
                    BIG_RULE,
                    {
                        "name": "ceiling",
                        "tool": "create_refund",
                        "when": "amount_usd > 100",
                        "tier": "red",
                    },
                ]
            },
        ),
    )
    assert cli("run", path, "--approve").exit_code == 0
    _, steps, approvals = load(store_path)
    (step,) = tools(steps)
    assert step.status == "blocked" and step.data["decision"]["rule"] == "ceiling"
    assert approvals == []


# ---- allow / deny lists ------------------------------------------------------------------
def test_allow_list_blocks_other_tools_and_hides_them(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "allow",
        scenario(
            [{"tool_calls": [GET, {"get_ticket": {"ticket_id": "tkt_9001"}}]}, {"say": "x"}],
            {"allow": ["get_order"]},
        ),
    )
    assert cli("run", path).exit_code == 0
    _, steps, _ = load(store_path)
    by_name = {s.name: s for s in tools(steps)}
    assert by_name["get_order"].status == "ok"
    assert by_name["get_ticket"].status == "blocked"
    assert by_name["get_ticket"].data["decision"]["rule"] == "allowlist"
    assert "allow list" in by_name["get_ticket"].data["decision"]["reason"]
    offered = next(s for s in steps if s.kind == "llm").data["request"]["tools"]
    assert offered == ["get_order"], "the model is only offered allowed tools"


def test_deny_list_blocks(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "denylist",
        scenario(
            [{"tool_calls": [GET, {"get_ticket": {"ticket_id": "tkt_9001"}}]}, {"say": "x"}],
            {"deny": ["get_t*"]},
        ),
    )
    assert cli("run", path).exit_code == 0
    _, steps, _ = load(store_path)
    by_name = {s.name: s for s in tools(steps)}
    assert by_name["get_order"].status == "ok"
    assert by_name["get_ticket"].status == "blocked"
    assert by_name["get_ticket"].data["decision"]["rule"] == "denylist"
    offered = next(s for s in steps if s.kind == "llm").data["request"]["tools"]
    assert "get_ticket" not in offered and "get_order" in offered


def test_unknown_tool_in_allow_list_is_a_scenario_error(
    cli, make_scenario, store_path: Path
) -> None:
    path = make_scenario("allow-typo", scenario([{"say": "x"}], {"allow": ["get_ordr"]}))
    result = cli("run", path)
    assert result.exit_code == 2
    assert "policy.allow[0]: no sandbox tool matches 'get_ordr'" in " ".join(result.stderr.split())
    assert not store_path.exists()


# ---- require -----------------------------------------------------------------------------
def test_require_rule_blocks_missing_argument(cli, make_scenario, store_path: Path) -> None:
    call = {"create_refund": {"order_id": "ord_5120", "amount_usd": 10, "idempotency_key": ""}}
    path = make_scenario(
        "require",
        scenario(
            [{"tool_calls": [call]}, {"say": "x"}],
            {
                "rules": [
                    {
                        "name": "refund-keys",
                        "tool": "create_refund",
                        "require": ["order_id", "idempotency_key"],
                    }
                ]
            },
        ),
    )
    assert cli("run", path).exit_code == 0
    _run, steps, _ = load(store_path)
    (step,) = tools(steps)
    assert step.status == "blocked"
    assert step.data["decision"]["rule"] == "refund-keys"
    assert step.data["decision"]["tier"] == "red", "require rules default to red"
    assert "idempotency_key" in step.data["decision"]["reason"]
    assert refunds_created(steps) == []


def test_require_rule_passes_when_present(cli, make_scenario, store_path: Path) -> None:
    call = {
        "create_refund": {"order_id": "ord_5120", "amount_usd": 10, "idempotency_key": "r-5120"}
    }
    path = make_scenario(
        "require-ok",
        scenario(
            [{"tool_calls": [call]}, {"say": "x"}],
            {
                "rules": [
                    {"name": "refund-keys", "tool": "create_refund", "require": ["idempotency_key"]}
                ]
            },
        ),
    )
    assert cli("run", path).exit_code == 0
    _, steps, _ = load(store_path)
    assert tools(steps)[0].status == "ok"
    assert [r["amount_usd"] for r in refunds_created(steps)] == [10]


# ---- budgets -----------------------------------------------------------------------------
def loop(turn: dict[str, Any], times: int = 30) -> list[dict[str, Any]]:
    return [{**turn, "repeat": times}]


def assert_halted(cli, path: Path, store_path: Path, reason_part: str, status: str = "halted"):
    result = cli("run", path)
    assert result.exit_code == 1, result.output
    run, steps, _ = load(store_path)
    assert run.status == status
    assert reason_part in (run.reason or ""), run.reason
    halt = [s for s in steps if s.kind == "policy"]
    assert len(halt) == 1 and halt[0].data["reason"] == run.reason
    assert steps[-1].kind == "final" and steps[-1].status == status
    return run, steps


def test_budget_max_steps(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "steps", scenario(loop({"tool_calls": [GET]}), {"budgets": {"max_steps": 5}})
    )
    _run, steps = assert_halted(cli, path, store_path, "max_steps=5")
    work = [s for s in steps if s.kind in ("llm", "tool")]
    assert len(work) == 5, [s.kind for s in steps]


def test_budget_max_tool_calls(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "toolcalls", scenario(loop({"tool_calls": [GET]}), {"budgets": {"max_tool_calls": 3}})
    )
    run, steps = assert_halted(cli, path, store_path, "max_tool_calls=3")
    assert len(tools(steps)) == 3
    assert run.counters["tool_calls"] == 3


def test_budget_max_tokens(cli, make_scenario, store_path: Path) -> None:
    turn = {"tool_calls": [GET], "usage": {"input_tokens": 100, "output_tokens": 50}}
    path = make_scenario("tokens", scenario(loop(turn), {"budgets": {"max_tokens": 400}}))
    run, steps = assert_halted(cli, path, store_path, "max_tokens=400")
    llm = [s for s in steps if s.kind == "llm"]
    assert [(s.input_tokens, s.output_tokens) for s in llm] == [(100, 50)] * 3, (
        "halts once 450 > 400"
    )
    assert run.counters["input_tokens"] + run.counters["output_tokens"] == 450


def test_budget_max_cost_usd(cli, make_scenario, store_path: Path) -> None:
    turn = {"tool_calls": [GET], "cost_usd": 0.02}
    path = make_scenario("cost", scenario(loop(turn), {"budgets": {"max_cost_usd": 0.05}}))
    run, steps = assert_halted(cli, path, store_path, "max_cost_usd")
    llm = [s for s in steps if s.kind == "llm"]
    assert len(llm) == 3
    assert all(s.cost_usd == pytest.approx(0.02) for s in llm)
    assert run.counters["cost_usd"] == pytest.approx(0.06)


def test_budget_max_seconds(cli, make_scenario, store_path: Path, tmp_path: Path) -> None:
    module = f"slow_agent_{secrets.token_hex(4)}"
    (tmp_path / f"{module}.py").write_text(
        "import time\n\n"
        "def run(ctx):\n"
        "    ctx.call_tool('get_order', order_id='ord_5531')\n"
        "    time.sleep(0.8)\n"
        "    ctx.call_tool('get_order', order_id='ord_5120')\n"
        "    return 'finished'\n",
        encoding="utf-8",
    )
    path = make_scenario(
        "seconds",
        scenario(
            [{"say": "unused"}],
            {"budgets": {"max_seconds": 0.5}},
            agent={"type": "python", "entry": f"{module}:run"},
        ),
    )
    # the watcher ends the run during the sleep (issue 11: max_seconds holds during a step)
    run, steps = assert_halted(cli, path, store_path, "max_seconds=0.5", "timeout")
    assert [s.data["args"]["order_id"] for s in tools(steps)] == ["ord_5531"]
    assert run.output is None


def test_agent_max_steps_limits_model_turns(cli, make_scenario, store_path: Path) -> None:
    data = scenario(loop({"tool_calls": [GET]}))
    data["agent"]["max_steps"] = 2
    path = make_scenario("turns", data)
    _run, steps = assert_halted(cli, path, store_path, "agent.max_steps=2")
    assert len([s for s in steps if s.kind == "llm"]) == 2


def test_scenario_budgets_merge_with_config_budgets(cli, make_scenario, store_path: Path) -> None:
    """Scenario budgets override .agentbox.toml field by field; the config's max_steps stays."""
    config_steps = load_settings(ROOT).budgets.max_steps
    assert config_steps is not None, "the repo config sets a default max_steps"
    path = make_scenario(
        "layers",
        scenario(
            loop({"tool_calls": [GET]}, config_steps + 10),
            {"budgets": {"max_tool_calls": config_steps}},
        ),
    )
    run, _ = assert_halted(cli, path, store_path, f"max_steps={config_steps}")
    assert run.options["budgets"]["max_tool_calls"] == config_steps
    assert run.options["budgets"]["max_steps"] == config_steps


# ---- edit-and-approve through the library ------------------------------------------------
def plan_for(path: Path):
    return plan_run(path, load_settings(ROOT), RunOptions())


def test_edit_and_approve(make_scenario, store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    path = make_scenario(
        "edit", scenario([{"tool_calls": [BIG_REFUND]}, {"say": "done"}], {"rules": [BIG_RULE]})
    )
    seen: list[ApprovalRequest] = []

    def approver(req: ApprovalRequest) -> ApprovalDecision:
        seen.append(req)
        return ApprovalDecision(
            "approve", args={**req.args, "amount_usd": 180}, reason="partial", by="sam"
        )

    store = TraceStore(store_path)
    try:
        result = Runner(plan_for(path), store, approver=approver).run()
    finally:
        store.close()
    assert result.status == "completed"
    assert len(seen) == 1 and seen[0].args["amount_usd"] == 240
    assert seen[0].decision.rule == "big-refund"

    run, steps, approvals = load(store_path, result.run_id)
    (hold,) = [s for s in steps if s.kind == "approval"]
    assert hold.status == "edited"
    assert hold.data["edited_args"]["amount_usd"] == 180
    assert hold.data["decided_by"] == "sam"
    (refund,) = tools(steps, "create_refund")
    assert refund.status == "ok"
    assert refund.data["args"]["amount_usd"] == 180
    assert json.loads(refund.data["result"])["amount_usd"] == 180
    assert [r["amount_usd"] for r in refunds_created(steps)] == [180]
    (ap,) = approvals
    assert (
        ap.status == "approved"
        and ap.edited_args is not None
        and ap.edited_args["amount_usd"] == 180
    )
    assert ap.args["amount_usd"] == 240
    assert run.counters["approvals"] == 1


@pytest.mark.parametrize("bad", [{"amount_usd": "lots"}, {"urgent": True}])
def test_edited_args_failing_validation_are_denied(
    make_scenario, store_path: Path, bad: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    path = make_scenario(
        "edit-bad", scenario([{"tool_calls": [BIG_REFUND]}, {"say": "done"}], {"rules": [BIG_RULE]})
    )
    store = TraceStore(store_path)
    try:
        result = Runner(
            plan_for(path),
            store,
            approver=lambda req: ApprovalDecision("approve", args={**req.args, **bad}),
        ).run()
    finally:
        store.close()
    run, steps, approvals = load(store_path, result.run_id)
    (hold,) = [s for s in steps if s.kind == "approval"]
    assert hold.status == "denied"
    assert "edited arguments invalid" in hold.data["reason"]
    (refund,) = tools(steps, "create_refund")
    assert refund.status == "denied"
    assert refund.data["result"].startswith("Error: denied")
    assert refunds_created(steps) == []
    assert [a.status for a in approvals] == ["denied"]
    assert run.counters["denials"] == 1 and run.counters["approvals"] == 0


def test_edited_args_blocked_by_policy_are_denied(
    make_scenario, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    rules = [
        BIG_RULE,
        {"name": "ceiling", "tool": "create_refund", "when": "amount_usd > 1000", "tier": "red"},
    ]
    path = make_scenario(
        "edit-red", scenario([{"tool_calls": [BIG_REFUND]}, {"say": "done"}], {"rules": rules})
    )
    store = TraceStore(store_path)
    try:
        result = Runner(
            plan_for(path),
            store,
            approver=lambda req: ApprovalDecision("approve", args={**req.args, "amount_usd": 5000}),
        ).run()
    finally:
        store.close()
    _, steps, _ = load(store_path, result.run_id)
    (refund,) = tools(steps, "create_refund")
    assert refund.status == "denied"
    assert "ceiling" in refund.data["result"]
    assert refunds_created(steps) == []


# ---- approval handlers -----------------------------------------------------------------------
def test_approve_flag_overrides_scenario_handler(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "override",
        scenario(
            [{"tool_calls": [BIG_REFUND]}, {"say": "done"}], {"rules": [BIG_RULE]}, approvals="fail"
        ),
    )
    result = cli("run", path, "--approve")
    assert result.exit_code == 0, result.output
    _, steps, _ = load(store_path)
    assert tools(steps, "create_refund")[0].status == "ok"


def test_scenario_handler_deny_without_flags(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "scn-deny",
        scenario(
            [{"tool_calls": [BIG_REFUND]}, {"say": "done"}], {"rules": [BIG_RULE]}, approvals="deny"
        ),
    )
    assert cli("run", path).exit_code == 0
    _, steps, _ = load(store_path)
    assert tools(steps, "create_refund")[0].status == "denied"


def test_prompt_without_terminal_halts_with_advice(cli, make_scenario, store_path: Path) -> None:
    """The default handler asks on a terminal; with none (CI, pipes) the hold halts the run
    and says how to decide instead of hanging."""
    path = make_scenario(
        "prompt", scenario([{"tool_calls": [BIG_REFUND]}, {"say": "done"}], {"rules": [BIG_RULE]})
    )
    result = cli("run", path, input="")
    assert result.exit_code == 1, result.output
    run, steps, _ = load(store_path)
    assert run.status == "halted"
    assert "--approve" in (run.reason or "")
    assert tools(steps, "create_refund") == []
