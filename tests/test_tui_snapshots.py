"""SVG snapshots of the TUI from fixed fixture data at a fixed terminal size.

The fixture store is built from real runs of the shipped scenarios, re-stored under fixed
run ids and timestamps so the pictures are deterministic. To accept a deliberate change:
``AGENTBOX_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_tui_snapshots.py`` and review the
SVG files in ``tests/snapshots/``.

Why not pytest-textual-snapshot's ``snap_compare``: its current release (1.1.0) pins
``syrupy==4.8.0``, which requires ``pytest<9`` (we run pytest 9), and the release pip picks
with pytest 9 (1.0.0) stores snapshots in another format and is no longer maintained. The
comparison here is the same idea (``export_screenshot`` SVG, byte-equal) in a few lines;
revisit when a pytest-textual-snapshot release supports pytest 9.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentbox.approvals import fixed_approver
from agentbox.config import load_settings
from agentbox.runner import Runner, plan_run
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZE = (110, 32)
T0 = 1_795_000_000.0  # a fixed start time for every fixture run


@pytest.fixture()
def fixture_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_store: Callable[..., TraceStore]
) -> TraceStore:
    monkeypatch.setenv("TZ", "UTC")
    settings = load_settings(ROOT)
    scratch = open_store(tmp_path / "scratch.db")
    runs = [
        ("run0000001", "refund-clean", None),
        ("run0000002", "prompt-injection", None),
        ("run0000003", "refund-over-limit", "park"),
    ]
    store = open_store(tmp_path / "fixture.db")
    for n, (run_id, name, verdict) in enumerate(runs):
        approver = fixed_approver(verdict) if verdict else None  # type: ignore[arg-type]
        result = Runner(
            plan_run(ROOT / "scenarios" / f"{name}.yaml", settings), scratch, approver=approver
        ).run()
        run = scratch.get_run(result.run_id)
        fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
        fields.update(
            id=run_id,
            started_at=T0 + n,
            pid=None,
            scenario_path=None,
            sandbox_path=None,
            ended_at=None if verdict else T0 + n + 0.5,
        )
        fields["counters"] = {**run.counters, "elapsed_s": 0.5}
        store.create_run(**fields)
        for idx in range(-1, run.counters.get("steps", 0)):  # the state checkpoints (fork)
            point = scratch.checkpoint_before(run.id, idx)
            if point is not None and point[0] == idx:
                store.put_blob(point[1], scratch.get_blob(point[1]))
                store.add_checkpoint(run_id, idx, point[1])
        for step in scratch.steps(run.id):
            counters = {**step.counters, "elapsed_s": 0.01 * step.idx}
            data = step.data
            if "approval_id" in data:  # approval ids are random: pin them too
                data = {**data, "approval_id": f"ap_{run_id[-4:]}{step.idx:04d}"}
                approval = scratch.get_approval(step.data["approval_id"])
                store.add_approval(
                    data["approval_id"],
                    run_id,
                    step.idx,
                    approval.tool,
                    approval.args,
                    approval.rule,
                    approval.reason,
                )
            store.add_step(
                dataclasses.replace(
                    step,
                    run_id=run_id,
                    started_at=T0 + n,
                    duration_s=0.001,
                    counters=counters,
                    data=data,
                )
            )
    return store


def _check(name: str, svg: str) -> None:
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("AGENTBOX_UPDATE_SNAPSHOTS") or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        if not os.environ.get("AGENTBOX_UPDATE_SNAPSHOTS"):
            pytest.fail(f"{path} did not exist and was written; review it and run again")
    assert svg == path.read_text(encoding="utf-8"), (
        f"{name} differs from {path}; if the change is intended, update with "
        "AGENTBOX_UPDATE_SNAPSHOTS=1"
    )


async def _shot(
    store: TraceStore,
    run_id: str | None,
    keys: list[str],
    size: tuple[int, int] = SIZE,
    until: Any = None,
) -> str:
    from textual.widgets import TextArea

    from agentbox.tui.app import AgentboxApp

    app: Any = AgentboxApp(store, load_settings(ROOT), run_id=run_id)
    async with app.run_test(size=size) as pilot:
        await _settle(app, pilot)
        for key in keys:
            await pilot.press(key)
            await _settle(app, pilot)
        for _ in range(100):  # a screen a worker opens (the fork dialog)
            if until is None or isinstance(app.screen, until):
                break
            await pilot.pause(0.05)
        assert until is None or isinstance(app.screen, until), (
            f"{until.__name__} did not open: {[n.message for n in app._notifications]}"
        )
        for area in app.screen.query(TextArea):
            area.cursor_blink = False  # a blinking cursor would make the picture flaky
        await _settle(app, pilot)
        return str(app.export_screenshot(title="agentbox"))


async def _settle(app: Any, pilot: Any) -> None:
    """Wait until the app is idle: pending messages handled, workers finished (loading
    state, search...), scheduled animations run, and the messages those posted handled."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.anyio
async def test_runs_screen_snapshot(fixture_store: TraceStore) -> None:
    _check("runs_screen", await _shot(fixture_store, None, []))


@pytest.mark.anyio
async def test_run_screen_blocked_call_snapshot(fixture_store: TraceStore) -> None:
    _check("run_blocked_call", await _shot(fixture_store, "run0000002", ["g", "j", "j", "j"]))


@pytest.mark.anyio
async def test_run_screen_held_call_snapshot(fixture_store: TraceStore) -> None:
    _check("run_held_call", await _shot(fixture_store, "run0000003", []))


# ---- 80x24: a laptop split or an SSH session (issue 19) ------------------------------
SMALL = (80, 24)


@pytest.mark.anyio
async def test_runs_screen_80x24_snapshot(fixture_store: TraceStore) -> None:
    _check("runs_screen_80x24", await _shot(fixture_store, None, [], SMALL))


@pytest.mark.anyio
async def test_run_screen_held_call_80x24_snapshot(fixture_store: TraceStore) -> None:
    _check("run_held_call_80x24", await _shot(fixture_store, "run0000003", [], SMALL))


@pytest.mark.anyio
async def test_help_modal_80x24_snapshot(fixture_store: TraceStore) -> None:
    from agentbox.tui.screens.modals import HelpScreen

    shot = await _shot(fixture_store, "run0000003", ["question_mark"], SMALL, HelpScreen)
    _check("help_80x24", shot)


@pytest.mark.anyio
async def test_fork_dialog_80x24_snapshot(fixture_store: TraceStore) -> None:
    from agentbox.tui.screens.modals import ForkScreen

    shot = await _shot(fixture_store, "run0000003", ["g", "j", "f"], SMALL, ForkScreen)
    _check("fork_dialog_80x24", shot)
