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

import agentbox

sys.path.insert(0, str(Path(__file__).parent))
from run_overhead import make_project

ROOT = Path(__file__).resolve().parent.parent
TAU = ROOT.parent / "shared" / "external" / "tau-bench" / "retail"


def scripted(steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = make_project(root, 100, 100, steps)
        store = agentbox.open_store(root / "traces.db")
        t = time.perf_counter()
        result = agentbox.run(scenario, store=store, root=root)
        original = time.perf_counter() - t
        n = len(store.steps(result.run_id))
        t = time.perf_counter()
        rep = agentbox.replay(result.run_id, store=store, root=root)
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
    with tempfile.TemporaryDirectory() as tmp:
        store = agentbox.open_store(Path(tmp) / "traces.db")
        task_file = ROOT / "sandboxes" / "tau_retail" / "task.yaml"
        t = time.perf_counter()
        ids = [agentbox.run(task_file, store=store, task=i, root=ROOT).run_id for i in range(115)]
        original = time.perf_counter() - t
        steps = sum(len(store.steps(i)) for i in ids)
        t = time.perf_counter()
        same = sum(agentbox.replay(i, store=store, root=ROOT).identical for i in ids)
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
