"""Suite replay and the store: each case's YAML is parsed once per content (cached in the
store, re-parsed when the file changes), each case is one transaction, and the worker
keeps a few parsed cases, not the whole suite."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result
from inproc import agentbox

from agentbox.suites import replay

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "suites" / "retail-regressions" / "refund-over-limit.yaml"


@pytest.fixture()
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    folder = tmp_path / "suite"
    folder.mkdir()
    for i in range(10):
        text = CASE.read_text().replace("case: refund-over-limit", f"case: copy-{i}", 1)
        (folder / f"copy-{i}.yaml").write_text(text)
    return folder


def _cached_rows(store: Path) -> int:
    conn = sqlite3.connect(store)
    try:
        return int(conn.execute("SELECT count(*) FROM parsed_cases").fetchone()[0])
    finally:
        conn.close()


def _results(result: Result) -> list[tuple[str, bool]]:
    return [(r["name"], r["passed"]) for r in json.loads(result.stdout)["results"]]


def test_parsed_cases_are_cached_by_content_and_edits_are_seen(suite: Path, tmp_path: Path) -> None:
    store = tmp_path / "t.db"
    first = agentbox(store, "test", suite, "--json")
    assert first.exit_code == 0, first.output
    assert _cached_rows(store) == 10  # one per distinct text
    again = agentbox(store, "test", suite, "--json")
    assert _results(again) == _results(first)
    assert _cached_rows(store) == 10
    case = suite / "copy-3.yaml"  # an edit makes another text: parsed again, and it fails
    case.write_text(case.read_text().replace("approvals: 1", "approvals: 2", 1))
    edited = agentbox(store, "test", suite, "--json")
    assert edited.exit_code == 1
    assert ("copy-3", False) in _results(edited)
    assert _cached_rows(store) == 11


def test_a_worker_keeps_a_few_parsed_cases_not_the_suite(suite: Path, tmp_path: Path) -> None:
    for i in range(10, 30):
        shutil.copy(suite / "copy-0.yaml", suite / f"copy-{i}.yaml")
    replay._CASES.clear()
    result = agentbox(tmp_path / "t.db", "test", suite, "-j", "1", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["results"]) == 30
    assert 0 < len(replay._CASES) <= 4


def test_a_batched_run_stays_invisible_until_its_one_commit(tmp_path: Path) -> None:
    """The runner's stop-request check at each step boundary must not commit the batch
    early: another connection sees nothing of the case until it ends, then all of it."""
    from agentbox.config import load_settings
    from agentbox.planning import plan_run
    from agentbox.runner import Runner
    from agentbox.store import StepRow, TraceStore

    settings = load_settings(ROOT)
    plan = plan_run(ROOT / "scenarios" / "refund-clean.yaml", settings)
    path = tmp_path / "t.db"
    store = TraceStore(path)
    seen: list[int] = []

    def look(step: StepRow) -> None:
        other = sqlite3.connect(path)
        try:
            runs = other.execute("SELECT count(*) FROM runs").fetchone()[0]
            steps = other.execute("SELECT count(*) FROM steps").fetchone()[0]
            seen.append(int(runs) + int(steps))
        finally:
            other.close()

    with store.batch():
        result = Runner(plan, store, on_step=look).run()
    assert result.status == "completed" and len(seen) > 2
    assert set(seen) == {0}
    assert len(TraceStore(path).steps(result.run_id)) == len(seen)
