"""Runs that wait and survive: approvals across processes, SIGKILL, concurrent writers.

Every test here uses real subprocesses running the `agentbox` CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from agentbox.cli import main; main()"]

TOOLS = '''
import os, time
from agentbox import State, ToolError, tool


@tool
def get_account(state: State, account_id: str) -> dict:
    """Read an account.

    Args:
        account_id: Account id.
    """
    return state.get("accounts", account_id)


@tool(effect="write")
def pay(state: State, account_id: str, amount_usd: float, idempotency_key: str) -> dict:
    """Pay out money (slow when SLOW_PAY names a marker file).

    Args:
        account_id: Account id.
        amount_usd: Amount in USD.
        idempotency_key: Same key, same payment.
    """
    for p in state.values("payments"):
        if p["key"] == idempotency_key:
            return p
    marker = os.environ.get("SLOW_PAY")
    if marker:
        open(marker, "w").write("started")
        time.sleep(60)
    with state.edit("accounts", account_id) as acct:
        acct["balance"] -= amount_usd
    n = state.count("payments") + 1
    payment = {"id": f"p{n}", "key": idempotency_key, "amount_usd": amount_usd}
    state.put("payments", payment["id"], payment)
    return payment
'''

SCENARIO = """
name: payout
sandbox: bank
input: pay 300 to acc_1
agent: {type: scripted}
script:
  - tool_calls: [{get_account: {account_id: acc_1}}]
  - tool_calls: [{pay: {account_id: acc_1, amount_usd: 300, idempotency_key: k-1}}]
  - tool_calls: [{get_account: {account_id: acc_1}}]
  - say: paid
policy:
  rules:
    - {name: big-payout, tool: pay, when: "amount_usd > 100", tier: yellow}
approvals: APPROVALS
expect:
  status: completed
  state:
    - {path: accounts.acc_1.balance, equals: 700}
    - {path: payments.p1.amount_usd, equals: 300}
"""


def project(tmp_path: Path, approvals: str = "wait") -> Path:
    box = tmp_path / "sandboxes" / "bank"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    (box / "seed" / "accounts.json").write_text('{"acc_1": {"balance": 1000}}')
    (box / "seed" / "payments.json").write_text("{}")
    (tmp_path / ".agentbox.toml").write_text('store = "traces.db"\n')
    (tmp_path / "payout.yaml").write_text(SCENARIO.replace("APPROVALS", approvals))
    return tmp_path


def agentbox(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _reap_processes():  # type: ignore[no-untyped-def]
    """A failed test must not leave a run (and its pipes) behind for later tests."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def start(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    proc = _popen(cwd, args, env)
    _STARTED.append(proc)
    return proc


def _popen(cwd: Path, args: tuple[str, ...], env: dict[str, str] | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(predicate, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def pending_approval(store_file: Path) -> str | None:
    if not store_file.exists():
        return None
    rows = TraceStore(store_file).approvals(status="pending")
    return rows[0].id if rows else None


def final_state(cwd: Path, run_id: str) -> tuple[float, int]:
    store = TraceStore(cwd / "traces.db")
    run = store.get_run(run_id)
    from agentbox.checkpoints import state_at

    steps = store.steps(run.id)
    state = state_at(store, run, steps[-1].idx)
    return state.get("accounts", "acc_1")["balance"], state.count("payments")


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_held_run_is_released_by_a_decision_from_another_process(
    tmp_path: Path, decision: str
) -> None:
    cwd = project(tmp_path)
    waiting = start(cwd, "run", "payout.yaml", "-q")
    approval = wait_for(lambda: pending_approval(cwd / "traces.db"))
    run = TraceStore(cwd / "traces.db").list_runs(limit=1)[0]
    assert run.status == "awaiting_approval" and run.live
    decided = agentbox(cwd, decision, approval, "--reason", "checked", "--by", "maria")
    assert decided.returncode == 0, decided.stderr
    out, err = waiting.communicate(timeout=30)
    run = TraceStore(cwd / "traces.db").get_run(run.id)
    assert run.status == "completed"
    balance, payments = final_state(cwd, run.id)
    if decision == "approve":
        assert waiting.returncode == 0, out + err
        assert (balance, payments) == (700, 1)
    else:
        assert waiting.returncode == 1  # the scenario expects the payment
        assert (balance, payments) == (1000, 0)
    hold = [s for s in TraceStore(cwd / "traces.db").steps(run.id) if s.kind == "approval"][0]
    assert hold.data["decided_by"] == "maria" and hold.data["reason"] == "checked"


def test_sigkill_while_waiting_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    reference = project(tmp_path / "ref", approvals="approve")
    ok = agentbox(reference, "run", "payout.yaml", "-q")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ref_run = TraceStore(reference / "traces.db").list_runs(limit=1)[0]

    cwd = project(tmp_path / "killed")
    proc = start(cwd, "run", "payout.yaml", "-q")
    approval = wait_for(lambda: pending_approval(cwd / "traces.db"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    run = TraceStore(cwd / "traces.db").list_runs(limit=1)[0]
    assert run.status == "awaiting_approval" and not run.live  # parked by the kill
    assert agentbox(cwd, "approve", approval, "--by", "ops").returncode == 0
    resumed = agentbox(cwd, "resume", run.id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert final_state(cwd, run.id) == final_state(reference, ref_run.id) == (700, 1)
    kinds = [(s.kind, s.name, s.status) for s in TraceStore(cwd / "traces.db").steps(run.id)]
    ref_kinds = [
        (s.kind, s.name, s.status) for s in TraceStore(reference / "traces.db").steps(ref_run.id)
    ]
    assert kinds == ref_kinds


def test_sigkill_mid_write_is_reported_and_retried_once(tmp_path: Path) -> None:
    cwd = project(tmp_path, approvals="approve")
    marker = tmp_path / "pay-started"
    proc = start(cwd, "run", "payout.yaml", "-q", env={"SLOW_PAY": str(marker)})
    wait_for(marker.exists)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    store = TraceStore(cwd / "traces.db")
    run = store.list_runs(limit=1)[0]
    assert run.display_status == "not finished"
    intent = [s for s in store.steps(run.id) if s.kind == "tool" and s.name == "pay"]
    assert [s.status for s in intent] == ["pending"]  # the intent was committed, no result
    refused = agentbox(cwd, "resume", run.id)
    assert refused.returncode == 2
    assert "never recorded" in refused.stderr and "--incomplete" in refused.stderr
    resumed = agentbox(cwd, "resume", run.id, "--incomplete", "retry")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert final_state(cwd, run.id) == (700, 1)
    pays = [
        s
        for s in TraceStore(cwd / "traces.db").steps(run.id)
        if s.kind == "tool" and s.name == "pay"
    ]
    assert [s.status for s in pays] == ["ok"]


def test_skip_an_incomplete_write_tells_the_agent(tmp_path: Path) -> None:
    cwd = project(tmp_path, approvals="approve")
    marker = tmp_path / "pay-started"
    proc = start(cwd, "run", "payout.yaml", "-q", env={"SLOW_PAY": str(marker)})
    wait_for(marker.exists)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    run = TraceStore(cwd / "traces.db").list_runs(limit=1)[0]
    resumed = agentbox(cwd, "resume", run.id, "--incomplete", "skip")
    assert resumed.returncode == 1  # the expected payment never happened
    pay = [
        s
        for s in TraceStore(cwd / "traces.db").steps(run.id)
        if s.kind == "tool" and s.name == "pay"
    ][0]
    assert pay.status == "abandoned" and "unknown" in pay.data["result"]
    assert final_state(cwd, run.id) == (1000, 0)


def test_approval_timeout_denies(tmp_path: Path) -> None:
    cwd = project(tmp_path, approvals="{handler: wait, timeout_s: 0.3, on_timeout: deny}")
    done = agentbox(cwd, "run", "payout.yaml", "-q")
    assert done.returncode == 1
    store = TraceStore(cwd / "traces.db")
    hold = [s for s in store.steps(store.list_runs(limit=1)[0].id) if s.kind == "approval"][0]
    assert hold.status == "denied" and hold.data["decided_by"] == "timeout"


def test_two_runs_write_one_store_concurrently(tmp_path: Path) -> None:
    procs = [
        start(ROOT, "run", "scenarios/runaway-loop.yaml", "-q", "--store", str(tmp_path / "t.db"))
        for _ in range(2)
    ]
    procs += [
        start(ROOT, "run", "scenarios/refund-clean.yaml", "-q", "--store", str(tmp_path / "t.db"))
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, out + err
    store = TraceStore(tmp_path / "t.db")
    runs = store.list_runs()
    assert len(runs) == 4 and all(r.finished for r in runs)
    for r in runs:
        assert store.step_count(r.id) == r.counters["steps"]
