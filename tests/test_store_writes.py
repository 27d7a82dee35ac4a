"""The store's write path: batched writes (one transaction per suite case) and WAL
checkpoints kept out of a run's commits. Observed from a second connection and from the
files on disk, as another process would see them."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from agentbox.store import StepRow, TraceStore


def _run(store: TraceStore, run_id: str) -> None:
    store.create_run(
        id=run_id,
        scenario="s",
        scenario_json={},
        sandbox="retail",
        mode="execute",
        agent="scripted",
        status="running",
        started_at=time.time(),
    )


def _steps_seen_by_another_connection(path: Path, run_id: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(
            conn.execute("SELECT count(*) FROM steps WHERE run_id=?", (run_id,)).fetchone()[0]
        )
    finally:
        conn.close()


def test_batch_commits_once_at_the_end_and_reads_inside_see_its_writes(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = TraceStore(path)
    with store.batch():
        _run(store, "r1")
        for i in range(3):
            store.add_step(StepRow("r1", i, "tool", "get_order", data={"args": {"i": i}}))
        store.update_step("r1", 1, data={"args": {"i": 10}})  # checked without a read
        assert _steps_seen_by_another_connection(path, "r1") == 0  # nothing committed yet
        assert store.get_run("r1").status == "running"  # a read commits what came before
        assert _steps_seen_by_another_connection(path, "r1") == 3
        store.add_step(StepRow("r1", 3, "final", status="completed"))
        store.update_run("r1", status="completed", ended_at=time.time())
        assert _steps_seen_by_another_connection(path, "r1") == 3
    assert _steps_seen_by_another_connection(path, "r1") == 4
    store.close()
    reopened = TraceStore(path)
    assert reopened.get_run("r1").status == "completed"
    assert [s.idx for s in reopened.steps("r1")] == [0, 1, 2, 3]


def test_batch_is_committed_when_the_block_raises(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.db")
    with pytest.raises(RuntimeError), store.batch():
        _run(store, "r1")
        store.add_step(StepRow("r1", 0, "tool", data={"args": {}}))
        raise RuntimeError("the agent crashed")
    assert _steps_seen_by_another_connection(tmp_path / "t.db", "r1") == 1


def test_a_failing_batch_commits_none_of_its_writes(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.db")
    _run(store, "r1")
    with pytest.raises(sqlite3.IntegrityError), store.batch():
        store.add_step(StepRow("r1", 0, "tool", data={"args": {}}))
        store.add_step(StepRow("r1", 0, "tool", data={"args": {}}))  # the same (run, idx) twice
    assert _steps_seen_by_another_connection(tmp_path / "t.db", "r1") == 0


def test_wal_is_checkpointed_when_a_run_ends_not_during_it(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = TraceStore(path)
    _run(store, "r1")
    size_before = path.stat().st_size
    for i in range(1500):  # past SQLite's automatic checkpoint (1,000 pages)
        store.add_step(StepRow("r1", i, "tool", "bump", data={"args": {"pad": f"{i:0>3000}"}}))
    assert path.stat().st_size == size_before  # every page still in the WAL: no stall
    store.update_run("r1", status="completed", ended_at=time.time())
    assert path.stat().st_size > size_before + 1500 * 3000  # copied in at the run's end
    store.close()
