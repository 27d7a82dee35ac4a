"""Replay cost versus the original run (issue: replay and fork).

1. A scripted scenario of N tool-call turns is run, then replayed from its cassette
   (``agentbox.replay``: the run's plan rebuilt, model answers from the recording, tools
   executed for real, both step lists compared), in one process warmed up by a short run
   first (imports and first-use caches are not charged to either). Each of ``--repeats``
   rounds uses a new project and store. Prints, per step, the wall and CPU seconds
   (user + sys) of both and their ratios, medians over the rounds (target, issue 16:
   replay within 1.2x of the original run).
2. If tau-bench's data is beside the repo, all 115 retail tasks are run and then replayed.

Usage: python benchmarks/replay_overhead.py [--steps 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import agentbox

sys.path.insert(0, str(Path(__file__).parent))
from run_overhead import make_project

ROOT = Path(__file__).resolve().parent.parent
TAU = ROOT.parent / "shared" / "external" / "tau-bench" / "retail"


def scripted(steps: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports, first-use caches
        agentbox.run(make_project(Path(tmp), 100, 100, 5), root=Path(tmp))
    runs: list[tuple[float, float, float, float, int]] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            scenario = make_project(root, 100, 100, steps)
            store = agentbox.open_store(root / "traces.db")
            t, c = time.perf_counter(), time.process_time()
            result = agentbox.run(scenario, store=store, root=root)
            original, original_cpu = time.perf_counter() - t, time.process_time() - c
            n = len(store.steps(result.run_id))
            t, c = time.perf_counter(), time.process_time()
            rep = agentbox.replay(result.run_id, store=store, root=root)
            replay, replay_cpu = time.perf_counter() - t, time.process_time() - c
            assert rep.identical, rep.differences[:3]
            store.close()
            runs.append((original, replay, original_cpu, replay_cpu, n))
    o, r, oc, rc, n = (statistics.median(x) for x in zip(*runs, strict=True))
    print(
        f"scripted, {n:.0f} steps, median of {repeats}: run {o / n * 1000:.3f} ms/step "
        f"({oc / n * 1000:.3f} CPU), replay {r / n * 1000:.3f} ms/step ({rc / n * 1000:.3f} "
        f"CPU; incl. comparing both step lists) -> {r / o:.2f}x wall, {rc / oc:.2f}x CPU "
        f"(ratios per repeat: {', '.join(f'{b / a:.2f}' for a, b, *_ in runs)}; target <= 1.2x)"
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
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scripted(args.steps, args.repeats)
    tau()


if __name__ == "__main__":
    main()
