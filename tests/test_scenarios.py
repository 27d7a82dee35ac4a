"""Every shipped scenario runs from the CLI, meets its expectations and is stored as passed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agentbox.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))


def test_scenarios_exist() -> None:
    assert len(SCENARIOS) >= 10, SCENARIOS


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_passes(name: str, cli, store_path: Path, stored_runs) -> None:
    result = cli("run", f"scenarios/{name}")
    assert result.exit_code == 0, result.output

    runs = stored_runs()
    assert len(runs) == 1
    run = runs[0]
    assert run.passed is True
    expected = load_scenario(ROOT / "scenarios" / name).expect
    assert expected is not None and expected.status is not None, "every scenario says its status"
    assert run.status == expected.status
    assert run.id in result.output
    assert run.scenario_path is not None and run.scenario_path.endswith(name)
    # Every expectation the scenario lists was checked and passed.
    assert all(e["passed"] for e in run.expectations or []), run.expectations

    # The same verdict through plain SQL, independent of TraceStore.
    with sqlite3.connect(store_path) as conn:
        rows = conn.execute("SELECT id, passed FROM runs").fetchall()
    assert rows == [(run.id, 1)]
