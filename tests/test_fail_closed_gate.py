"""The gate fails closed (issue 11): non-finite numbers never reach a tool, a rule that
cannot be evaluated fires, anything user code raises fails the run (never the process),
and a circuit breaker halts runs that keep failing or keep getting blocked.

Each test builds a small project (a ``vault`` sandbox whose ``pay`` accepts any float, so
only the gate stands between a NaN and the write) and drives it through the CLI.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from agentbox.cli import app
from agentbox.store import StepRow, TraceStore

TOOLS = '''
import sys
from typing import Any
from agentbox import State, ToolError, tool


@tool(effect="write")
def pay(state: State, account_id: str, amount_usd: float) -> dict:
    """Pay out money (no checks of its own: the policy is the only guard).

    Args:
        account_id: Account id.
        amount_usd: Amount in USD.
    """
    n = state.count("payments") + 1
    state.put("payments", f"p{n}", {"account_id": account_id, "amount_usd": amount_usd})
    return {"id": f"p{n}"}


@tool(effect="write")
def wire(state: State, details: Any) -> dict:
    """Send a wire described by free-form details.

    Args:
        details: Anything.
    """
    n = state.count("payments") + 1
    state.put("payments", f"w{n}", {"details": details})
    return {"id": f"w{n}"}


@tool
def explode(state: State, how: str) -> str:
    """Fail in a chosen way.

    Args:
        how: exit, interrupt, base, error, crash or ok.
    """
    if how == "exit":
        sys.exit(0)
    if how == "interrupt":
        raise KeyboardInterrupt
    if how == "base":
        raise BaseException("a custom BaseException")
    if how == "error":
        raise ToolError("this did not work")
    if how == "crash":
        raise RuntimeError("bug in the tool")
    return "fine"
'''


def write_project(root: Path) -> Path:
    box = root / "sandboxes" / "vault"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS, encoding="utf-8")
    (box / "seed" / "payments.json").write_text("{}", encoding="utf-8")
    (root / ".agentbox.toml").write_text('store = "traces.db"\n', encoding="utf-8")
    return root


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(write_project(tmp_path))
    return tmp_path


def agentbox(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def scenario(project: Path, name: str, body: dict[str, Any] | str) -> Path:
    path = project / f"{name}.yaml"
    text = body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def scripted(*turns: dict[str, Any], policy: dict[str, Any] | None = None, **extra: Any) -> dict:
    data: dict[str, Any] = {
        "name": "gate",
        "sandbox": "vault",
        "agent": {"type": "scripted"},
        "input": "go",
        "script": list(turns),
    }
    if policy is not None:
        data["policy"] = policy
    data.update(extra)
    return data


def python_agent(project: Path, code: str) -> str:
    module = f"gate_agent_{secrets.token_hex(4)}"
    (project / f"{module}.py").write_text(code, encoding="utf-8")
    return f"{module}:run"


def last_run(project: Path) -> tuple[Any, list[StepRow]]:
    store = TraceStore(project / "traces.db")
    try:
        run = store.list_runs(limit=1)[0]
        return run, store.steps(run.id)
    finally:
        store.close()


def payments(steps: list[StepRow]) -> list[Any]:
    return [op for s in steps for op in (s.patch or []) if op["path"].startswith("/payments/")]


RED_OVER_500 = {
    "rules": [{"name": "cap", "tool": "pay", "when": "amount_usd > 500", "tier": "red"}]
}


# ---- item 3: non-finite numbers ----------------------------------------------------------
def assert_refused(project: Path, tool: str = "pay") -> StepRow:
    _run, steps = last_run(project)
    calls = [s for s in steps if s.kind == "tool" and s.name == tool]
    assert [s.status for s in calls] == ["invalid"], [(s.status, s.data) for s in calls]
    assert "finite number" in calls[0].data["result"]
    assert not payments(steps), "the write must not execute"
    json.dumps(calls[0].data, allow_nan=False)  # the trace holds no bare NaN
    return calls[0]


def test_yaml_nan_is_refused_under_a_red_rule(project: Path) -> None:
    path = scenario(
        project,
        "nan",
        "name: nan\nsandbox: vault\nagent: {type: scripted}\ninput: go\n"
        "script:\n  - tool_calls: [{pay: {account_id: a1, amount_usd: .nan}}]\n  - say: done\n"
        "policy:\n  rules: [{name: cap, tool: pay, when: 'amount_usd > 500', tier: red}]\n",
    )
    agentbox("run", path, "-q")
    step = assert_refused(project)
    assert step.data["args"]["amount_usd"] == "nan"


@pytest.mark.parametrize("text", ["NaN", "inf", "-Infinity"])
def test_scripted_string_nan_is_refused(project: Path, text: str) -> None:
    call = {"pay": {"account_id": "a1", "amount_usd": text}}
    path = scenario(
        project, "s", scripted({"tool_calls": [call]}, {"say": "x"}, policy=RED_OVER_500)
    )
    agentbox("run", path, "-q")
    assert_refused(project)


def test_nan_nested_in_an_untyped_argument_is_refused(project: Path) -> None:
    entry = python_agent(
        project,
        "def run(ctx):\n"
        "    r = ctx.call_tool('wire', details={'amounts': [1.0, float('inf')]})\n"
        "    return r.status\n",
    )
    path = scenario(project, "p", scripted(agent={"type": "python", "entry": entry}))
    agentbox("run", path, "-q")
    step = assert_refused(project, "wire")
    assert "details.amounts.1" in step.data["result"]


def test_python_agent_nan_is_refused(project: Path) -> None:
    entry = python_agent(
        project,
        "def run(ctx):\n"
        "    r = ctx.call_tool('pay', account_id='a1', amount_usd=float('nan'))\n"
        "    return r.status + ': ' + r.content\n",
    )
    path = scenario(
        project, "p", scripted(agent={"type": "python", "entry": entry}, policy=RED_OVER_500)
    )
    agentbox("run", path, "-q")
    assert_refused(project)
    run, _ = last_run(project)
    assert run.status == "completed" and run.output.startswith("invalid: ")


def test_approve_edit_to_nan_is_refused(project: Path) -> None:
    hold = {"rules": [{"name": "big", "tool": "pay", "when": "amount_usd > 100", "tier": "yellow"}]}
    call = {"pay": {"account_id": "a1", "amount_usd": 300}}
    path = scenario(project, "h", scripted({"tool_calls": [call]}, {"say": "x"}, policy=hold))
    parked = agentbox("run", path, "--detach", "-q")
    assert parked.exit_code == 0, parked.output
    store = TraceStore(project / "traces.db")
    try:
        (approval,) = store.approvals(status="pending")
    finally:
        store.close()
    edited = agentbox("approve", approval.id, "--edit", "amount_usd=NaN")
    assert edited.exit_code == 2
    assert "finite number" in edited.output
    store = TraceStore(project / "traces.db")
    try:
        assert store.get_approval(approval.id).status == "pending"
    finally:
        store.close()


def test_library_approver_edit_to_nan_is_denied(project: Path) -> None:
    import agentbox as api
    from agentbox.approvals import ApprovalDecision

    hold = {"rules": [{"name": "big", "tool": "pay", "when": "amount_usd > 100", "tier": "yellow"}]}
    call = {"pay": {"account_id": "a1", "amount_usd": 300}}
    path = scenario(project, "h", scripted({"tool_calls": [call]}, {"say": "x"}, policy=hold))
    result = api.run(
        path,
        root=project,
        approver=lambda req: ApprovalDecision("approve", args={**req.args, "amount_usd": "NaN"}),
    )
    with api.open_store(project / "traces.db") as store:
        steps = store.steps(result.run_id)
    (tool,) = [s for s in steps if s.kind == "tool"]
    assert tool.status == "denied" and "finite number" in tool.data["result"]
    assert not payments(steps)


# ---- item 4: a rule that cannot be evaluated fires ----------------------------------------
@pytest.mark.parametrize(
    ("when", "args", "error"),
    [
        ("1000 / amount_usd > 5", {"account_id": "a1", "amount_usd": 0}, "ZeroDivisionError"),
        ("[1, 2][len(account_id)] > 0", {"account_id": "abcdef", "amount_usd": 1}, "IndexError"),
        ("10.0 ** amount_usd > 1", {"account_id": "a1", "amount_usd": 400}, "OverflowError"),
        ("{'a': 1}[account_id] > 0", {"account_id": "zz", "amount_usd": 1}, "KeyError"),
        ("account_id > 5", {"account_id": "a1", "amount_usd": 1}, "TypeError"),
        ("len(account_id * 100000) > 0", {"account_id": "a1", "amount_usd": 1}, "IterableTooLong"),
        (
            "any(any(x == y for x in account_id) for y in account_id)",
            {"account_id": "x" * 300, "amount_usd": 1},
            "EvaluationTooLong",
        ),
    ],
)
def test_rule_error_fires_and_is_recorded(
    project: Path, when: str, args: dict[str, Any], error: str
) -> None:
    rules = {"rules": [{"name": "odd", "tool": "pay", "when": when, "tier": "red"}]}
    path = scenario(
        project, "r", scripted({"tool_calls": [{"pay": args}]}, {"say": "ok"}, policy=rules)
    )
    agentbox("run", path, "-q")
    run, steps = last_run(project)
    assert run.status == "completed", run.reason
    (pay,) = [s for s in steps if s.kind == "tool"]
    assert pay.status == "blocked"
    assert pay.data["decision"]["reason"].startswith(f"rule odd could not be evaluated: {error}")
    assert not payments(steps)


def test_rule_error_holds_through_the_approval_path(project: Path) -> None:
    rules = {
        "rules": [
            {
                "name": "ratio",
                "tool": "pay",
                "when": "1000 / amount_usd > 5",
                "reason": "supervisor needed",
            }
        ]
    }
    call = {"pay": {"account_id": "a1", "amount_usd": 0}}
    path = scenario(project, "y", scripted({"tool_calls": [call]}, {"say": "ok"}, policy=rules))
    agentbox("run", path, "-q", "--deny")
    _run, steps = last_run(project)
    (approval,) = [s for s in steps if s.kind == "approval"]
    assert "ZeroDivisionError" in approval.data["decision"]["reason"]
    assert [s.status for s in steps if s.kind == "tool"] == ["denied"]


def test_rule_error_in_a_python_agent_is_a_recorded_block(project: Path) -> None:
    """The error used to escape into the agent, which could swallow it: no step at all."""
    entry = python_agent(
        project,
        "def run(ctx):\n"
        "    try:\n"
        "        r = ctx.call_tool('pay', account_id='a1', amount_usd=0)\n"
        "    except Exception as exc:\n"
        "        return 'swallowed ' + type(exc).__name__\n"
        "    return r.status\n",
    )
    rules = {
        "rules": [{"name": "ratio", "tool": "pay", "when": "1000 / amount_usd > 5", "tier": "red"}]
    }
    path = scenario(project, "p", scripted(agent={"type": "python", "entry": entry}, policy=rules))
    agentbox("run", path, "-q")
    run, steps = last_run(project)
    assert run.output == "blocked"
    assert [s.status for s in steps if s.kind == "tool"] == ["blocked"]


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("-" * 60 + "amount_usd > 0", "invalid expression: nested deeper than 32 levels"),
        ("amount_usd > 0 or " * 120 + "True", "String should have at most 2000 characters"),
        ("(" * 300 + "1" + ")" * 300, "invalid expression"),
    ],
)
def test_too_deep_or_long_expression_is_a_load_error(
    project: Path, when: str, message: str
) -> None:
    rules = {"rules": [{"name": "deep", "tool": "pay", "when": when}]}
    path = scenario(project, "d", scripted({"say": "ok"}, policy=rules))
    result = agentbox("run", path, "-q")
    assert result.exit_code == 2
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "when:" in text)
    assert f"{path}:{line}: policy.rules[0].when: {message}" in result.output
    assert not (project / "traces.db").exists()


# ---- item 2: whatever user code raises fails the run, never the process ------------------
HTTP_MOCKS = '''
import sys
from agentbox.http import http_mock


@http_mock("POST", "https://bank.test/exit")
def leave(state, request):
    """Exit the process (hostile)."""
    sys.exit(3)
'''


def assert_failed_by(project: Path, error: str, reason_part: str) -> list[StepRow]:
    run, steps = last_run(project)
    assert run.status == "failed", (run.status, run.reason)
    assert run.ended_at is not None
    assert reason_part in (run.reason or ""), run.reason
    errors = [s for s in steps if s.kind == "error"]
    assert [s.name for s in errors] == [error]
    assert steps[-1].kind == "final" and steps[-1].status == "failed"
    return steps


@pytest.mark.parametrize(
    ("code", "error", "reason_part"),
    [
        ("import sys\n\ndef run(ctx):\n    sys.exit(0)\n", "SystemExit", "SystemExit: 0"),
        ("def run(ctx):\n    raise KeyboardInterrupt\n", "KeyboardInterrupt", "KeyboardInterrupt"),
        ("def run(ctx):\n    raise BaseException('odd')\n", "BaseException", "BaseException: odd"),
        (
            "async def run(ctx):\n    raise SystemExit('bye')\n",
            "SystemExit",
            "SystemExit: bye",
        ),
        ("import sys\nsys.exit(5)\n\ndef run(ctx):\n    return 1\n", "SystemExit", "SystemExit: 5"),
    ],
)
def test_agent_base_exception_fails_the_run(
    project: Path, code: str, error: str, reason_part: str
) -> None:
    entry = python_agent(project, code)
    path = scenario(project, "p", scripted(agent={"type": "python", "entry": entry}))
    result = agentbox("run", path, "-q")
    assert result.exit_code == 1, result.output
    assert_failed_by(project, error, reason_part)


@pytest.mark.parametrize(
    ("how", "error"),
    [("exit", "SystemExit"), ("interrupt", "KeyboardInterrupt"), ("base", "BaseException")],
)
def test_tool_base_exception_fails_the_run(project: Path, how: str, error: str) -> None:
    call = {"explode": {"how": how}}
    path = scenario(project, "t", scripted({"tool_calls": [call]}, {"say": "survived"}))
    result = agentbox("run", path, "-q")
    assert result.exit_code == 1, result.output
    steps = assert_failed_by(project, error, "raised by tool explode")
    (tool,) = [s for s in steps if s.kind == "tool"]
    assert tool.status == "crashed" and error in tool.data["result"]
    assert not [s for s in steps if s.kind == "llm" and s.idx > tool.idx]


def test_an_agent_swallowing_a_fatal_tool_error_cannot_go_on(project: Path) -> None:
    entry = python_agent(
        project,
        "def run(ctx):\n"
        "    for call in (('explode', {'how': 'exit'}), ('pay', {'account_id': 'a', 'amount_usd': 5})):\n"
        "        try:\n"
        "            ctx.call_tool(call[0], call[1])\n"
        "        except BaseException:\n"
        "            pass\n"
        "    return 'carried on'\n",
    )
    path = scenario(project, "p", scripted(agent={"type": "python", "entry": entry}))
    agentbox("run", path, "-q")
    steps = assert_failed_by(project, "SystemExit", "raised by tool explode")
    assert [s.name for s in steps if s.kind == "tool"] == ["explode"]
    assert not payments(steps)


def test_http_mock_handler_exit_fails_the_run(project: Path) -> None:
    (project / "sandboxes" / "vault" / "http_mocks.py").write_text(HTTP_MOCKS, encoding="utf-8")
    entry = python_agent(
        project,
        "import httpx\n\ndef run(ctx):\n    return httpx.post('https://bank.test/exit').text\n",
    )
    path = scenario(project, "p", scripted(agent={"type": "python", "entry": entry}))
    agentbox("run", path, "-q")
    steps = assert_failed_by(project, "SystemExit", "SystemExit: 3")
    assert [s.status for s in steps if s.kind == "tool"] == ["crashed"]


def test_suite_counts_exiting_cases_and_writes_junit(project: Path) -> None:
    suite = project / "suite"
    suite.mkdir()
    exits = python_agent(project, "import sys\n\ndef run(ctx):\n    sys.exit(0)\n")
    cases = {
        "a_exit": scripted(agent={"type": "python", "entry": exits}),
        "b_tool": scripted({"tool_calls": [{"explode": {"how": "interrupt"}}]}, {"say": "x"}),
        "c_clean": scripted({"tool_calls": [{"explode": {"how": "ok"}}]}, {"say": "fine"}),
    }
    boom = project / "sandboxes" / "boom"
    (boom / "seed").mkdir(parents=True)
    (boom / "tools.py").write_text("import sys\nsys.exit(7)\n", encoding="utf-8")
    cases["d_import"] = {**scripted({"say": "x"}), "sandbox": "boom"}
    for name, body in cases.items():
        (suite / f"{name}.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
    junit = project / "out" / "junit.xml"
    result = agentbox("test", suite, "--junit", junit)
    assert result.exit_code == 2, result.output  # d_import's sandbox cannot load: bad input
    assert "3 failed" in result.output, result.output
    assert "SystemExit: 7" in result.output
    xml = junit.read_text()
    assert xml.count("<testcase") == 4 and xml.count("<failure") + xml.count("<error") == 3
    store = TraceStore(project / "traces.db")
    try:
        assert sorted(r.status for r in store.list_runs(limit=None)) == [
            "completed",
            "failed",
            "failed",
        ]
    finally:
        store.close()


def test_a_judge_that_exits_fails_its_expectation(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import agentbox as api

    def exiting_judge(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit(4)

    judge_module = importlib.import_module("agentbox.llm_judge")
    monkeypatch.setattr(judge_module, "judge", exiting_judge)
    body = scripted({"say": "done"}, expect={"llm_judge": [{"rubric": "says done"}]})
    path = scenario(project, "j", body)
    result = api.run(path, root=project)
    with api.open_store(project / "traces.db") as store:
        run = store.run(result.run_id)
    assert run.status == "completed" and run.passed == 0
    (judged,) = [e for e in run.expectations if e["name"].startswith("llm_judge")]
    assert "the judge raised SystemExit: 4" in judged["detail"]


# ---- item 11: the circuit breaker ---------------------------------------------------------
def breaker_run(project: Path, calls: list[dict[str, Any]], breaker: dict[str, int], **policy: Any):
    turns = [{"tool_calls": [call]} for call in calls] + [{"say": "gave up"}]
    path = scenario(project, "b", scripted(*turns, policy={"circuit_breaker": breaker, **policy}))
    result = agentbox("run", path, "-q")
    run, steps = last_run(project)
    return result, run, steps


BAD = {"pay": {"account_id": "a1"}}  # amount_usd missing: invalid
ERROR = {"explode": {"how": "error"}}
CRASH = {"explode": {"how": "crash"}}
OK = {"explode": {"how": "ok"}}


def test_breaker_halts_after_consecutive_tool_errors(project: Path) -> None:
    result, run, steps = breaker_run(
        project, [BAD, ERROR, CRASH, ERROR, ERROR], {"max_consecutive_tool_errors": 3}
    )
    assert result.exit_code == 1
    assert run.status == "halted"
    assert run.reason.startswith("circuit breaker: 3 tool calls in a row failed")
    assert "max_consecutive_tool_errors=3" in run.reason and "explode crashed" in run.reason
    assert [s.status for s in steps if s.kind == "tool"] == ["invalid", "error", "crashed"]
    (policy,) = [s for s in steps if s.kind == "policy"]
    assert (policy.name, policy.status, policy.data["reason"]) == (
        "circuit_breaker",
        "halted",
        run.reason,
    )


def test_breaker_count_restarts_after_a_call_that_runs(project: Path) -> None:
    _result, run, steps = breaker_run(
        project, [ERROR, ERROR, OK, ERROR, ERROR], {"max_consecutive_tool_errors": 3}
    )
    assert run.status == "completed", run.reason
    assert len([s for s in steps if s.kind == "tool"]) == 5


def test_breaker_halts_after_blocked_calls(project: Path) -> None:
    big = {"pay": {"account_id": "a1", "amount_usd": 900}}
    _result, run, steps = breaker_run(
        project, [big, OK, big, big], {"max_blocked_calls": 2}, **RED_OVER_500
    )
    assert run.status == "halted"
    assert "2 calls were blocked by the policy (policy.circuit_breaker.max_blocked_calls=2)" in (
        run.reason
    )
    assert [s.status for s in steps if s.kind == "tool"] == ["blocked", "ok", "blocked"]
    assert not payments(steps)


def test_breaker_cannot_be_swallowed_by_a_python_agent(project: Path) -> None:
    entry = python_agent(
        project,
        "def run(ctx):\n"
        "    for _ in range(10):\n"
        "        try:\n"
        "            ctx.call_tool('explode', how='error')\n"
        "        except BaseException:\n"
        "            pass\n"
        "    return 'kept going'\n",
    )
    path = scenario(
        project,
        "p",
        scripted(
            agent={"type": "python", "entry": entry},
            policy={"circuit_breaker": {"max_consecutive_tool_errors": 2}},
        ),
    )
    agentbox("run", path, "-q")
    run, steps = last_run(project)
    assert run.status == "halted" and run.reason.startswith("circuit breaker: 2 tool calls")
    assert len([s for s in steps if s.kind == "tool"]) == 2
