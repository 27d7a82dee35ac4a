"""How fast the TUI opens and moves on a big store (headless, Textual's test driver).

Builds a trace store holding 10,000 runs and one run of 10,000 steps (model turns and
write tool calls with state patches, written straight through ``TraceStore``), then
measures, in a fresh process:

- opening the runs screen: from the process's first statement (before importing Textual
  and agentbox.tui) until the first page of runs is on screen, and the same from app
  start (imports done);
- opening the 10,000-step run screen (push until it is drawn);
- moving the cursor one step: key press until the last frame it caused was drawn
  (timeline and details), median and p95 over 50 moves, near the start and the end;
- jumping to the last step (``G``), and one ``n`` search across the whole run (worker).

Usage: python benchmarks/tui_open.py [--runs 10000] [--steps 10000] [--store PATH]
Targets (issue 6): runs screen < 1 s, run screen < 1 s, one step move < 50 ms.
"""

# ruff: noqa: E402 (the clock starts before the imports)
from __future__ import annotations

import time

T0 = time.perf_counter()  # before any import: the cold open counts Textual's import too

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ENV, warm_up

from agentbox.config import load_settings
from agentbox.sandbox.loader import state_hash
from agentbox.store import StepRow, TraceStore

ROOT = Path(__file__).resolve().parent.parent
SEED = {"records": {f"r{i}": {"id": f"r{i}", "count": 0, "note": "x" * 40} for i in range(200)}}


def _run_fields(run_id: str, started: float, status: str = "completed") -> dict[str, object]:
    return dict(
        id=run_id,
        scenario="bench-" + run_id[-3:],
        scenario_json={"name": "bench"},
        sandbox="bench",
        mode="execute",
        agent="llm",
        model="scripted",
        status=status,
        input="bench",
        started_at=started,
        ended_at=started + 1.5,
        pid=None,
        counters={"steps": 8, "tool_calls": 3, "holds": 0, "blocks": 0, "cost_usd": 0.0},
    )


def build_store(path: Path, runs: int, steps: int) -> str:
    """Fill ``path``; return the id of the long run."""
    store = TraceStore(path)
    digest = state_hash(SEED)
    store.put_blob(digest, SEED)
    now = time.time()
    for i in range(runs):
        store.create_run(**_run_fields(f"run{i:07d}", now - 10 * (runs - i)))
    long_id = "long0000001"
    store.create_run(**_run_fields(long_id, now - 5, status="completed"))
    store.add_checkpoint(long_id, -1, digest, "start")
    counters = {
        "steps": 0,
        "tool_calls": 0,
        "model_calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "cost_unknown": 0,
        "elapsed_s": 0.0,
    }
    for idx in range(steps):
        counters = {**counters, "steps": idx + 1, "elapsed_s": idx * 0.001}
        key = f"r{(idx // 2) % 200}"
        if idx % 2 == 0:
            counters["model_calls"] += 1
            counters["input_tokens"] += 120
            counters["output_tokens"] += 20
            step = StepRow(
                long_id,
                idx,
                "llm",
                "scripted",
                started_at=now,
                duration_s=0.0004,
                data={
                    "response": {
                        "text": None,
                        "reasoning": f"bump {key} again",
                        "tool_calls": [
                            {"id": f"c{idx}", "name": "bump", "arguments": {"key": key}}
                        ],
                    },
                    "request": {
                        "hash": "h",
                        "prefix": idx,
                        "delta": [{"role": "tool", "content": json.dumps({"key": key})}],
                    },
                },
                message={"role": "assistant", "content": None},
                input_tokens=120,
                output_tokens=20,
                cost_usd=0.0,
                counters=counters,
            )
        else:
            counters["tool_calls"] += 1
            step = StepRow(
                long_id,
                idx,
                "tool",
                "bump",
                started_at=now,
                duration_s=0.0002,
                data={
                    "tool": "bump",
                    "call_id": f"c{idx - 1}",
                    "args": {"key": key},
                    "effect": "write",
                    "valid": True,
                    "decision": {
                        "verdict": "allow",
                        "tier": "green",
                        "rule": None,
                        "reason": "no rule applies",
                    },
                    "result": json.dumps({"key": key, "count": idx // 400 + 1}),
                },
                patch=[{"op": "replace", "path": f"/records/{key}/count", "value": idx // 400 + 1}],
                counters=counters,
            )
        store.add_step(step)
    final = dict(counters, steps=steps + 1)
    store.add_step(
        StepRow(
            long_id,
            steps,
            "final",
            "completed",
            status="completed",
            data={"output": "done", "reason": None},
            counters=final,
        )
    )
    store.close()
    return long_id


class FrameClock:
    """Records when the current screen last drew a frame (compositor refresh)."""

    def __init__(self) -> None:
        self.last = 0.0

    def attach(self, screen: object) -> None:
        original = screen._compositor_refresh  # type: ignore[attr-defined]

        def refresh() -> None:
            original()
            self.last = time.perf_counter()

        screen._compositor_refresh = refresh  # type: ignore[attr-defined]


async def measure(path: Path, long_id: str) -> dict[str, float]:
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.run import RunScreen
    from agentbox.tui.screens.runs import RunsScreen
    from agentbox.tui.widgets.timeline import Timeline

    out: dict[str, float] = {}
    store = TraceStore(path)
    app = AgentboxApp(store, load_settings(ROOT))
    clock = FrameClock()
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        while not isinstance(app.screen, RunsScreen) or not app.screen.loaded:
            await pilot.pause()
        clock.attach(app.screen)
        await pilot.pause()
        out["runs screen open, from process start (s)"] = clock.last - T0
        out["runs screen open, after imports (s)"] = clock.last - started
        t = time.perf_counter()
        app.open_run(long_id)
        while not isinstance(app.screen, RunScreen):
            await pilot.pause()
        screen = app.screen
        clock.attach(screen)
        await pilot.pause()
        await pilot.pause()
        out["run screen open, 10k steps (s)"] = clock.last - t
        timeline = screen.query_one(Timeline)

        async def moves(key: str, n: int = 50) -> list[float]:
            """Key press -> last frame drawn for it (excludes Pilot's idle waits after)."""
            times = []
            for _ in range(n):
                before = timeline.cursor
                t = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                assert timeline.cursor != before
                times.append(clock.last - t)
            return times

        def report(name: str, times: list[float]) -> None:
            ordered = sorted(times)
            out[f"{name}, median (ms)"] = statistics.median(times) * 1000
            out[f"{name}, p95 (ms)"] = ordered[int(0.95 * (len(ordered) - 1))] * 1000

        report("step move near start", await moves("j"))
        t = time.perf_counter()
        await pilot.press("G")
        await pilot.pause()
        out["jump to last step G (ms)"] = (clock.last - t) * 1000
        report("step move near end", await moves("k"))
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(screen, RunScreen)
        t = time.perf_counter()
        screen.query_text = "final"
        await pilot.press("n")
        while timeline.cursor == 0:
            await pilot.pause()
        await pilot.pause()
        out["search 'final' across the run (s)"] = clock.last - t
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="Keep the built store here (default: a temporary folder).",
    )
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)  # PATH RUN_ID
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(Path(args.measure[0]), args.measure[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "bench.db"
        path.unlink(missing_ok=True)
        t = time.perf_counter()
        long_id = build_store(path, args.runs, args.steps)
        print(
            f"built {args.runs} runs + one {args.steps}-step run in "
            f"{time.perf_counter() - t:.1f} s ({path.stat().st_size / 1e6:.1f} MB)"
        )
        # a fresh process: its clock starts before it imports Textual or agentbox.tui
        argv = [sys.executable, __file__, "--measure", str(path), long_id]
        warm_up(argv)  # bytecode caches written, as on a developer's machine
        out = subprocess.run(argv, check=True, capture_output=True, text=True, env=ENV).stdout
        results = json.loads(out.strip().splitlines()[-1])
    targets = {
        "runs screen open, from process start (s)": 1.0,
        "run screen open, 10k steps (s)": 1.0,
        "step move near start, median (ms)": 50.0,
        "step move near end, median (ms)": 50.0,
    }
    print("(times are key press / call -> the last frame it caused, headless at 120x40)")
    for name, value in results.items():
        target = targets.get(name)
        verdict = "" if target is None else ("  ok" if value < target else f"  OVER {target}")
        print(f"{name:<38} {value:9.3f}{verdict}")


if __name__ == "__main__":
    main()
