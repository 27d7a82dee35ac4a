"""Runs are tagged by origin (run, test, replay, fork, import); `runs` and the TUI hide the
runs of `agentbox test` unless asked (issue 19, item 6)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from inproc import agentbox

from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent


def run_id(result: Result) -> str:
    return str(json.loads(result.stdout)["run_id"])


@pytest.fixture()
def origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """One run of each origin in a fresh store."""
    monkeypatch.chdir(ROOT)
    store = tmp_path / "t.db"
    out = {"run": run_id(agentbox(store, "run", "scenarios/refund-clean.yaml", "--json"))}
    out["fork"] = run_id(agentbox(store, "fork", out["run"], "--at", "1", "--json"))
    replayed = agentbox(store, "replay", out["run"], "--json")
    out["replay"] = str(json.loads(replayed.stdout)["replay_run_id"])
    tested = agentbox(store, "test", "suites/retail-regressions/refund-denied.yaml", "--json")
    out["test"] = str(json.loads(tested.stdout)["results"][0]["run_id"])
    imported = agentbox(store, "import", "tests/fixtures/openinference-refund.jsonl")
    assert imported.exit_code == 0, imported.output
    trace = TraceStore(store)
    out["import"] = next(r.id for r in trace.list_runs(limit=None) if r.id not in out.values())
    trace.close()
    return store, out


def listed(store: Path, *args: str) -> dict[str, Any]:
    rows = json.loads(agentbox(store, "runs", "--json", "-n", "50", *args).stdout)
    return {r["run_id"]: r["origin"] for r in rows}


def test_runs_are_tagged_by_origin_and_test_runs_hidden_by_default(
    origins: tuple[Path, dict[str, str]],
) -> None:
    store, ids = origins
    everything = listed(store, "--all")
    assert {everything[i]: k for k, i in ids.items()} == {k: k for k in ids}
    assert ids["test"] not in listed(store)  # hidden by default
    assert set(listed(store)) == {ids[k] for k in ("run", "fork", "replay", "import")}
    assert set(listed(store, "--origin", "fork", "--origin", "replay")) == {
        ids["fork"],
        ids["replay"],
    }
    assert set(listed(store, "--origin", "test")) == {ids["test"]}
    table = agentbox(store, "runs").output
    assert "1 test run(s) hidden; --all shows them" in table
    assert "↺ replay" in table and "⑂ fork" in table  # the glyphs are explained
    bad = agentbox(store, "runs", "--origin", "cron")
    assert bad.exit_code == 2 and "--origin must be one of" in bad.output


def test_an_old_store_gets_the_origin_column_from_lineage(
    origins: tuple[Path, dict[str, str]],
) -> None:
    store, ids = origins
    conn = sqlite3.connect(store)
    conn.execute("ALTER TABLE runs DROP COLUMN origin")  # as stored before the column
    conn.commit()
    conn.close()
    for _ in range(2):  # the step is idempotent
        trace = TraceStore(store)
        got = {r.id: r.origin for r in trace.list_runs(limit=None)}
        trace.close()
        assert got == {i: k for k, i in ids.items()}


@pytest.mark.anyio
async def test_tui_hides_test_runs_until_t(
    origins: tuple[Path, dict[str, str]], anyio_backend: str
) -> None:
    from agentbox.config import load_settings
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.runs import RunsScreen

    store, ids = origins
    trace = TraceStore(store)
    tui = AgentboxApp(trace, load_settings(ROOT))
    async with tui.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        screen = tui.screen
        assert isinstance(screen, RunsScreen)
        shown = {r.id for r in screen.loaded}
        assert ids["test"] not in shown and ids["fork"] in shown
        await pilot.press("t")
        await pilot.pause()
        assert ids["test"] in {r.id for r in screen.loaded}
        await pilot.press("t", "slash", *"origin:fork", "enter")
        await pilot.pause()
        assert [r.id for r in screen.loaded] == [ids["fork"]]
    trace.close()


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"
