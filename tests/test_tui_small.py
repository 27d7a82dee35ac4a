"""The TUI at 80x24 (issue 19, item 3): runs columns drop in priority order, the Action
pane scrolls with the keys the help names, the help fits, and the fork dialog's focus
order is the tool result, the state, then the buttons (Tab never indents)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_tui import run_scenario, screen_text, tui, wait_for

from agentbox.config import Settings, load_settings
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent
SMALL = (80, 24)


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture()
def settings() -> Settings:
    return load_settings(ROOT)


@pytest.fixture()
def store(tmp_path: Path) -> Any:
    trace = TraceStore(tmp_path / "traces.db")
    yield trace
    trace.close()


def test_columns_drop_in_priority_order() -> None:
    from agentbox.tui.screens.runs import COLUMNS, columns_for

    assert columns_for(200) == COLUMNS
    narrow = columns_for(80)
    assert narrow[:3] == ("run", "status", "scenario") and "cost" in narrow
    assert "took" not in narrow and "started" not in narrow
    assert columns_for(60) == ("run", "status", "scenario", "cost")


@pytest.mark.anyio
async def test_runs_table_fits_80_columns_and_grows_back(
    store: TraceStore, settings: Settings
) -> None:
    from textual.widgets import DataTable

    run_scenario(store, settings, "refund-clean")
    async with tui(store, settings, size=SMALL) as (app, pilot):
        table = app.screen.query_one(DataTable)
        shown = [str(c.label) for c in table.columns.values()]
        assert "cost" in shown and "took" not in shown
        assert "$0.0000" in screen_text(app)  # the cost is not clipped to "cos…"
        await pilot.resize_terminal(160, 30)
        await pilot.pause()
        assert "took" in [str(c.label) for c in table.columns.values()]


@pytest.mark.anyio
async def test_action_pane_scrolls_with_the_keys_the_help_names(
    store: TraceStore, settings: Settings
) -> None:
    from agentbox.tui.screens.modals import HelpScreen
    from agentbox.tui.widgets.text_pane import TextPane

    run_id = run_scenario(store, settings, "refund-over-limit", "park")
    async with tui(store, settings, run_id=run_id, size=SMALL) as (app, pilot):
        await wait_for(pilot, lambda: "HELD" in screen_text(app))
        assert "decision pending" not in screen_text(app)  # below the fold
        action = app.screen.query_one("#action", TextPane)
        await pilot.press("J", "J", "J")
        await pilot.pause()
        assert action.scroll_y > 0
        assert "decision pending" in screen_text(app)
        await pilot.press("K", "K", "K")
        await pilot.pause()
        assert action.scroll_y == 0
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "scroll the Action/State pane down" in text
        assert "escape closes" in text  # the whole dialog is on screen
        dialog = app.screen.query_one("#help-dialog")
        assert dialog.region.y >= 0 and dialog.region.bottom <= SMALL[1]
        await pilot.press("G")  # help scrolls to its end: the app's own keys
        for _ in range(8):
            await pilot.press("j")
        await pilot.pause()
        assert "after a run id" in screen_text(app) or "quit" in screen_text(app)


@pytest.mark.anyio
async def test_fork_dialog_focus_order_and_no_tab_indent(
    store: TraceStore, settings: Settings
) -> None:
    from textual.widgets import Button, TextArea

    from agentbox.tui.screens.modals import ForkScreen

    run_id = run_scenario(store, settings, "refund-clean")
    async with tui(store, settings, run_id=run_id, size=SMALL) as (app, pilot):
        await pilot.press("j")  # step 1: get_order, a tool step
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkScreen), timeout=15)
        await pilot.pause()
        assert app.focused.id == "fork-result"  # the tool result first
        state = app.screen.query_one("#fork-state", TextArea)
        before = state.text
        assert '"ord_5120"' in before and '"ord_5531"' not in before  # only what it is about
        await pilot.press("tab")
        assert app.focused is state
        await pilot.press("tab")
        assert state.text == before  # tab moved on, it did not indent
        assert isinstance(app.focused, Button) and app.focused.id == "fork-ok"
        await pilot.press("shift+tab", "shift+tab")
        assert app.focused.id == "fork-result"


class DialogFrames:
    """What the fork dialog looked like in each frame drawn while it was the screen."""

    def __init__(self, app: Any) -> None:
        import gc

        from agentbox.tui.screens.modals import ForkScreen

        self.seen: list[tuple[Any, ...]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if isinstance(screen, ForkScreen) and screen is app.screen:
                self.seen.append((gc.isenabled(), self.layout(screen)))

        app._display = display

    @staticmethod
    def layout(screen: Any) -> tuple[Any, ...]:
        from textual.widgets import TextArea

        return tuple(
            (w.id, w.region, w.virtual_size, w.wrapped_document.height)
            for w in screen.query("#fork-dialog TextArea")
            if isinstance(w, TextArea)
        )


@pytest.mark.anyio
async def test_fork_dialog_first_frame_is_its_final_layout(
    store: TraceStore, settings: Settings
) -> None:
    """The wrapped tool result is laid out at its height in the dialog's first frame (it
    was drawn one line high, then laid out and drawn again: the open took longer), and
    no garbage collection runs before that frame (it then runs again)."""
    import gc

    from agentbox.tui.screens.modals import ForkScreen

    run_id = run_scenario(store, settings, "refund-clean")
    async with tui(store, settings, run_id=run_id, size=SMALL) as (app, pilot):
        await pilot.press("j")  # step 1: get_order, a long one-line JSON result
        frames = DialogFrames(app)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkScreen), timeout=15)
        await pilot.pause(0.2)
        final = DialogFrames.layout(app.screen)
        result = dict((w, (r, v, h)) for w, r, v, h in final)["fork-result"]
        assert result[0].height > 3 and result[2] > 1  # wrapped over several lines
        gc_on_at_first_frame, first = frames.seen[0]
        assert first == final
        assert not gc_on_at_first_frame
        await wait_for(pilot, gc.isenabled, timeout=5)


@pytest.mark.anyio
async def test_fork_dialog_that_cannot_open_says_why(
    store: TraceStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the state before the step failed: the fork key did nothing at all (the
    worker's failure did not reach the app), and the garbage collector stayed held."""
    import gc

    import agentbox.checkpoints
    from agentbox.errors import StoreError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("run r1 has no state checkpoint at or before step 0")

    run_id = run_scenario(store, settings, "refund-clean")
    monkeypatch.setattr(agentbox.checkpoints, "state_at", broken)
    async with tui(store, settings, run_id=run_id, size=SMALL) as (app, pilot):
        await pilot.press("j", "f")
        await wait_for(pilot, lambda: "no state checkpoint" in screen_text(app))
        assert "failed" in screen_text(app)
        await wait_for(pilot, gc.isenabled, timeout=5)


@pytest.mark.anyio
async def test_fork_dialog_at_a_fork_step_shows_the_records_the_fork_is_about(
    store: TraceStore, settings: Settings
) -> None:
    """Forking a fork at its fork step showed an empty ``{}`` state (the step names no
    record): it shows the records its edits name, or those the next steps use."""
    from textual.widgets import TextArea

    from agentbox.lifecycle import ForkEdits, fork_run
    from agentbox.tui.screens.modals import ForkScreen

    run_id = run_scenario(store, settings, "refund-clean")
    edited = ForkEdits(tool_result='{"id": "ord_5120", "status": "shipped"}')
    fork_id = fork_run(store, run_id, 1, settings, edited).run_id  # fork step: step 1
    moved = ForkEdits(set_values={"customers.cus_1007.name": "Ada"})
    set_id = fork_run(store, run_id, 0, settings, moved).run_id  # fork step: step 0
    for run, keys, about in ((fork_id, ["g", "j"], '"ord_5120"'), (set_id, ["g"], '"cus_1007"')):
        async with tui(store, settings, run_id=run, size=SMALL) as (app, pilot):
            await pilot.press(*keys, "f")
            await wait_for(pilot, lambda: isinstance(app.screen, ForkScreen), timeout=15)
            assert "(fork edit)" in str(app.screen.title_text)
            state = app.screen.query_one("#fork-state", TextArea).text
            assert about in state, state
    talk = run_scenario(store, settings, "conversation-refund")  # step 0 only says hello
    async with tui(store, settings, run_id=talk, size=SMALL) as (app, pilot):
        await pilot.press("g", "f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkScreen), timeout=15)
        assert '"ord_5531"' in app.screen.query_one("#fork-state", TextArea).text
        assert "the records step 2 uses" in screen_text(app)


def test_step_mentions_at_a_fork_step() -> None:
    from agentbox.store import StepRow
    from agentbox.tui.actions import step_mentions

    def step(kind: str, data: dict[str, Any]) -> StepRow:
        return StepRow("r", 0, kind, "edit", "ok", 0.0, None, data)

    fork = step("fork", {"edits": {"set_values": {"orders.o1.status": "x"}, "message": "hi"}})
    assert {"o1", "hi"} <= step_mentions(fork)
    result = step("fork", {"edits": {"tool_result": '{"id": "o2", "items": [{"sku": "s"}]}'}})
    assert {"o2", "s"} <= step_mentions(result)
    assert step_mentions(step("llm", {"text": "Hello"})) == set()


def test_fork_edits_of_a_partial_state_add_and_remove_records(tmp_path: Path) -> None:
    import json

    from agentbox.tui.actions import fork_edits, state_subset

    before = {"orders": {"o1": {"status": "a"}, "o2": {"status": "b"}}, "notes": {}}
    shown = state_subset(before, {"o1"})
    assert shown == {"orders": {"o1": {"status": "a"}}}
    edited = {"orders": {"o1": {"status": "c"}}}
    edits = fork_edits(before, json.dumps(edited), None, None, tmp_path / "w", shown)
    assert edits.set_values == {"orders.o1.status": "c"} and edits.state_file is None
    edited = {"orders": {}, "notes": {"n1": {"text": "new"}}}  # o1 removed, n1 added
    edits = fork_edits(before, json.dumps(edited), None, None, tmp_path / "w", shown)
    assert edits.state_file is not None
    whole = json.loads(edits.state_file.read_text())
    assert whole == {"orders": {"o2": {"status": "b"}}, "notes": {"n1": {"text": "new"}}}
