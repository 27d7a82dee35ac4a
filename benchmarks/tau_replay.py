"""How long the tau-bench retail replay takes through agentbox (issue 3).

Runs every test task of ``sandboxes/tau_retail`` with the scripted model (the ground-truth
actions) through the same machinery as ``agentbox run sandboxes/tau_retail/task.yaml --task
N``: ``plan_run`` + ``Runner`` into a fresh trace store in a temporary folder, every step
durably committed. Prints:

- total seconds for the whole set and tasks per second (planning included);
- per step = total seconds ÷ steps (planning and every run's start and end included), and
  the p50 / p95 / max of the gaps between consecutive committed steps (ms): the gaps leave
  out each task's planning, start and end, which is why the mean is several times the p50;
- the median time of the ``state_hash`` expectation (tau's data hash) per task;
- how many tasks passed (tool outputs are checked by tests/test_tau_retail.py).

Usage: python benchmarks/tau_replay.py [--data FOLDER] [--repeat N]
Target (issue 3): the whole set under 10 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from agentbox.config import load_settings
from agentbox.runner import Runner, RunOptions, plan_run
from agentbox.store import StepRow, TraceStore

ROOT = Path(__file__).resolve().parents[1]
TASK_YAML = ROOT / "sandboxes" / "tau_retail" / "task.yaml"
DEFAULT_DATA = ROOT.parent / "shared" / "external" / "tau-bench" / "retail"


def replay(data: Path | None, store_path: Path) -> dict[str, float]:
    """Run every task once; return the measurements."""
    settings = load_settings(ROOT)
    tasks_file = (data or DEFAULT_DATA) / "tasks_test.json"
    n_tasks = len(json.loads(tasks_file.read_text(encoding="utf-8")))
    store = TraceStore(store_path)
    gaps: list[float] = []
    hash_times: list[float] = []
    stamps: list[float] = []

    def on_step(step: StepRow) -> None:
        stamps.append(time.perf_counter())

    passed = steps = 0
    started = time.perf_counter()
    try:
        for task in range(n_tasks):
            plan = plan_run(TASK_YAML, settings, RunOptions(task=task, data_path=data))
            hasher = plan.sandbox.state_hasher
            assert hasher is not None

            def timed(state: object, _h: object = hasher) -> str:
                t0 = time.perf_counter()
                out = _h(state)  # type: ignore[operator]
                hash_times.append(time.perf_counter() - t0)
                return str(out)

            plan.sandbox.state_hasher = timed
            stamps.clear()
            try:
                result = Runner(plan, store, on_step=on_step).run()
            finally:
                plan.sandbox.state_hasher = hasher
            gaps.extend(b - a for a, b in itertools.pairwise(stamps))
            steps += len(stamps)
            passed += result.passed
        total = time.perf_counter() - started
    finally:
        store.close()
    gaps.sort()
    return {
        "tasks": n_tasks,
        "passed": passed,
        "steps": steps,
        "total_s": total,
        "tasks_per_s": n_tasks / total,
        "step_mean_ms": total / steps * 1000,
        "step_max_ms": gaps[-1] * 1000,
        "step_median_ms": statistics.median(gaps) * 1000,
        "step_p95_ms": gaps[int(len(gaps) * 0.95)] * 1000,
        "hash_median_ms": statistics.median(hash_times) * 1000,
        "store_mb": store_path.stat().st_size / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="tau-bench retail data folder (default: the sandbox's seed)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="replay the whole set N times")
    args = parser.parse_args()
    if not (args.data or DEFAULT_DATA).is_dir():
        print(
            f"tau-bench data not found at {args.data or DEFAULT_DATA}; pass --data FOLDER",
            file=sys.stderr,
        )
        return 2
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            m = replay(args.data, Path(tmp) / "traces.db")
        label = f"run {i + 1}: " if args.repeat > 1 else ""
        print(f"{label}{m['tasks']} tasks, {m['steps']} steps, {m['passed']} passed")
        print(
            f"  total        {m['total_s']:.2f} s  ({m['tasks_per_s']:.1f} tasks/s; target < 10 s)"
        )
        print(
            f"  per step     {m['step_mean_ms']:.3f} ms (total ÷ steps); gaps between commits "
            f"p50 {m['step_median_ms']:.3f}, p95 {m['step_p95_ms']:.3f}, "
            f"max {m['step_max_ms']:.1f} ms"
        )
        print(f"  state_hash   median {m['hash_median_ms']:.2f} ms per task")
        print(f"  trace store  {m['store_mb']:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
