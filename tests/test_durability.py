"""Runs that wait and survive: approvals across processes, SIGKILL, concurrent writers.

Every test here uses real subprocesses running the `agentbox` CLI.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from procs import agentbox, pending_approval, start, wait_for
from procs import project as bank_project

from agentbox.checkpoints import state_at
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent


def project(tmp_path: Path, approvals: str = "wait") -> Path:
    """The shared bank project (tests/procs.py), expecting one payment of 300."""
    return bank_project(tmp_path, approvals, expect=True)


def final_state(cwd: Path, run_id: str) -> tuple[float, int]:
    store = TraceStore(cwd / "traces.db")
    try:
        run = store.get_run(run_id)
        state = state_at(store, run, store.steps(run.id)[-1].idx)
        return state.get("accounts", "acc_1")["balance"], state.count("payments")
    finally:
        store.close()


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_held_run_is_released_by_a_decision_from_another_process(
    tmp_path: Path, decision: str, open_store: Any
) -> None:
    cwd = project(tmp_path)
    waiting = start(cwd, "run", "payout.yaml", "-q")
    approval = wait_for(lambda: pending_approval(cwd / "traces.db"))
    run = open_store(cwd / "traces.db").list_runs(limit=1)[0]
    assert run.status == "awaiting_approval" and run.live
    decided = agentbox(cwd, decision, approval, "--reason", "checked", "--by", "maria")
    assert decided.returncode == 0, decided.stderr
    out, err = waiting.communicate(timeout=30)
    run = open_store(cwd / "traces.db").get_run(run.id)
    assert run.status == "completed"
    balance, payments = final_state(cwd, run.id)
    if decision == "approve":
        assert waiting.returncode == 0, out + err
        assert (balance, payments) == (700, 1)
    else:
        assert waiting.returncode == 1  # the scenario expects the payment
        assert (balance, payments) == (1000, 0)
    hold = [s for s in open_store(cwd / "traces.db").steps(run.id) if s.kind == "approval"][0]
    assert hold.data["decided_by"] == "maria" and hold.data["reason"] == "checked"


def test_sigkill_while_waiting_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, open_store: Any
) -> None:
    reference = project(tmp_path / "ref", approvals="approve")
    ok = agentbox(reference, "run", "payout.yaml", "-q")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ref_run = open_store(reference / "traces.db").list_runs(limit=1)[0]

    cwd = project(tmp_path / "killed")
    proc = start(cwd, "run", "payout.yaml", "-q")
    approval = wait_for(lambda: pending_approval(cwd / "traces.db"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    run = open_store(cwd / "traces.db").list_runs(limit=1)[0]
    assert run.status == "awaiting_approval" and not run.live  # parked by the kill
    assert agentbox(cwd, "approve", approval, "--by", "ops").returncode == 0
    resumed = agentbox(cwd, "resume", run.id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert final_state(cwd, run.id) == final_state(reference, ref_run.id) == (700, 1)
    kinds = [(s.kind, s.name, s.status) for s in open_store(cwd / "traces.db").steps(run.id)]
    ref_kinds = [
        (s.kind, s.name, s.status) for s in open_store(reference / "traces.db").steps(ref_run.id)
    ]
    assert kinds == ref_kinds


def test_sigkill_mid_write_is_reported_and_retried_once(tmp_path: Path, open_store: Any) -> None:
    cwd = project(tmp_path, approvals="approve")
    marker = tmp_path / "pay-started"
    proc = start(cwd, "run", "payout.yaml", "-q", env={"SLOW_PAY": str(marker)})
    wait_for(marker.exists)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    store = open_store(cwd / "traces.db")
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
        for s in open_store(cwd / "traces.db").steps(run.id)
        if s.kind == "tool" and s.name == "pay"
    ]
    assert [s.status for s in pays] == ["ok"]


def test_skip_an_incomplete_write_tells_the_agent(tmp_path: Path, open_store: Any) -> None:
    cwd = project(tmp_path, approvals="approve")
    marker = tmp_path / "pay-started"
    proc = start(cwd, "run", "payout.yaml", "-q", env={"SLOW_PAY": str(marker)})
    wait_for(marker.exists)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    run = open_store(cwd / "traces.db").list_runs(limit=1)[0]
    resumed = agentbox(cwd, "resume", run.id, "--incomplete", "skip")
    assert resumed.returncode == 1  # the expected payment never happened
    pay = [
        s
        for s in open_store(cwd / "traces.db").steps(run.id)
        if s.kind == "tool" and s.name == "pay"
    ][0]
    assert pay.status == "abandoned" and "unknown" in pay.data["result"]
    assert final_state(cwd, run.id) == (1000, 0)


def test_approval_timeout_denies(tmp_path: Path, open_store: Callable[..., TraceStore]) -> None:
    cwd = project(tmp_path, approvals="{handler: wait, timeout_s: 0.3, on_timeout: deny}")
    done = agentbox(cwd, "run", "payout.yaml", "-q")
    assert done.returncode == 1
    store = open_store(cwd / "traces.db")
    hold = [s for s in store.steps(store.list_runs(limit=1)[0].id) if s.kind == "approval"][0]
    assert hold.status == "denied" and hold.data["decided_by"] == "timeout"


def test_two_runs_write_one_store_concurrently(
    tmp_path: Path, open_store: Callable[..., TraceStore]
) -> None:
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
    store = open_store(tmp_path / "t.db")
    runs = store.list_runs()
    assert len(runs) == 4 and all(r.finished for r in runs)
    for r in runs:
        assert store.step_count(r.id) == r.counters["steps"]
