"""Replay cost versus the original run (issue: replay and fork).

1. A scripted scenario of N tool-call turns is run, then replayed from its cassette
   (``agentbox.lifecycle.replay_run``: model answers from the recording, tools executed
   for real, step lists compared). Prints wall time per step for both and the ratio
   (target, issue 16: replay within 1.2x of the original run).
2. If tau-bench's data is beside the repo, all 115 retail tasks are run and then replayed.

Usage: python benchmarks/replay_overhead.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from agentbox.config import Settings, load_settings
from agentbox.lifecycle import replay_run
from agentbox.runner import Runner, RunOptions, plan_run
from agentbox.store import TraceStore

sys.path.insert(0, str(Path(__file__).parent))
from run_overhead import make_project

ROOT = Path(__file__).resolve().parent.parent
TAU = ROOT.parent / "shared" / "external" / "tau-bench" / "retail"


def scripted(steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = make_project(root, 100, 100, steps)
        settings = Settings(root=root)
        store = TraceStore(root / "traces.db")
        t = time.perf_counter()
        result = Runner(plan_run(scenario, settings), store).run()
        original = time.perf_counter() - t
        n = store.step_count(result.run_id)
        t = time.perf_counter()
        rep = replay_run(store, result.run_id, settings)
        replay = time.perf_counter() - t
        assert rep.identical, rep.differences[:3]
        print(
            f"scripted, {n} steps: run {original / n * 1000:.3f} ms/step, replay "
            f"{replay / n * 1000:.3f} ms/step (incl. comparing both step lists) "
            f"-> {replay / original:.2f}x (target <= 1.2x)"
        )


def tau() -> None:
    if not TAU.is_dir():
        print(f"tau-bench data not found at {TAU}: skipped")
        return
    settings = load_settings(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        store = TraceStore(Path(tmp) / "traces.db")
        task_file = ROOT / "sandboxes" / "tau_retail" / "task.yaml"
        t = time.perf_counter()
        ids = [
            Runner(plan_run(task_file, settings, RunOptions(task=i)), store).run().run_id
            for i in range(115)
        ]
        original = time.perf_counter() - t
        steps = sum(store.step_count(i) for i in ids)
        t = time.perf_counter()
        same = sum(replay_run(store, i, settings).identical for i in ids)
        replay = time.perf_counter() - t
        print(
            f"tau-bench retail, 115 tasks / {steps} steps: run {original:.2f} s, replay "
            f"{replay:.2f} s ({replay / steps * 1000:.3f} ms/step), {same}/115 identical"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    scripted(args.steps)
    tau()


if __name__ == "__main__":
    main()
