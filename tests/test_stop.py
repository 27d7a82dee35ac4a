"""The kill switch: `agentbox stop` from another process, and approvals closed with a run.

Every run here executes in a real subprocess; `stop` runs in another one.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from procs import agentbox, pay_count, pending_approval, project, start, wait_for
from typer.testing import CliRunner

from agentbox.cli import app
from agentbox.store import TraceStore


def who() -> str:
    """Who ``agentbox stop`` records as stopping a run: ``login@host``."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def cli(cwd: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """In-process CLI (faster) for the steps that need no second process."""
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def latest_run(cwd: Path) -> str | None:
    if not (cwd / "traces.db").exists():
        return None
    store = TraceStore(cwd / "traces.db")
    try:
        runs = store.list_runs(limit=1)
    finally:
        store.close()
    return runs[0].id if runs else None


def test_stop_halts_a_running_agent_at_its_next_step(tmp_path: Path, open_store: Any) -> None:
    cwd = project(tmp_path)
    log = tmp_path / "pay.log"
    env = {"PAY_LOG": str(log), "STEPS": "400", "STEP_SLEEP": "0.05"}
    proc = start(cwd, "run", "slow.yaml", "-q", env=env)
    wait_for(lambda: pay_count(log) >= 3)
    run_id = latest_run(cwd)
    assert run_id is not None
    stopped = agentbox(cwd, "stop", run_id, "--reason", "runaway loop")
    assert stopped.returncode == 0, stopped.stderr
    # usually the live process halts it later; on a busy machine it may already have
    assert "asked run" in stopped.stdout or f"stopped run {run_id}" in stopped.stdout
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, out + err  # a stopped run did not complete
    assert "Traceback" not in err
    store = open_store(cwd / "traces.db")
    run = store.get_run(run_id)
    assert run.status == "stopped"
    assert run.reason == f"stopped by {who()}: runaway loop"
    request = store.stop_request(run_id)
    assert request is not None
    assert (request.requested_by, request.reason) == (who(), "runaway loop")
    steps = store.steps(run_id)
    assert [(s.kind, s.status) for s in steps[-2:]] == [("policy", "stopped"), ("final", "stopped")]
    # seen at a step boundary, recorded as Runner.interrupt records a stop
    assert (steps[-2].name, steps[-2].data["cause"]) == ("stopped", "interrupt")
    pays = [s for s in steps if s.kind == "tool" and s.name == "pay"]
    assert all(s.status == "ok" for s in pays)
    assert pay_count(log) == len(pays) < 400  # every execution is in the trace; none after
    assert run.counters["tool_calls"] == len(pays)
    assert run.counters["steps"] == len(steps)  # the stop and final steps are counted


def test_stop_reaches_a_run_waiting_for_approval(tmp_path: Path, open_store: Any) -> None:
    cwd = project(tmp_path, approvals="wait")
    log = tmp_path / "pay.log"
    proc = start(cwd, "run", "payout.yaml", "-q", env={"PAY_LOG": str(log)})
    approval = wait_for(lambda: pending_approval(cwd / "traces.db"))
    run_id = latest_run(cwd)
    assert run_id is not None
    assert agentbox(cwd, "stop", run_id, "--reason", "not today").returncode == 0
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "Traceback" not in err, out + err
    store = open_store(cwd / "traces.db")
    assert store.get_run(run_id).status == "stopped"
    assert store.get_run(run_id).counters["steps"] == len(store.steps(run_id))
    row = store.get_approval(approval)
    assert row.status == "closed" and row.decided_by is not None
    assert "not today" in (row.decision_reason or "")
    hold = next(s for s in store.steps(run_id) if s.kind == "approval")
    assert hold.status == "closed"
    stop = store.steps(run_id)[-2]  # reached the approver: recorded as any other stop
    assert (stop.kind, stop.name, stop.data["cause"]) == ("policy", "stopped", "interrupt")
    assert pay_count(log) == 0
    assert store.approvals(status="pending") == []
    late = agentbox(cwd, "approve", approval)
    assert late.returncode == 2 and "closed" in late.stderr


def test_stop_ends_a_parked_run_at_once_and_closes_its_approval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_store: Any
) -> None:
    cwd = project(tmp_path, approvals="approve")
    monkeypatch.setenv("PAY_LOG", str(tmp_path / "pay.log"))
    assert cli(cwd, monkeypatch, "run", "payout.yaml", "--detach").exit_code == 0
    store = open_store(cwd / "traces.db")
    run = store.list_runs(limit=1)[0]
    assert run.status == "awaiting_approval"
    stopped = cli(cwd, monkeypatch, "stop", run.id[:6], "--reason", "abandoned")
    assert stopped.exit_code == 0 and "stopped run" in stopped.output, stopped.output
    run = store.get_run(run.id)
    assert run.status == "stopped" and run.reason == f"stopped by {who()}: abandoned"
    assert store.approvals(status="pending") == []
    closed = store.approvals(status="closed")[0]
    assert closed.decided_by == who()
    final = store.steps(run.id)[-1]
    assert (final.kind, final.status, final.data["stopped_by"]) == ("final", "stopped", who())
    again = cli(cwd, monkeypatch, "stop", run.id)
    assert again.exit_code == 0 and "already stopped" in again.output
    resumed = cli(cwd, monkeypatch, "resume", run.id, "--approve")
    assert resumed.exit_code == 2 and "already stopped" in resumed.output
    assert pay_count(tmp_path / "pay.log") == 0


def test_stop_all_and_bad_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_store: Any
) -> None:
    cwd = project(tmp_path, approvals="approve")
    for _ in range(2):
        assert cli(cwd, monkeypatch, "run", "payout.yaml", "--detach").exit_code == 0
    assert cli(cwd, monkeypatch, "run", "payout.yaml", "-q").exit_code == 0
    done = cli(cwd, monkeypatch, "stop", "--all")
    assert done.exit_code == 0, done.output
    statuses = sorted(r.status for r in open_store(cwd / "traces.db").list_runs())
    assert statuses == ["completed", "stopped", "stopped"]
    assert "nothing to stop" in cli(cwd, monkeypatch, "stop", "--all").output
    assert cli(cwd, monkeypatch, "stop").exit_code == 2
    assert cli(cwd, monkeypatch, "stop", "nosuchrun").exit_code == 2


def test_a_halted_run_closes_its_approval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_store: Any
) -> None:
    cwd = project(tmp_path, approvals="fail")
    assert cli(cwd, monkeypatch, "run", "payout.yaml", "-q").exit_code == 1
    store = open_store(cwd / "traces.db")
    run = store.list_runs(limit=1)[0]
    assert run.status == "halted"
    assert store.approvals(status="pending") == []
    row = store.approvals(status=None)[0]
    assert row.status == "closed" and (row.decision_reason or "").startswith("run halted")
    assert "no pending approvals" in cli(cwd, monkeypatch, "approvals").output


@pytest.mark.parametrize("what", ["waiting", "running"])
def test_ctrl_c_prints_the_run_and_how_to_resume(
    tmp_path: Path, what: str, open_store: Any
) -> None:
    cwd = project(tmp_path, approvals="wait")
    log = tmp_path / "pay.log"
    if what == "waiting":
        proc = start(cwd, "run", "payout.yaml")
        wait_for(lambda: pending_approval(cwd / "traces.db"))
    else:
        env = {"PAY_LOG": str(log), "STEPS": "400", "STEP_SLEEP": "0.05"}
        proc = start(cwd, "run", "slow.yaml", env=env)
        wait_for(lambda: pay_count(log) >= 2)
    run_id = latest_run(cwd)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "Aborted" not in out + err
    assert f"interrupted: run {run_id}" in err
    assert f"agentbox resume {run_id}" in err
    run = open_store(cwd / "traces.db").get_run(run_id or "")
    assert not run.finished and not run.live  # left resumable
