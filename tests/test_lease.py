"""One process drives a run at a time: concurrent `resume`s, stale leases (issue 11, item 7)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from procs import CLI, pay_count, popen, project

from agentbox.approvals import fixed_approver
from agentbox.config import load_settings
from agentbox.leases import RunClaimed, claim_run
from agentbox.runner import Runner, plan_run
from agentbox.store import HOST, TraceStore


def parked_and_approved(cwd: Path) -> str:
    """A run parked at its held payment, approved, ready for `resume`."""
    store = TraceStore(cwd / "traces.db")
    plan = plan_run(cwd / "payout.yaml", load_settings(cwd))
    parked = Runner(plan, store, approver=fixed_approver("park")).run()
    assert parked.pending_approval is not None
    store.decide_approval(parked.pending_approval, "approved", by="ops")
    store.close()
    return parked.run_id


def test_concurrent_resumes_have_exactly_one_winner(tmp_path: Path, open_store: Any) -> None:
    cwd = project(tmp_path, approvals="approve")
    log = tmp_path / "pay.log"
    env = {"PAY_LOG": str(log), "PAY_SLEEP": "0.3"}  # the winner is still running
    contended = 0  # rounds where the loser met the winner's lease (not just its result)
    for round_ in range(10):
        run_id = parked_and_approved(cwd)
        procs = [popen(cwd, "resume", run_id, "--json", env=env) for _ in "ab"]
        results: list[tuple[int, str]] = []
        for p in procs:
            try:
                _out, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                raise
            results.append((p.returncode, err))
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results
        loser = next(err for code, err in results if code == 2)
        assert "Traceback" not in loser and "IntegrityError" not in loser
        assert any(
            words in loser for words in ("is held by pid", "already completed", "still running")
        ), loser
        contended += "is held by pid" in loser
        store = open_store(cwd / "traces.db")
        run = store.get_run(run_id)
        steps = store.steps(run_id)
        assert run.status == "completed", (round_, run.reason)
        assert [s.idx for s in steps] == list(range(len(steps)))
        assert [(s.kind, s.name) for s in steps].count(("tool", "pay")) == 1
        assert [s.kind for s in steps].count("final") == 1
        assert pay_count(log) == round_ + 1  # one payment per round, never two
        assert store.lease(run_id) is None  # released by the winner
        store.close()
    assert contended, "no round had both processes race for the lease"


def test_the_loser_is_told_who_holds_the_run(tmp_path: Path, open_store: Any) -> None:
    cwd = project(tmp_path, approvals="approve")
    run_id = parked_and_approved(cwd)
    store = open_store(cwd / "traces.db")
    with claim_run(store, run_id, "resume"):
        held = subprocess.run(
            [*CLI, "resume", run_id],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert held.returncode == 2
    assert f"run {run_id} is held by pid {os.getpid()} on this host (resume" in held.stderr
    assert "agentbox stop" in held.stderr


def _forge(store_file: Path, run_id: str, pid: int, host: str, age_s: float) -> None:
    with sqlite3.connect(store_file) as conn:
        now = time.time()
        conn.execute(
            "INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?,?,?)",
            (run_id, "forged", pid, host, "resume", now - age_s, now - age_s),
        )


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("pid", "host", "age_s", "taken"),
    [
        ("dead", "here", 0.0, True),  # its process died on this host
        ("alive", "here", 1.0, False),  # a live holder on this host
        ("alive", "other", 1.0, False),  # a fresh heartbeat from another host
        ("alive", "other", 3600.0, True),  # another host went quiet
    ],
)
def test_a_stale_lease_is_taken_over(
    tmp_path: Path, pid: str, host: str, age_s: float, taken: bool, open_store: Any
) -> None:
    store = open_store(tmp_path / "t.db")
    owner = _dead_pid() if pid == "dead" else os.getpid()
    _forge(store.path, "r1", owner, HOST if host == "here" else "elsewhere", age_s)
    if taken:
        with claim_run(store, "r1") as token:
            lease = store.lease("r1")
            assert lease is not None and lease.token == token and lease.pid == os.getpid()
        assert store.lease("r1") is None
    else:
        with pytest.raises(RunClaimed, match=f"held by pid {owner}"), claim_run(store, "r1"):
            pass
        lease = store.lease("r1")
        assert lease is not None and lease.token == "forged"


def test_a_held_lease_keeps_its_heartbeat(tmp_path: Path, open_store: Any) -> None:
    store = open_store(tmp_path / "t.db")
    with claim_run(store, "r1", heartbeat_s=0.01):
        first = store.lease("r1")
        assert first is not None
        for _ in range(500):
            time.sleep(0.01)
            now = store.lease("r1")
            assert now is not None
            if now.heartbeat_at > first.heartbeat_at:
                break
        else:
            raise AssertionError("the heartbeat never advanced")
