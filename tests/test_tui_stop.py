"""The kill switch in the terminal UI: `S` on the runs and run screens (issue 11, item 11)."""

from __future__ import annotations

import threading
import time

import pytest
from test_tui import ROOT, run_scenario, screen_text, tui, wait_for

from agentbox.approvals import store_waiter
from agentbox.config import Settings
from agentbox.runner import Runner, plan_run
from agentbox.store import TraceStore


@pytest.mark.anyio
async def test_stop_a_parked_run_from_the_runs_screen(
    store: TraceStore, settings: Settings
) -> None:
    from textual.widgets import Input

    from agentbox.tui.screens.modals import HelpScreen

    run_scenario(store, settings, "refund-clean")
    time.sleep(0.01)
    parked = run_scenario(store, settings, "refund-over-limit", "park")
    async with tui(store, settings) as (app, pilot):
        assert "stop" in screen_text(app)  # in the footer
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "stop" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("S")  # the parked run is the newest: under the cursor
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*"cleanup", "enter")
        await wait_for(pilot, lambda: store.get_run(parked).status == "stopped")
        await wait_for(pilot, lambda: "1 pending approval" not in screen_text(app))
    run = store.get_run(parked)
    assert run.reason is not None and run.reason.endswith("(tui): cleanup")
    assert store.approvals(status="pending") == []


@pytest.mark.anyio
async def test_stop_a_run_waiting_elsewhere_from_the_run_screen(
    store: TraceStore, settings: Settings
) -> None:
    """A run waiting for approval in another thread (own connection) halts as `stopped`."""
    from textual.widgets import Input

    other = TraceStore(store.path)
    plan = plan_run(ROOT / "scenarios" / "refund-over-limit.yaml", settings)
    runner = Runner(plan, other, approver=store_waiter(other, poll_s=0.05, timeout_s=30))
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not store.approvals(run_id=runner.run_id):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        async with tui(store, settings, run_id=runner.run_id) as (app, pilot):
            assert app.screen.check_action("stop", ()) is True
            await pilot.press("S")
            await wait_for(pilot, lambda: isinstance(app.focused, Input))
            await pilot.press(*"wrong customer", "enter")
            await wait_for(pilot, lambda: store.get_run(runner.run_id).status == "stopped")
            await wait_for(pilot, lambda: app.screen.check_action("stop", ()) is False)
    finally:
        thread.join(timeout=10)
        other.close()
    run = store.get_run(runner.run_id)
    assert run.reason is not None and run.reason.endswith("(tui): wrong customer")
    refunds = [s for s in store.steps(run.id) if s.kind == "tool" and s.name == "create_refund"]
    assert refunds == []  # the held write never ran
    assert store.approvals(run_id=run.id, status=None)[0].status == "closed"
