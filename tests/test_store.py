"""The trace store file: reopened by a new TraceStore and by plain sqlite3, read by a fresh
process, and left readable (run shown as not finished) when a run is killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentbox.checkpoints import state_at
from agentbox.store import SCHEMA_VERSION, TraceStore

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from agentbox.cli import main; main()"]


def env_for(store_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTBOX_")}
    env.update(AGENTBOX_STORE=str(store_path), COLUMNS="200")
    return env


@pytest.fixture()
def one_run(cli, store_path: Path) -> str:
    result = cli("run", "scenarios/refund-over-limit.yaml", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["run_id"]


def test_reopen_with_new_trace_store(one_run: str, store_path: Path) -> None:
    store = TraceStore(store_path)
    try:
        assert store.schema_version() == SCHEMA_VERSION == 1
        run = store.get_run(one_run)
        assert run.status == "completed" and run.passed is True and run.finished
        assert run.display_status == "completed"
        assert run.scenario == "refund-over-limit"
        assert run.counters["holds"] == 1
        steps = store.steps(one_run)
        assert [s.idx for s in steps] == list(range(len(steps)))
        assert steps[-1].kind == "final"
        assert {"llm", "tool", "approval", "final"} <= {s.kind for s in steps}
        assert store.step_count(one_run) == len(steps) == run.counters["steps"]
        assert store.checkpoint_before(one_run, -1) is not None
        # The state at the end is rebuilt from the seed checkpoint and the patches.
        final = state_at(store, run, steps[-1].idx)
        refunds = list(final.values("refunds"))
        assert refunds[-1]["order_id"] == "ord_5531" and refunds[-1]["amount_usd"] == 240
        before = state_at(store, run, -1)
        assert list(before.values("refunds")) == []
    finally:
        store.close()


def test_reopen_with_sqlite3(one_run: str, store_path: Path) -> None:
    conn = sqlite3.connect(store_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        assert (
            conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
        )
        (status, passed, counters) = conn.execute(
            "SELECT status, passed, counters FROM runs WHERE id=?", (one_run,)
        ).fetchone()
        assert (status, passed) == ("completed", 1)
        n_steps = conn.execute("SELECT count(*) FROM steps WHERE run_id=?", (one_run,)).fetchone()[
            0
        ]
        assert n_steps == json.loads(counters)["steps"] > 0
        kinds = [
            r[0]
            for r in conn.execute("SELECT kind FROM steps WHERE run_id=? ORDER BY idx", (one_run,))
        ]
        assert kinds[-1] == "final"
        cps = conn.execute(
            "SELECT step, state_hash FROM checkpoints WHERE run_id=?", (one_run,)
        ).fetchall()
        assert cps and cps[0][0] == -1
        assert (
            conn.execute("SELECT count(*) FROM blobs WHERE hash=?", (cps[0][1],)).fetchone()[0] == 1
        )
        approvals = conn.execute(
            "SELECT status, tool FROM approvals WHERE run_id=?", (one_run,)
        ).fetchall()
        assert approvals == [("approved", "create_refund")]
        # Step data is plain JSON.
        data = conn.execute(
            "SELECT data FROM steps WHERE run_id=? AND kind='tool' AND name='create_refund'",
            (one_run,),
        ).fetchone()[0]
        assert json.loads(data)["args"]["amount_usd"] == 240
    finally:
        conn.close()


def test_show_from_fresh_process(one_run: str, store_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "show", one_run[:6]],
        cwd=ROOT,
        env=env_for(store_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"run {one_run}" in proc.stdout
    assert "create_refund" in proc.stdout
    assert "completed" in proc.stdout
    proc = subprocess.run(
        [*CLI, "show", one_run, "--json"],
        cwd=ROOT,
        env=env_for(store_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["run_id"] == one_run and shown["steps"][-1]["kind"] == "final"


def test_store_that_is_not_sqlite_is_exit_2(cli, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database\n" * 100)
    result = cli("runs", "--store", str(junk))
    assert result.exit_code == 2
    assert "not a usable trace store" in " ".join(result.stderr.split())


def test_newer_schema_is_refused(cli, one_run: str, store_path: Path) -> None:
    with sqlite3.connect(store_path) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    result = cli("runs")
    assert result.exit_code == 2
    assert "newer" in result.stderr


AGENT = """
import os, time
from pathlib import Path

def run(ctx):
    ctx.call_tool("get_order", order_id="ord_5120")
    ctx.call_tool("create_refund", order_id="ord_5120", amount_usd=10, idempotency_key="r-5120")
    Path(os.environ["KILL_MARKER"]).write_text("ready")
    time.sleep(60)
    return "never"
"""


def test_sigkill_mid_run_leaves_a_readable_not_finished_run(
    cli, tmp_path: Path, store_path: Path
) -> None:
    (tmp_path / "killme_agent.py").write_text(AGENT, encoding="utf-8")
    scenario = tmp_path / "killme.yaml"
    scenario.write_text(
        "name: killme\nsandbox: retail\nagent: {type: python, entry: 'killme_agent:run'}\n"
        "input: refund ord_5120\nscript: [{say: unused}]\n",
        encoding="utf-8",
    )
    marker = tmp_path / "marker"
    env = env_for(store_path) | {"KILL_MARKER": str(marker)}
    proc = subprocess.Popen(
        [*CLI, "run", str(scenario)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "agent never reached the marker"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    store = TraceStore(store_path)
    try:
        (run,) = store.list_runs(limit=None)
        assert run.status == "running"
        assert run.pid == proc.pid
        assert run.live is False
        assert run.display_status == "not finished"
        assert run.ended_at is None
        steps = store.steps(run.id)
        assert [(s.kind, s.name, s.status) for s in steps] == [
            ("tool", "get_order", "ok"),
            ("tool", "create_refund", "ok"),
        ]
        assert json.loads(steps[0].data["result"])["id"] == "ord_5120"
        assert steps[1].patch, "the committed write's patch survived"
        # The state can still be rebuilt from what was committed.
        final = state_at(store, run, steps[-1].idx)
        assert [r["amount_usd"] for r in final.values("refunds")] == [10]
    finally:
        store.close()

    listed = cli("runs", env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    (row,) = [line for line in listed.stdout.splitlines() if run.id in line]
    assert "not finished" in row

    shown = cli("show", run.id, env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "not finished" in shown.stdout

    only_running = cli("runs", "--status", "running", "--json")
    assert [r["run_id"] for r in json.loads(only_running.stdout)] == [run.id]


def test_live_running_run_is_not_reported_dead(store_path: Path) -> None:
    """A ``running`` row whose process exists is live (this process's pid)."""
    store = TraceStore(store_path)
    try:
        store.create_run(
            id="live1",
            scenario="s",
            scenario_json={},
            sandbox="retail",
            mode="execute",
            agent="scripted",
            status="running",
            started_at=time.time(),
        )
        run = store.get_run("live1")
        assert run.pid == os.getpid()
        assert run.live is True and run.display_status == "running"
    finally:
        store.close()


def test_json_columns_are_stored_as_json_dumps_writes_them(store_path: Path) -> None:
    """The store's own encoder writes the text ``json.dumps`` writes (ASCII escapes, NaN,
    big integers, float reprs, ``str`` of what JSON cannot hold), so stores stay
    byte-identical across the change."""
    from agentbox.store import StepRow

    data = {
        "args": {"note": "café ☕\n\u2028", "big": 10**30, "small": 1e-05, "nan": float("nan")},
        "result": "x",
        "path": Path("/a/b"),
    }
    store = TraceStore(store_path)
    store.add_step(StepRow("r1", 0, "tool", "t", data=data, counters={"steps": 1, "f": 2.5}))
    store.close()
    raw = sqlite3.connect(store_path)
    stored, counters = raw.execute("SELECT data, counters FROM steps").fetchone()
    raw.close()
    assert stored == json.dumps(data, separators=(",", ":"), default=str)
    assert counters == '{"steps":1,"f":2.5}'
