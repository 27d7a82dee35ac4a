"""How fast the TUI's fork dialog opens (headless, Textual's test driver), at 80x24.

Runs scenarios/refund-over-limit.yaml (the retail seed: 820 orders, 130 customers, ...)
into a temporary store, opens it in the TUI, and times ``f`` on each step: key press
until the fork dialog is on screen with its first box focused (the state before the
step is rebuilt in a worker, then the dialog mounts its editors). Prints the median and
the worst over ``--repeat`` rounds.

Usage: python benchmarks/tui_fork_open.py [--repeat 5]
Target (issue 19): < 200 ms (it took 2-4 s when the dialog held the whole state).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from agentbox.config import load_settings
from agentbox.runner import Runner, plan_run
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent


async def measure(
    store: TraceStore, run_id: str, repeat: int
) -> tuple[dict[int, list[float]], list[float]]:
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.modals import ForkScreen

    app = AgentboxApp(store, load_settings(ROOT), run_id=run_id)
    times: dict[int, list[float]] = {}
    cpu: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        steps = store.step_count(run_id)
        for _ in range(repeat):
            await pilot.press("g")
            for idx in range(steps - 1):  # not the final step
                started, cpu_started = time.perf_counter(), time.process_time()
                await pilot.press("f")
                while not (isinstance(app.screen, ForkScreen) and app.focused is not None):
                    await asyncio.sleep(0.001)
                await pilot.pause()  # its first frame drawn
                times.setdefault(idx, []).append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
                await pilot.press("escape")
                await pilot.pause()
                await pilot.press("j")
    return times, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = TraceStore(Path(tmp) / "t.db")
        settings = load_settings(ROOT)
        plan = plan_run(ROOT / "scenarios" / "refund-over-limit.yaml", settings)
        run_id = Runner(plan, store).run().run_id
        times, cpu = asyncio.run(measure(store, run_id, args.repeat))
        every = [t for ts in times.values() for t in ts]
        for idx, ts in times.items():
            step = store.steps(run_id, idx, idx + 1)[0]
            print(
                f"step {idx} {step.kind:<8} {step.name or '':<16} "
                f"median {statistics.median(ts) * 1000:6.1f} ms  worst {max(ts) * 1000:6.1f} ms"
            )
        load = os.getloadavg()[0]
        print(
            f"fork dialog open (80x24, retail seed): median {statistics.median(every) * 1000:.1f} ms,"
            f" worst {max(every) * 1000:.1f} ms over {len(every)} opens (target < 200 ms;"
            f" load average {load:.1f} on {os.cpu_count()} CPUs)"
        )
        print(
            f"CPU time of this process per open (what other load does not inflate): median "
            f"{statistics.median(cpu) * 1000:.1f} ms, worst {max(cpu) * 1000:.1f} ms"
        )
        store.close()


if __name__ == "__main__":
    main()
