"""The terminal UI (issue 6): headless helpers, then Pilot tests driving every screen.

Runs are produced by the real runner on the repository's scenarios; the app is driven with
``App.run_test`` at a fixed size, and every test asserts on what is shown (widget content,
screenshot text) and on the store afterwards.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agentbox.approvals import fixed_approver, store_waiter
from agentbox.config import Settings
from agentbox.runner import Runner, plan_run
from agentbox.store import StepRow, TraceStore

ROOT = Path(__file__).resolve().parent.parent
SIZE = (120, 40)


def run_scenario(
    store: TraceStore, settings: Settings, name: str, verdict: str | None = None
) -> str:
    """Run ``scenarios/NAME.yaml`` into ``store``; ``verdict`` overrides the approver."""
    plan = plan_run(ROOT / "scenarios" / f"{name}.yaml", settings)
    approver = fixed_approver(verdict) if verdict else None  # type: ignore[arg-type]
    return Runner(plan, store, approver=approver).run().run_id


@pytest.fixture()
def runs(store: TraceStore, settings: Settings) -> dict[str, str]:
    """A clean refund, an approved big refund, a red block, and a parked big refund."""
    out = {
        "clean": run_scenario(store, settings, "refund-clean"),
        "approved": run_scenario(store, settings, "refund-over-limit"),
        "blocked": run_scenario(store, settings, "bank-details-blocked"),
    }
    time.sleep(0.01)  # newest first is by start time
    out["parked"] = run_scenario(store, settings, "refund-over-limit", "park")
    return out


@asynccontextmanager
async def tui(
    store: TraceStore, settings: Settings, run_id: str | None = None, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[Any, Any]]:
    from agentbox.tui.app import AgentboxApp

    app = AgentboxApp(store, settings, run_id=run_id)
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.pause()
        await pilot.pause()
        yield app, pilot


async def wait_for(pilot: Any, condition: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the UI")
        await pilot.pause(0.05)


def screen_text(app: Any) -> str:
    """The screen as plain text, rendered exactly as ``app.export_screenshot()`` renders it."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        record=True,
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def pane(app: Any, name: str) -> str:
    from agentbox.tui.widgets.text_pane import TextPane

    return str(app.screen.query_one(f"#{name}", TextPane).plain)


def cursor(app: Any) -> int:
    from agentbox.tui.widgets.timeline import Timeline

    return int(app.screen.query_one(Timeline).cursor)


# ---- headless helpers --------------------------------------------------------------


def test_parse_filter() -> None:
    from agentbox.tui.actions import parse_filter

    assert parse_filter("") == (None, None)
    assert parse_filter("refund") == ("refund", None)
    assert parse_filter("refund status:await") == ("refund", "awaiting_approval")
    assert parse_filter("is:comp") == (None, "completed")


def test_summaries_label_every_kind(store: TraceStore, runs: dict[str, str]) -> None:
    from agentbox.tui.steps import summarize

    labels = {
        (s.kind, s.status): summarize(s).label for rid in runs.values() for s in store.steps(rid)
    }
    assert labels[("llm", "ok")] == "model"
    assert labels[("tool", "ok")] == "tool"
    assert labels[("tool", "blocked")] == "blocked"
    assert labels[("approval", "approved")] == "approved"
    assert labels[("approval", "pending")] == "held"
    assert labels[("final", "completed")] == "final"


def test_step_pages_read_one_page_and_follow_growth(store: TraceStore) -> None:
    from agentbox.tui.steps import StepPages

    store.create_run(
        id="r1",
        scenario="s",
        scenario_json={},
        sandbox="x",
        mode="execute",
        agent="llm",
        status="running",
        started_at=time.time(),
    )
    for i in range(250):
        store.add_step(StepRow("r1", i, "tool", f"t{i}", data={"args": {"n": i}}))
    pages = StepPages(store, "r1", page_size=100, max_pages=2)
    assert pages.count == 250
    assert pages.get(5) is not None and pages.cached(150) is None
    assert pages.get(249).name == "t249"  # type: ignore[union-attr]
    pages.get(120)
    assert pages.cached(5) is None  # least recently used page dropped
    store.add_step(StepRow("r1", 250, "final", "completed", status="completed"))
    assert pages.poll() == (250, 251)
    assert pages.get(250).kind == "final"  # type: ignore[union-attr]
    assert pages.find("t7", 0) == 7
    assert pages.find("t249", 3) == 249
    assert pages.find("t3", 200) == 3  # wraps around
    assert pages.find("t3", 10, forward=False) == 3
    assert pages.find("nothing like this", 0) is None


def test_fork_edits_prefer_field_edits(tmp_path: Path) -> None:
    from agentbox.tui.actions import fork_edits

    before = {"orders": {"o1": {"status": "delivered", "total": 5}}, "notes": {}}
    edited = json.loads(json.dumps(before))
    edited["orders"]["o1"]["status"] = "cancelled"
    edits = fork_edits(before, json.dumps(edited), None, None, tmp_path / "w")
    assert edits.set_values == {"orders.o1.status": "cancelled"}
    assert edits.state_file is None
    edited["notes"]["n1"] = {"text": "new record"}
    edits = fork_edits(before, json.dumps(edited), None, None, tmp_path / "w")
    assert edits.set_values == {} and edits.state_file is not None
    assert json.loads(edits.state_file.read_text())["notes"]["n1"]["text"] == "new record"
    edits = fork_edits(before, json.dumps(before), "old", "new", tmp_path / "w")
    assert edits.tool_result == "new" and not edits.set_values
    with pytest.raises(ValueError, match="not valid JSON"):
        fork_edits(before, "{nope", None, None, tmp_path / "w")
    with pytest.raises(ValueError, match="collection"):
        fork_edits(before, "[1, 2]", None, None, tmp_path / "w")


def test_tui_approver_parks_when_the_app_closes(store: TraceStore, runs: dict[str, str]) -> None:
    from agentbox.approvals import ApprovalRequest
    from agentbox.policy import Decision
    from agentbox.tui.actions import tui_approver

    row = store.approvals(run_id=runs["parked"])[0]
    request = ApprovalRequest(
        row.id,
        row.run_id,
        row.step,
        row.tool,
        row.args,
        Decision("hold", "yellow", "big-refund", "x"),
    )
    assert tui_approver(store, lambda: True, poll_s=0.01)(request).verdict == "park"
    store.decide_approval(row.id, "denied", by="me", reason="no")
    decision = tui_approver(store, lambda: False, poll_s=0.01)(request)
    assert (decision.verdict, decision.reason, decision.by) == ("deny", "no", "me")


def test_change_counter_changes_on_every_commit(
    store: TraceStore, settings: Settings, open_store: Any
) -> None:
    run_scenario(store, settings, "refund-clean")
    before = store.change_counter()
    assert store.change_counter() == before  # nothing committed: the same value
    other = open_store()
    other.request_stop("nope", by="me", reason=None)  # another connection's commit
    after_other = store.change_counter()
    assert after_other != before
    store.request_stop("nope", by="me", reason="again")  # this connection's own commit
    assert store.change_counter() != after_other


# ---- runs screen -------------------------------------------------------------------


@pytest.mark.anyio
async def test_runs_screen_lists_filters_and_marks_pending(
    store: TraceStore, settings: Settings, runs: dict[str, str]
) -> None:
    from textual.widgets import DataTable, Input

    async with tui(store, settings) as (app, pilot):
        table = app.screen.query_one(DataTable)
        assert table.row_count == 4
        first = table.get_row_at(0)
        assert first[0] == runs["parked"]  # newest first
        assert "‖ awaiting" in str(first[1])
        text = screen_text(app)
        assert "1 pending approval" in text
        assert "refund-clean" in text and "bank-details-blocked" in text
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"bank")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert table.get_row_at(0)[0] == runs["blocked"]
        await pilot.press("escape")  # clears the filter, back to the table
        await wait_for(pilot, lambda: table.row_count == 4)
        await pilot.press("s", "s")  # status:running, then status:awaiting (the shown word)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert table.get_row_at(0)[0] == runs["parked"]
        assert app.screen.query_one("#runs-filter", Input).value == "status:awaiting"


@pytest.mark.anyio
async def test_runs_screen_pages_and_refreshes_live(store: TraceStore, settings: Settings) -> None:
    from textual.widgets import DataTable

    now = time.time()
    for i in range(230):
        store.create_run(
            id=f"bulk{i:04d}",
            scenario="bulk",
            scenario_json={},
            sandbox="x",
            mode="execute",
            agent="llm",
            status="completed",
            started_at=now - 1000 + i,
            counters={"steps": 3},
        )
    async with tui(store, settings) as (app, pilot):
        table = app.screen.query_one(DataTable)
        assert table.row_count == 100  # one page, not all 230
        await pilot.press("G")  # the last loaded run: the next page is read
        await wait_for(pilot, lambda: table.row_count == 200)
        assert table.cursor_row == 99
        await pilot.press("G")
        await wait_for(pilot, lambda: table.row_count == 230)
        await pilot.press("g", "j", "j", "k")
        assert table.cursor_row == 1
        other = TraceStore(store.path)  # another writer
        new_id = run_scenario(other, settings, "refund-clean")
        other.close()
        await wait_for(pilot, lambda: table.row_count == 231, timeout=5)
        assert table.get_row_at(0)[0] == new_id


# ---- run screen --------------------------------------------------------------------


@pytest.mark.anyio
async def test_run_screen_steps_with_keys_and_shows_details(
    store: TraceStore, settings: Settings, runs: dict[str, str]
) -> None:
    from agentbox.tui.screens.run import RunScreen

    async with tui(store, settings) as (app, pilot):
        await pilot.press("down")  # the approved big refund is the 2nd newest... find it
        table_ids = [app.screen.query_one("DataTable").get_row_at(i)[0] for i in range(4)]
        for _ in range(table_ids.index(runs["clean"]) - 1):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.screen.run.id == runs["clean"]
        assert cursor(app) == 0
        assert "Verify the order belongs to the customer" in pane(app, "reasoning")
        assert "get_order" in pane(app, "action")
        await pilot.press("j")
        assert cursor(app) == 1
        action = pane(app, "action")
        assert "ord_5120" in action and "allow (green)" in action and "result" in action
        assert "asked for at step 0" in pane(app, "reasoning")
        await pilot.press("G")
        last = store.step_count(runs["clean"]) - 1
        assert cursor(app) == last
        assert "run completed" in pane(app, "action")
        await pilot.press("k")
        assert cursor(app) == last - 1
        assert "Done: your refund" in pane(app, "reasoning")
        await pilot.press("g")
        assert cursor(app) == 0
        await pilot.click("#timeline", offset=(5, 2))  # the mouse selects a step too
        assert cursor(app) == 2
        await pilot.press("g", "down", "down", "down")
        assert cursor(app) == 3
        usage = str(app.screen.query_one("#usage").render())
        assert "step 3 tool" in usage and "run so far" in usage
        text = screen_text(app)
        for label in ("model", "tool", "final", "Reasoning", "Action", "completed"):
            assert label in text
        await pilot.press("2")  # the State tab: patch + rebuilt state
        await wait_for(pilot, lambda: "record(s) differ" in pane(app, "state"))
        state = pane(app, "state")
        assert "change(s) at step 3" in state and "/refunds/" in state
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RunScreen))


@pytest.mark.anyio
async def test_search_and_help(store: TraceStore, settings: Settings, runs: dict[str, str]) -> None:
    from agentbox.tui.screens.modals import HelpScreen

    async with tui(store, settings, run_id=runs["clean"]) as (app, pilot):
        await pilot.press("slash", *"add_ticket", "enter")
        await wait_for(pilot, lambda: cursor(app) == 4)  # the model step asking for it
        await pilot.press("n")
        await wait_for(pilot, lambda: cursor(app) == 5)  # the tool step
        await pilot.press("N")
        await wait_for(pilot, lambda: cursor(app) == 4)
        await pilot.press("slash", *"WRONG SIZE", "enter")  # case-insensitive, args
        await wait_for(pilot, lambda: cursor(app) == 2)  # wraps: the model step asking for it
        await pilot.press("n")
        await wait_for(pilot, lambda: cursor(app) == 3)  # the refund itself
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = screen_text(app)
        for words in (
            "approve",
            "deny",
            "edit",
            "resume",
            "fork",
            "export",
            "search",
            "next match",
            "first",
            "last",
            "back",
        ):
            assert words in text, words
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))


@pytest.mark.anyio
async def test_approve_in_place_then_resume_completes(
    store: TraceStore, settings: Settings, runs: dict[str, str]
) -> None:
    parked = runs["parked"]
    approval = store.approvals(run_id=parked)[0]
    async with tui(store, settings, run_id=parked) as (app, pilot):
        await wait_for(pilot, lambda: cursor(app) == approval.step)  # opens on the newest step
        panel = str(app.screen.query_one("#approval-panel").render())
        assert "HELD" in panel and "big-refund" in panel
        assert app.screen.check_action("approve", ()) is True
        await pilot.press("a")
        row = store.get_approval(approval.id)
        assert row.status == "approved" and row.decided_by
        await wait_for(
            pilot, lambda: "resumes it" in str(app.screen.query_one("#approval-panel").render())
        )
        await pilot.press("r")
        await wait_for(pilot, lambda: store.get_run(parked).status == "completed")
        await wait_for(pilot, lambda: cursor(app) == store.step_count(parked) - 1)
        assert "run completed" in pane(app, "action")
    steps = store.steps(parked)
    assert steps[approval.step].status == "approved"
    assert any(s.kind == "tool" and s.name == "create_refund" and s.status == "ok" for s in steps)


@pytest.mark.anyio
async def test_deny_with_reason(
    store: TraceStore, settings: Settings, runs: dict[str, str]
) -> None:
    from textual.widgets import Input

    parked = runs["parked"]
    approval = store.approvals(run_id=parked)[0]
    async with tui(store, settings, run_id=parked) as (app, pilot):
        await wait_for(pilot, lambda: cursor(app) == approval.step)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press("enter")  # a reason is required
        assert "required" in screen_text(app)
        await pilot.press(*"needs photos", "enter")
        await wait_for(pilot, lambda: store.get_approval(approval.id).status == "denied")
        assert store.get_approval(approval.id).decision_reason == "needs photos"
        await pilot.press("r")
        await wait_for(pilot, lambda: store.get_run(parked).status == "completed")
    denied = [s for s in store.steps(parked) if s.kind == "tool" and s.status == "denied"]
    assert denied and "needs photos" in denied[0].data["result"]


@pytest.mark.anyio
async def test_edit_arguments_validates_then_approves(
    store: TraceStore, settings: Settings, runs: dict[str, str]
) -> None:
    from textual.widgets import TextArea

    from agentbox.tui.screens.modals import EditArgsScreen

    parked = runs["parked"]
    approval = store.approvals(run_id=parked)[0]
    async with tui(store, settings, run_id=parked) as (app, pilot):
        await wait_for(pilot, lambda: cursor(app) == approval.step)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditArgsScreen))
        area = app.screen.query_one(TextArea)
        assert json.loads(area.text)["amount_usd"] == 240
        area.text = '{"order_id": "ord_5531", "amount_usd": 180'  # broken JSON
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not valid JSON" in screen_text(app))
        area.text = json.dumps({**approval.args, "amount_usd": "lots"})  # schema error
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: "amount_usd" in str(app.screen.query_one("#edit-error").render())
        )
        assert isinstance(app.screen, EditArgsScreen)
        assert store.get_approval(approval.id).status == "pending"
        area.text = json.dumps({**approval.args, "amount_usd": 180})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: store.get_approval(approval.id).status == "approved")
        row = store.get_approval(approval.id)
        assert row.edited_args is not None and row.edited_args["amount_usd"] == 180
        await wait_for(pilot, lambda: not isinstance(app.screen, EditArgsScreen))
        await pilot.press("r")
        await wait_for(pilot, lambda: store.get_run(parked).status == "completed")
    refund = [s for s in store.steps(parked) if s.kind == "tool" and s.name == "create_refund"]
    assert refund[0].data["args"]["amount_usd"] == 180
    assert store.steps(parked)[approval.step].status == "edited"


@pytest.mark.anyio
async def test_approval_releases_a_run_waiting_elsewhere(
    store: TraceStore, settings: Settings
) -> None:
    """A run waiting for a decision (here in a thread, with its own connection) goes on."""
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
            await wait_for(pilot, lambda: app.screen.check_action("approve", ()) is True)
            assert app.screen.check_action("resume", ()) is False  # a live process owns it
            await pilot.press("a")
            await wait_for(pilot, lambda: store.get_run(runner.run_id).status == "completed")
            await wait_for(pilot, lambda: "run completed" in pane(app, "action"))
    finally:
        thread.join(timeout=10)
        other.close()


@pytest.mark.anyio
async def test_live_follow_shows_new_steps(store: TraceStore, settings: Settings) -> None:
    store.create_run(
        id="live1",
        scenario="live",
        scenario_json={},
        sandbox="x",
        mode="execute",
        agent="llm",
        status="running",
        started_at=time.time(),
    )
    store.add_step(StepRow("live1", 0, "tool", "first_tool", data={"args": {"n": 0}}))
    async with tui(store, settings, run_id="live1") as (app, pilot):
        assert "first_tool" in screen_text(app)

        def writer() -> None:
            other = TraceStore(store.path)
            for i in range(1, 4):
                other.add_step(
                    StepRow(
                        "live1",
                        i,
                        "tool",
                        f"streamed_{i}",
                        data={"args": {"n": i}, "result": f"value {i}"},
                    )
                )
                time.sleep(0.05)
            other.close()

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        await wait_for(pilot, lambda: cursor(app) == 3, timeout=5)
        assert "streamed_3" in pane(app, "action") and "value 3" in pane(app, "action")
        text = screen_text(app)
        assert "streamed_1" in text and "streamed_2" in text and "live" in text


@pytest.mark.anyio
async def test_fork_with_state_edit_opens_the_new_run(
    store: TraceStore, settings: Settings, runs: dict[str, str]
) -> None:
    from textual.widgets import TextArea

    from agentbox.tui.screens.modals import ForkScreen
    from agentbox.tui.screens.run import RunScreen

    parent = runs["clean"]
    async with tui(store, settings, run_id=parent) as (app, pilot):
        await pilot.press("j", "j", "j")  # step 3: create_refund
        assert cursor(app) == 3
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkScreen), timeout=15)
        area = app.screen.query_one("#fork-state", TextArea)
        state = json.loads(area.text)
        assert state["orders"]["ord_5120"]["status"] == "delivered"
        area.text = "{broken"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "not valid JSON" in str(app.screen.query_one("#fork-error").render())
        assert "not valid JSON" in screen_text(app)  # shown, not only set
        state["orders"]["ord_5120"]["status"] = "processing"
        area.text = json.dumps(state)
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, RunScreen) and app.screen.run.id != parent,
            timeout=15,
        )
        child = app.screen.run.id
        await wait_for(pilot, lambda: store.get_run(child).finished, timeout=15)
        await wait_for(pilot, lambda: "final" in screen_text(app))
    run = store.get_run(child)
    assert (run.parent_id, run.fork_step) == (parent, 3)
    steps = store.steps(child)
    fork = [s for s in steps if s.kind == "fork"][0]
    assert fork.data["edits"]["set_values"] == {"orders.ord_5120.status": "processing"}
    refund = [s for s in steps if s.kind == "tool" and s.name == "create_refund"][0]
    assert refund.status == "error"  # not delivered any more: the run differs from its parent
    original = [s for s in store.steps(parent) if s.name == "create_refund" and s.kind == "tool"]
    assert original[0].status == "ok"


@pytest.mark.anyio
async def test_fork_with_tool_result_edit(
    store: TraceStore, settings: Settings, runs: dict[str, str]
) -> None:
    from textual.widgets import TextArea

    from agentbox.tui.screens.modals import ForkScreen
    from agentbox.tui.screens.run import RunScreen

    parent = runs["clean"]
    async with tui(store, settings, run_id=parent) as (app, pilot):
        await pilot.press("j")  # step 1: get_order
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkScreen), timeout=15)
        result = app.screen.query_one("#fork-result", TextArea)
        assert "ord_5120" in result.text
        result.text = '{"error": "order service timed out"}'
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, RunScreen) and app.screen.run.id != parent,
            timeout=15,
        )
        child = app.screen.run.id
        await wait_for(pilot, lambda: store.get_run(child).finished, timeout=15)
    steps = store.steps(child)
    assert steps[1].kind == "fork"  # the edit is recorded at the fork step, then answered
    assert steps[2].data["result"] == '{"error": "order service timed out"}'
    assert steps[2].data.get("edited") is True
    assert store.get_run(child).parent_id == parent


@pytest.mark.anyio
async def test_export_needs_the_suites_module(
    store: TraceStore,
    settings: Settings,
    runs: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setitem(sys.modules, "agentbox.suites", None)  # import fails
    async with tui(store, settings, run_id=runs["clean"]) as (app, pilot):
        await pilot.press("x")
        await wait_for(pilot, lambda: "suites not available" in screen_text(app))

    calls: list[tuple[str, Path, str | None]] = []

    def export_run(
        store_: TraceStore, run_id: str, suite_dir: Path, name: str | None = None
    ) -> Path:
        calls.append((run_id, suite_dir, name))
        return suite_dir / run_id

    fake = types.ModuleType("agentbox.suites")
    fake.export_run = export_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "agentbox.suites", fake)
    async with tui(store, settings, run_id=runs["clean"]) as (app, pilot):
        from textual.widgets import Input

        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        assert app.focused.value == settings.suite == "suites/retail-regressions"  # .agentbox.toml
        app.focused.value = str(tmp_path / "suite")
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(calls))
        await wait_for(pilot, lambda: "exported run" in screen_text(app))
    assert calls == [(runs["clean"], tmp_path / "suite", None)]


@pytest.mark.anyio
async def test_unknown_run_id_is_a_notification(
    store: TraceStore, settings: Settings, runs: dict[str, str]
) -> None:
    from agentbox.tui.screens.runs import RunsScreen

    async with tui(store, settings, run_id="zzzz") as (app, _pilot):
        assert isinstance(app.screen, RunsScreen)
        assert "no run 'zzzz'" in screen_text(app)


# ---- screenshots at fixed sizes ----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_screens_fit_small_and_large_terminals(
    store: TraceStore, settings: Settings, runs: dict[str, str], size: tuple[int, int]
) -> None:
    async with tui(store, settings, size=size) as (app, pilot):
        text = screen_text(app)
        for words in (
            "agentbox",
            "status",
            "scenario",
            runs["parked"],
            "‖ awaiting",
            "refund-over-limit",
            "1 pending approval",
            "filter",
            "quit",
        ):
            assert words in text, (size, words)
        await pilot.press("enter")  # the newest: the parked run, on its held step
        await wait_for(pilot, lambda: "HELD" in screen_text(app))
        text = screen_text(app)
        for words in (
            "awaiting_approval",
            "held",
            "create_refund",
            "big-refund",
            "approve",
            "deny",
            "edit",
            "fork",
            "help",
            "Reasoning",
            "Action",
            "run so far",
        ):
            assert words in text, (size, words)


def test_focus_state_puts_mentioned_records_first() -> None:
    from agentbox.tui.actions import focus_state, strings_in

    state = {"customers": {"c1": {}, "c2": {}}, "orders": {"o1": {}, "o2": {}, "o3": {}}}
    keys = strings_in({"order_id": "o3", "nested": [{"customer": "c2"}], "n": 1})
    assert keys == {"o3", "c2"}
    focused = focus_state(state, keys)
    assert focused == state
    assert list(focused["orders"]) == ["o3", "o1", "o2"]
    assert list(focused["customers"]) == ["c2", "c1"]


@pytest.mark.anyio
async def test_engine_errors_become_notifications(
    store: TraceStore, settings: Settings, runs: dict[str, str]
) -> None:
    async with tui(store, settings, run_id=runs["clean"]) as (app, pilot):
        assert app.screen.check_action("resume", ()) is False  # finished: no resume key
        app.resume(runs["clean"])  # called anyway: the worker fails, the app says why
        await wait_for(pilot, lambda: "already completed" in screen_text(app))
        assert "fork it instead" in screen_text(app)  # the error's hint


@pytest.mark.anyio
async def test_export_writes_a_suite_case(
    store: TraceStore, settings: Settings, runs: dict[str, str], tmp_path: Path
) -> None:
    from textual.widgets import Input

    pytest.importorskip("agentbox.suites")
    async with tui(store, settings, run_id=runs["approved"]) as (app, pilot):
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        app.focused.value = str(tmp_path / "suite")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "exported run" in screen_text(app))
    cases = list((tmp_path / "suite").glob("*.yaml"))
    assert [c.name for c in cases] == ["refund-over-limit.yaml"]
    assert runs["approved"] in cases[0].read_text()


@pytest.mark.anyio
@pytest.mark.parametrize("verdict", ["deny", None])
async def test_export_of_a_failing_run_warns_like_the_cli(
    store: TraceStore, settings: Settings, tmp_path: Path, verdict: str | None
) -> None:
    """Issue 19: `x` on a run that failed its expectations writes the case (as `agentbox
    export` does) and says, as a warning, that the case will fail; a passing run does not."""
    from textual.widgets import Input

    pytest.importorskip("agentbox.suites")
    run_id = run_scenario(store, settings, "refund-over-limit", verdict)  # deny: fails
    assert store.get_run(run_id).passed is (verdict is None)
    async with tui(store, settings, run_id=run_id) as (app, pilot):
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        app.focused.value = str(tmp_path / "suite")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "exported run" in screen_text(app))
        await pilot.pause()
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
    assert len(list((tmp_path / "suite").glob("*.yaml"))) == 1  # written either way
    if verdict is None:
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert f"run {run_id} did not meet its scenario's expectations" in warnings[0]
        assert "approvals" in warnings[0] and "will fail" in warnings[0]


@pytest.mark.anyio
async def test_state_tab_of_a_shadow_run_shows_the_shadow_diff(
    store: TraceStore, settings: Settings
) -> None:
    run_id = run_scenario(store, settings, "shadow-address")
    last = store.step_count(run_id) - 1
    async with tui(store, settings, run_id=run_id) as (app, pilot):
        await pilot.press("G", "2")  # the last step, the State tab
        await wait_for(pilot, lambda: "Shadow diff after step" in pane(app, "state"))
        state = pane(app, "state")
        assert f"Shadow diff after step {last} (the source is untouched)" in state
        assert "customers cus_1042 (update)" in state
        assert "5132 Highland Dr" in state and "88 Lake Shore Dr" in state  # before → after
