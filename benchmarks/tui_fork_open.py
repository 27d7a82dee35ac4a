"""How fast the TUI's fork dialog opens (headless, Textual's test driver), at 80x24.

Runs scenarios/refund-over-limit.yaml (the retail seed: 820 orders, 130 customers, ...)
into a temporary store, opens the run in the TUI and presses ``f`` on each step but the
final one, ``--repeat`` times over.

One open is timed from the key event handed to the app (as a terminal's input thread
hands it) to the end of the first frame drawn in which the fork dialog is the active
screen, laid out as it stays (every widget where the last frame of that open has it,
with the same scroll size and wrapped lines: no box still to grow, move or rewrap) and
with its first box (the tool result at a tool or user step, else the state) focused:
from then on the user sees the dialog as it is and what they type lands in that box.
This includes rebuilding the state before the step (a worker), building and laying out
the dialog, and turning the frame into terminal escape sequences (the step Textual's
headless mode skips; the benchmark does it, as a real terminal's driver would). It
excludes Pilot's idle waits after the press (the previous version of this benchmark
counted them, and the frames and collections after the first usable one). The CPU
time is this process's (all threads) over the same span: other load on a shared
machine inflates it much less than the wall time.

Prints min/median/max per step kind and over every open, and the first open alone
(it imports the dialog's widgets).

Usage: python benchmarks/tui_fork_open.py [--repeat 3] [--profile FILE]
(``--profile``: a cProfile of the opens only, for ``python -m pstats FILE``)
Target (issue 19): < 200 ms (it took 2-4 s when the dialog held the whole state).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import spread

from agentbox.config import load_settings
from agentbox.runner import Runner, plan_run
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent


class Frames:
    """Every frame drawn while the fork dialog is the active screen: when, and its layout."""

    def __init__(self, app: Any) -> None:
        from textual._compositor import CompositorUpdate

        from agentbox.tui.screens.modals import ForkScreen

        self.app = app
        self.seen: list[tuple[float, float, tuple[object, ...]]] = []
        """``(perf_counter, process_time, layout)`` per frame drawn."""
        self.first = asyncio.Event()
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if not (isinstance(screen, ForkScreen) and screen is app.screen):
                return
            if isinstance(renderable, CompositorUpdate):  # what a terminal driver writes
                renderable.render_segments(app.console)
            self.seen.append((time.perf_counter(), time.process_time(), self.layout(screen)))
            self.first.set()

        app._display = display

    def reset(self) -> None:
        """Forget the frames seen so far (before the next open)."""
        self.seen.clear()
        self.first.clear()

    @staticmethod
    def layout(screen: Any) -> tuple[object, ...]:
        """The focused box, where each widget of the dialog sits and what it scrolls over,
        and how each text box has wrapped its text (a box shows its text unwrapped until
        it has handled its first resize)."""
        from textual.widgets import TextArea

        focused = screen.focused
        return (
            focused.id if focused is not None else None,
            *(
                (
                    w.id,
                    w.region,
                    w.virtual_size,
                    w.scroll_offset,
                    w.wrapped_document.height if isinstance(w, TextArea) else None,
                )
                for w in screen.query("#fork-dialog *")
            ),
        )

    def usable(self) -> tuple[float, float]:
        """When the first frame showing the dialog as it stays was drawn: the layout of
        the last frame (what the user ends up seeing), with a box focused."""
        final = self.layout(self.app.screen)
        assert final[0] in ("fork-result", "fork-state"), final
        return next((t, cpu) for t, cpu, layout in self.seen if layout == final)


async def measure(
    store: TraceStore, run_id: str, repeat: int, profiler: Any = None
) -> list[tuple[str, float, float]]:
    """``(step kind, wall s, CPU s)`` per open; ``profiler`` (a ``cProfile.Profile``) runs
    from each key press until its dialog is settled."""
    from textual import events

    from agentbox.tui.app import AgentboxApp

    app = AgentboxApp(store, load_settings(ROOT), run_id=run_id)
    out: list[tuple[str, float, float]] = []
    steps = store.steps(run_id, 0, store.step_count(run_id))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        frames = Frames(app)
        for _ in range(repeat):
            await pilot.press("g")
            for step in steps[:-1]:  # not the final step
                await pilot.pause(0.05)
                frames.reset()
                started, cpu_started = time.perf_counter(), time.process_time()
                if profiler is not None:
                    profiler.enable()
                app._driver.send_message(events.Key("f", "f"))
                await asyncio.wait_for(frames.first.wait(), 30)
                await pilot.pause(0.1)  # later frames of the same open (within its blink)
                await pilot.pause()
                if profiler is not None:
                    profiler.disable()
                at, cpu = frames.usable()
                out.append((step.kind, at - started, cpu - cpu_started))
                await pilot.press("escape")
                await pilot.press("j")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the opens here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = TraceStore(Path(tmp) / "t.db")
        settings = load_settings(ROOT)
        plan = plan_run(ROOT / "scenarios" / "refund-over-limit.yaml", settings)
        run_id = Runner(plan, store).run().run_id
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        opens = asyncio.run(measure(store, run_id, args.repeat, profiler))
        if profiler is not None:
            profiler.dump_stats(args.profile)
        store.close()
    ms = "{:.0f}"
    for kind in sorted({k for k, _, _ in opens}):
        wall = [w * 1000 for k, w, _ in opens if k == kind]
        cpu = [c * 1000 for k, _, c in opens if k == kind]
        print(
            f"  at a {kind:<8} step: {len(wall):2} opens, wall {spread(wall, ms)} ms,"
            f" CPU {spread(cpu, ms)} ms (min/median/max)"
        )
    wall = [w * 1000 for _, w, _ in opens]
    cpu = [c * 1000 for _, _, c in opens]
    print(
        f"fork dialog open (80x24, retail seed), key press to the dialog drawn and focused, {len(wall)}"
        f" opens: wall {spread(wall, ms)} ms, CPU {spread(cpu, ms)} ms (min/median/max;"
        f" target < 200 ms; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(f"  the first open of this process (imports the dialog's widgets): {wall[0]:.0f} ms")


if __name__ == "__main__":
    main()
