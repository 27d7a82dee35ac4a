"""The TUI compare screen (issue 17, item 6), driven with Pilot: suite runs listed, two
compared side by side with flips first, a case's two runs split with the first differing
step highlighted; the run screen names the agent version."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agentbox.cli import app as cli_app
from agentbox.config import load_settings
from agentbox.store import TraceStore
from tests.test_tui import screen_text

ROOT = Path(__file__).resolve().parent.parent
SIZE = (140, 44)


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


def agentbox(store: Path, *args: str | Path) -> Any:
    return CliRunner().invoke(
        cli_app, [*map(str, args), "--store", str(store)], catch_exceptions=False
    )


@pytest.fixture()
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, str]:
    """Suite run A (replay, all pass) and B (live scripted: refund-over-limit now asks for
    $20, so nothing is held and the case breaks)."""
    monkeypatch.chdir(ROOT)
    store = tmp_path / "t.db"
    suite = tmp_path / "suite"
    suite.mkdir()
    for name in ("invalid-argument.yaml", "refund-over-limit.yaml"):
        shutil.copy(ROOT / "suites" / "retail-regressions" / name, suite / name)
    a = agentbox(store, "test", suite, "--label", "v1", "--json")
    assert a.exit_code == 0, a.output
    path = suite / "refund-over-limit.yaml"
    data = yaml.safe_load(path.read_text())
    data["scenario"]["script"][1]["tool_calls"][0]["create_refund"]["amount_usd"] = 20
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    time.sleep(0.01)
    b = agentbox(store, "test", suite, "--live", "--model", "scripted", "--label", "v2", "--json")
    assert b.exit_code == 1, b.output
    return store, json.loads(a.stdout)["suite_run"], json.loads(b.stdout)["suite_run"]


async def wait_for(pilot: Any, condition: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the UI")
        await pilot.pause(0.05)


@pytest.mark.anyio
async def test_compare_screen_flips_first_and_split_view(pair) -> None:
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.compare import CaseSplitScreen, CompareScreen, SuiteRunsScreen

    store_path, a, b = pair
    store = TraceStore(store_path)
    app = AgentboxApp(store, load_settings(ROOT))
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.pause()
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, SuiteRunsScreen))
            table = app.screen.query_one("DataTable")
            assert [table.get_row_at(i)[1] for i in range(table.row_count)] == [b, a]
            await pilot.press("enter")  # B (newest) against its baseline A
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
            screen = app.screen
            await wait_for(pilot, lambda: screen.comparison is not None)
            assert (screen.a.id, screen.b.id) == (a, b)
            cases = screen.query_one("DataTable")
            first = cases.get_row_at(0)
            assert str(first[0]) == "broken" and first[1] == "refund-over-limit.yaml"
            assert str(cases.get_row_at(1)[0]) == "still passing"
            counts = str(screen.query_one("#compare-counts").render())
            assert "1 broken · 0 fixed · 0 still failing · 1 still passing" in counts
            assert screen.comparison.metric("pass_rate").b == pytest.approx(0.5)
            text = screen_text(app)
            assert "pass rate (runs)" in text and "approval rate" in text
            assert text.index("refund-over-limit.yaml") < text.index("invalid-argument.yaml")

            await pilot.press("enter")  # open the broken case's two runs
            await wait_for(pilot, lambda: isinstance(app.screen, CaseSplitScreen))
            split = app.screen
            assert split.first_difference == 2  # the create_refund call's amount
            assert split.a_steps[2].kind == "llm"
            info = str(split.query_one("#split-info").render())
            assert "first difference at step 2" in info
            column_b = str(split.query_one("#split-b").render())
            marked = [line for line in column_b.splitlines() if line.startswith("▶")]
            assert len(marked) == 1 and marked[0].split()[1] == "2"
            assert "approval" not in column_b.split("▶")[1].splitlines()[0]
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
    finally:
        store.close()


@pytest.mark.anyio
async def test_run_screen_names_the_agent_version(pair) -> None:
    from agentbox.tui.app import AgentboxApp

    store_path, _, b = pair
    store = TraceStore(store_path)
    try:
        run_id = store.suite_results(b)[0].run_id
        version = store.run_version(run_id or "")
        assert version is not None
        app = AgentboxApp(store, load_settings(ROOT), run_id=run_id)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await wait_for(pilot, lambda: app.screen.sub_title)
            assert app.screen.sub_title == f"agent version {version.fingerprint} (v2)"
    finally:
        store.close()


@pytest.mark.anyio
async def test_compare_of_unknown_label_notifies(pair) -> None:
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.compare import CompareScreen

    store_path, a, _ = pair
    store = TraceStore(store_path)
    try:
        app = AgentboxApp(store, load_settings(ROOT), compare=(a, "nope"))
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.pause()
            assert not isinstance(app.screen, CompareScreen)
            assert any("no suite run or label 'nope'" in n.message for n in app._notifications)
    finally:
        store.close()


def _help_keys(app: Any) -> set[str]:
    from agentbox.tui.screens.modals import HelpScreen

    assert isinstance(app.screen, HelpScreen)
    return {keys for keys, _ in app.screen.rows}


@pytest.mark.anyio
async def test_help_names_every_key_each_screen_binds(pair) -> None:
    """``?`` works on every screen (the suite runs, compare and case screens had none)
    and lists each key the screen binds."""
    from textual.binding import Binding

    from agentbox.tui.app import AgentboxApp, key_label
    from agentbox.tui.screens.compare import CaseSplitScreen, CompareScreen, SuiteRunsScreen
    from agentbox.tui.screens.modals import HelpScreen
    from agentbox.tui.screens.run import RunScreen
    from agentbox.tui.screens.runs import RunsScreen

    store_path, _, b = pair
    store = TraceStore(store_path)
    app = AgentboxApp(store, load_settings(ROOT))
    seen = []
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for key, screen_type in (
                (None, RunsScreen),
                ("u", SuiteRunsScreen),
                ("enter", CompareScreen),
                ("enter", CaseSplitScreen),
            ):
                if key:
                    await pilot.press(key)
                await wait_for(pilot, lambda t=screen_type: isinstance(app.screen, t))
                if screen_type is CompareScreen:
                    await wait_for(pilot, lambda: app.screen.comparison is not None)
                screen = app.screen
                await pilot.press("question_mark")
                await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
                keys = _help_keys(app)
                for binding in type(screen).BINDINGS:
                    assert isinstance(binding, Binding)
                    assert key_label(binding.key) in keys, (screen_type, binding.key)
                seen.append(screen_type)
                await pilot.press("escape")
                await wait_for(pilot, lambda s=screen: app.screen is s)
            app.open_run(store.suite_results(b)[0].run_id or "")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            assert {"tab / shift+tab", "pgup / pgdn", "ctrl+q"} <= _help_keys(app)
    finally:
        store.close()
    assert len(seen) == 4


@pytest.mark.anyio
async def test_compare_and_case_screens_at_80x24(pair) -> None:
    """At 80x24 the metrics took every row under the counts (no case was visible), and a
    case's runs were cut at the bottom of the screen (no scrolling)."""
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.compare import CaseSplitScreen, CompareScreen

    store_path, a, b = pair
    store = TraceStore(store_path)
    app = AgentboxApp(store, load_settings(ROOT), compare=(a, b))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
            await wait_for(pilot, lambda: app.screen.comparison is not None)
            await pilot.pause()
            cases = app.screen.query_one("#compare-cases")
            assert cases.region.height >= 3  # the header and both cases
            assert "refund-over-limit.yaml" in screen_text(app)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, CaseSplitScreen))
            await pilot.pause()
            scroll = app.screen.query_one("#split-scroll")
            assert scroll.max_scroll_y > 0  # longer than the screen
            assert "▶" in screen_text(app)  # the first difference is in view
            before = scroll.scroll_y
            await pilot.press("pagedown")
            await pilot.pause()
            assert scroll.scroll_y > before
    finally:
        store.close()


@pytest.mark.anyio
async def test_suite_runs_keep_the_passed_column_at_80x24(pair) -> None:
    """Issue 19: at 80 columns the suite-runs screen kept `suite run`, `started` and the
    long `suite` path and scrolled `passed` off; now columns drop in priority order (as on
    the runs screen) and the suite name is cut instead."""
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.compare import SuiteRunsScreen

    store_path, a, b = pair
    store = TraceStore(store_path)
    app = AgentboxApp(store, load_settings(ROOT))
    try:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await pilot.pause()
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, SuiteRunsScreen))
            await pilot.pause()
            lines = screen_text(app).splitlines()
            row_a = next(line for line in lines if a in line)
            row_b = next(line for line in lines if b in line)
            assert "passed" in screen_text(app)
            assert "2/2" in row_a and "1/2" in row_b  # on screen, not scrolled off
            assert "…" in row_a  # the long tmp suite path, cut keeping its end
            await pilot.press("m")  # marking still works with fewer columns
            assert "A" in screen_text(app).splitlines()[lines.index(row_b)].split(b)[0]
    finally:
        store.close()
