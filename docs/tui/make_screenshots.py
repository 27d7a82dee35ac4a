"""Regenerate the README walkthrough's TUI screenshots (SVG, 80x24) in this folder.

The same machinery as the snapshot tests (``tests/test_tui_snapshots.py``): Textual's
headless driver and ``export_screenshot``, over a store holding the walkthrough's runs
(``docs/walkthrough/late-order.yaml`` and its fork) re-stored under fixed ids and times.

Usage: python docs/tui/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentbox.config import load_settings
from agentbox.lifecycle import ForkEdits, fork_run
from agentbox.runner import Runner, plan_run
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
T0 = 1_795_000_000.0
DELIVERED = '{"id": "ord_5771", "status": "delivered"}'


def build(folder: Path) -> TraceStore:
    """The failing run (``late000001``) and its fork (``late000002``), fixed ids/times."""
    settings = load_settings(ROOT)
    scratch = TraceStore(folder / "scratch.db")
    plan = plan_run(ROOT / "docs" / "walkthrough" / "late-order.yaml", settings)
    failing = Runner(plan, scratch).run().run_id
    forked = fork_run(scratch, failing, 0, settings, ForkEdits(tool_result=DELIVERED)).run_id
    store = TraceStore(folder / "docs.db")
    ids = {failing: "late000001", forked: "late000002"}
    for n, old in enumerate((failing, forked)):
        run = scratch.get_run(old)
        fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
        fields.update(
            id=ids[old],
            started_at=T0 + n,
            ended_at=T0 + n + 0.3,
            pid=None,
            scenario_path=None,
            sandbox_path=None,
            parent_id=ids.get(run.parent_id or ""),
            counters={**run.counters, "elapsed_s": 0.3},
        )
        store.create_run(**fields)
        for point in (-1, 0):
            found = scratch.checkpoint_before(old, point)
            if found is not None and found[0] == point:
                store.put_blob(found[1], scratch.get_blob(found[1]))
                store.add_checkpoint(ids[old], point, found[1])
        for step in scratch.steps(old):
            data = step.data
            if step.kind == "fork":
                data = {**data, "parent_id": ids[failing]}
            store.add_step(
                dataclasses.replace(
                    step,
                    run_id=ids[old],
                    started_at=T0 + n,
                    duration_s=0.001,
                    counters={**step.counters, "elapsed_s": 0.01 * step.idx},
                    data=data,
                )
            )
    scratch.close()
    return store


async def shot(
    store: TraceStore,
    name: str,
    run_id: str | None,
    keys: list[str],
    until: type | None = None,
    then: Callable[[Any], None] | None = None,
) -> None:
    from textual.widgets import TextArea

    from agentbox.tui.app import AgentboxApp

    app: Any = AgentboxApp(store, load_settings(ROOT), run_id=run_id)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.2)
        for _ in range(100):
            if until is None or isinstance(app.screen, until):
                break
            await pilot.pause(0.05)
        if then is not None:
            then(app)
        for area in app.screen.query(TextArea):
            area.cursor_blink = False
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        svg = app.export_screenshot(title=f"agentbox — {name}")
    (OUT / f"{name}.svg").write_text(svg, encoding="utf-8")
    print(f"wrote {OUT / name}.svg")


async def main() -> None:
    from textual.widgets import TextArea

    from agentbox.tui.screens.modals import ForkScreen, HelpScreen

    os.environ["TZ"] = "UTC"
    with tempfile.TemporaryDirectory() as tmp:
        store = build(Path(tmp))

        def edit(app: Any) -> None:
            app.screen.query_one("#fork-result", TextArea).text = DELIVERED

        await shot(store, "runs", None, [])
        await shot(store, "failing-run", "late000001", ["g"])
        await shot(store, "fork-dialog", "late000001", ["g", "f"], ForkScreen, edit)
        await shot(store, "forked-run", "late000002", ["g", "j"])
        await shot(store, "help", "late000001", ["question_mark"], HelpScreen)
        store.close()


if __name__ == "__main__":
    asyncio.run(main())
