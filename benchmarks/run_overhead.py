"""Runner overhead per step, with a small and a 10 MB sandbox state.

Runs a scripted scenario of N tool-call turns (each turn: one model step + one write tool
step that edits one record) into a fresh trace store, every step durably committed
(WAL, synchronous=NORMAL), and prints:

- median / p95 time between consecutive committed steps (ms), i.e. runner overhead
  including the model stub, validation, policy, the tool, the patch and the commit;
- the same with a ~10 MB seed state (per-step cost must not grow with state size);
- peak RSS of the process (MB) and the trace store size;
- ``agentbox --help`` wall time.

Usage: python benchmarks/run_overhead.py [--steps 1000]
Targets (issue 2): median < 1 ms, 10 MB within 2x of small, peak < 200 MB, --help < 0.5 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentbox.config import Settings
from agentbox.runner import Runner, plan_run
from agentbox.store import TraceStore

TOOLS = '''
from agentbox import State, ToolError, tool


@tool(effect="write")
def bump(state: State, key: str, by: int = 1) -> dict:
    """Increment one record's counter.

    Args:
        key: Record key.
        by: Amount to add.
    """
    try:
        with state.edit("records", key) as record:
            record["count"] += by
    except KeyError:
        raise ToolError(f"no record {key}") from None
    return {"key": key, "count": state.get("records", key)["count"]}
'''


def make_project(root: Path, records: int, payload: int, steps: int) -> Path:
    box = root / "sandboxes" / "bench"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    seed = {f"r{i}": {"id": f"r{i}", "count": 0, "payload": "x" * payload} for i in range(records)}
    (box / "seed" / "records.json").write_text(json.dumps(seed))
    scenario = root / "bench.yaml"
    scenario.write_text(
        "name: bench\nsandbox: bench\nagent: {type: scripted}\ninput: go\n"
        "script:\n"
        f"  - tool_calls: [{{bump: {{key: r7, by: 1}}}}]\n    repeat: {steps}\n"
        "  - say: done\n"
        f"expect: {{state: [{{path: records.r7.count, equals: {steps}}}]}}\n"
    )
    return scenario


def measure(label: str, records: int, payload: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = make_project(root, records, payload, steps)
        settings = Settings(root=root)
        plan = plan_run(scenario, settings)
        store = TraceStore(root / "traces.db")
        stamps: list[float] = []
        runner = Runner(plan, store, on_step=lambda s: stamps.append(time.perf_counter()))
        started = time.perf_counter()
        result = runner.run()
        wall = time.perf_counter() - started
        assert result.passed, result.expectations
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        gaps.sort()
        median = statistics.median(gaps) * 1000
        p95 = gaps[int(len(gaps) * 0.95)] * 1000
        state_mb = (root / "sandboxes/bench/seed/records.json").stat().st_size / 1e6
        db_mb = sum(p.stat().st_size for p in root.glob("traces.db*")) / 1e6
        print(
            f"{label:>10}: state {state_mb:6.1f} MB | {len(stamps)} steps ({steps} tool calls) "
            f"in {wall:.3f} s | per step median {median:.3f} ms, p95 {p95:.3f} ms | "
            f"store {db_mb:.1f} MB"
        )
        return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    small = measure("small", 100, 100, args.steps)
    large = measure("10 MB", 20_000, 480, args.steps)
    print(f"10 MB / small median ratio: {large / small:.2f}x (target <= 2x)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB (target < 200 MB)")
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "from agentbox.cli import main; main()", "--help"],
            check=True,
            capture_output=True,
        )
        runs.append(time.perf_counter() - t)
    print(f"agentbox --help: median {statistics.median(runs):.3f} s over 5 runs (target < 0.5 s)")


if __name__ == "__main__":
    main()
