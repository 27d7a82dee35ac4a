"""Conversations in the terminal UI (issue 15): user turns in the timeline and panes, and
a fork that edits what the user says at a ``user`` step (Pilot)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agentbox.config import Settings, load_settings
from agentbox.runner import Runner, plan_run
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "tests" / "fixtures" / "conversation" / "refund_agent.py"


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


@asynccontextmanager
async def tui(store: TraceStore, settings: Settings, run_id: str) -> AsyncIterator[Any]:
    from agentbox.tui.app import AgentboxApp

    app = AgentboxApp(store, settings, run_id=run_id)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        yield app, pilot


async def wait_for(pilot: Any, condition: Callable[[], Any], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the UI")
        await pilot.pause(0.05)


def timeline_text(app: Any) -> str:
    from agentbox.tui.widgets.timeline import Timeline

    timeline = app.screen.query_one(Timeline)
    return "\n".join(
        str(timeline.render_line(y).text) for y in range(min(timeline.size.height, 30))
    )


def panes(app: Any) -> str:
    from agentbox.tui.widgets.text_pane import TextPane

    return "\n".join(str(p.plain) for p in app.screen.query(TextPane))


def cursor(app: Any) -> int:
    from agentbox.tui.widgets.timeline import Timeline

    return int(app.screen.query_one(Timeline).cursor)


def conversation_run(store: TraceStore, settings: Settings, tmp_path: Path) -> str:
    import yaml

    path = tmp_path / "conv.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "tui-conversation",
                "sandbox": "retail",
                "agent": {"type": "python", "entry": f"{AGENT}:run"},
                "input": "My jacket arrived damaged.",
                "user": ["ord_5531", "yes please"],
                "approvals": "approve",
            }
        )
    )
    return Runner(plan_run(path, settings), store).run().run_id


@pytest.mark.anyio
async def test_user_turns_show_and_a_fork_edits_one(
    store: TraceStore, settings: Settings, tmp_path: Path
) -> None:
    from textual.widgets import TextArea

    from agentbox.tui.screens.modals import ForkScreen
    from agentbox.tui.screens.run import RunScreen

    parent = conversation_run(store, settings, tmp_path)
    steps = store.steps(parent)
    second = [s for s in steps if s.kind == "user"][1]
    async with tui(store, settings, parent) as (app, pilot):
        await wait_for(pilot, lambda: "ord_5531" in timeline_text(app))
        lines = timeline_text(app).splitlines()
        assert "user" in lines[0] and "says: ord_5531" in lines[0]
        assert "yes please" in lines[second.idx]
        for _ in range(second.idx):
            await pilot.press("j")
        assert cursor(app) == second.idx
        await wait_for(pilot, lambda: "yes please" in panes(app))
        text = panes(app)
        assert "Agent said" in text and "User says (scripted)" in text
        assert text.index("Shall I refund it in full?") < text.index("yes please")

        await pilot.press("f")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ForkScreen) and app.screen.query("#fork-result"),
        )
        message = app.screen.query_one("#fork-result", TextArea)
        assert message.text == "yes please"
        message.text = "no, keep it"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run.id != parent
        )
        child = app.screen.run.id
        await wait_for(pilot, lambda: store.get_run(child).finished)
    run = store.get_run(child)
    assert (run.parent_id, run.fork_step) == (parent, second.idx)
    assert run.output == "Understood: no refund."
    fork = next(s for s in store.steps(child) if s.kind == "fork")
    assert fork.data["edits"] == {"message": "no, keep it"}
