"""Suite replay: `agentbox test` over N distinct 5-tool-call cases, whole command timed.

What it builds (in a temporary folder, once): N different runs of the retail sandbox,
each 6 scripted model calls and 5 *executed* tool calls (lookup_customer, get_order,
list_refunds, create_refund, add_ticket_note; no call blocked or held), each on its own
order, customer, ticket, amount and note text, exported as N case files (each with the
parsed sidecar ``agentbox export`` writes beside it, ``.agentbox-parsed/``: the replay
reads that JSON, not the YAML; a hand-edited case is parsed from YAML, ~2 ms more).

What it measures, per ``agentbox test DIR -q --json -j J --store NEW.db`` subprocess:

- cases/s = N / wall seconds (bytecode caches warm, see ``_common.py``) of the whole command, from ``Popen`` to exit: interpreter
  start, imports, discovery, replay and the JSON report all included;
- cases per CPU-second (user + system time of the command and its workers, from
  ``wait4``): less sensitive than wall time to other load on a shared machine;
- peak RSS per process in MB: the largest ``VmHWM`` (the kernel's own per-process peak
  resident set) among the command's processes (main + workers), sampled every 10 ms from
  /proc; never ``RUSAGE_CHILDREN``, which is cumulative over every child this benchmark
  ever started.

The runs are interleaved (``-j 1``, ``-j 2``, ``-j 1``, ...; ``--repeats`` each) so load
from other processes on the machine hits both alike; min / median / max are printed and
the targets of issue 16 are checked on the medians.

Usage: python benchmarks/suite_replay.py [--cases 1000] [--memory-cases 5000]
       [--jobs 1 2] [--repeats 3] [--keep DIR]
Targets (issue 16): >= 1,000 cases/s at -j 1 for 1,000 cases including start-up;
-j 2 >= 1.7x -j 1; peak RSS < 100 MB per process, flat from 1,000 to 5,000 cases.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import ENV, warm_up

ROOT = Path(__file__).resolve().parent.parent
AGENTBOX = [str(Path(sys.executable).parent / "agentbox")]


def _scenarios(count: int) -> list[dict[str, Any]]:
    """``count`` different 5-call scenarios over the retail seed's delivered orders."""
    seed = ROOT / "sandboxes" / "retail" / "seed"
    orders = json.loads((seed / "orders.json").read_text())
    tickets = sorted(json.loads((seed / "tickets.json").read_text()))
    delivered = [o for o in orders.values() if o["status"] == "delivered"]
    out = []
    for i in range(count):
        order = delivered[i % len(delivered)]
        oid, cid = order["id"], order["customer_id"]
        ticket = tickets[i % len(tickets)]
        amount = round(min(order["total_usd"], 5 + (i * 7.31) % 150), 2)
        key = f"r-{oid[4:]}-{i}"
        out.append(
            {
                "name": f"refund-{i:05d}",
                "sandbox": "retail",
                "agent": {"type": "llm", "model": "scripted", "system": "You are support."},
                "input": f"I'm {cid}; order {oid} is damaged ({i}). Refund ${amount}.",
                "script": [
                    {"tool_calls": [{"lookup_customer": {"customer_id": cid}}]},
                    {"tool_calls": [{"get_order": {"order_id": oid}}]},
                    {"tool_calls": [{"list_refunds": {"order_id": oid}}]},
                    {
                        "reasoning": f"Under the limit: refund {amount}.",
                        "tool_calls": [
                            {
                                "create_refund": {
                                    "order_id": oid,
                                    "amount_usd": amount,
                                    "idempotency_key": key,
                                    "reason": f"damaged #{i}",
                                }
                            }
                        ],
                    },
                    {
                        "tool_calls": [
                            {"add_ticket_note": {"ticket_id": ticket, "text": f"Refunded {key}"}}
                        ]
                    },
                    {"say": f"Your refund of ${amount} for {oid} is pending."},
                ],
                "policy": {
                    "allow": [
                        "lookup_customer",
                        "get_order",
                        "list_refunds",
                        "create_refund",
                        "add_ticket_note",
                    ],
                    "budgets": {"max_tool_calls": 8},
                },
                "approvals": "fail",
                "expect": {"status": "completed", "output_contains": "refund"},
            }
        )
    return out


def build_suite(folder: Path, cases: int) -> Path:
    """Run and export ``cases`` different scenarios into ``folder/suite-N`` (in-process)."""
    from agentbox.config import load_settings
    from agentbox.planning import plan_from_scenario
    from agentbox.runner import Runner
    from agentbox.scenario import parse_scenario
    from agentbox.store import TraceStore
    from agentbox.suites.export import export_run

    suite = folder / f"suite-{cases}"
    if suite.is_dir() and len(list(suite.glob("*.yaml"))) == cases:
        return suite
    settings = load_settings(ROOT)
    store = TraceStore(folder / f"seed-{cases}.db")
    for data in _scenarios(cases):
        scenario = parse_scenario(data, Path(f"{data['name']}.yaml"), {})
        result = Runner(plan_from_scenario(scenario, settings), store).run()
        assert result.passed and result.counters.tool_calls == 5, result.reason
        export_run(store, result.run_id, suite, data["name"], settings=settings)
    store.close()
    return suite


def _procs(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return out


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(suite: Path, jobs: int, store: Path) -> dict[str, float]:
    """Run ``agentbox test`` once: cases/s over the whole command, per-process peak RSS."""
    store.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*AGENTBOX, "test", str(suite), "-q", "--json", "-j", str(jobs), "--store", str(store)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for p in _procs(proc.pid):
                peaks[p] = max(peaks.get(p, 0), _hwm_kb(p))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this command's own CPU (workers included)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    results = json.loads(out)["results"]
    return {
        "cases": len(results),
        "failed": sum(1 for r in results if not r["passed"]),
        "wall_s": wall,
        "cases_per_s": len(results) / wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": max(peaks.values(), default=0) / 1024,
        "processes": len(peaks),
    }


def _spread(values: list[float], fmt: str = "{:.0f}") -> str:
    return "/".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--memory-cases", type=int, default=5000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the suites here and keep them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="agentbox-suite-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        suite = build_suite(folder, args.cases)
        print(
            f"suite: {args.cases} distinct 5-call cases ({time.perf_counter() - t:.0f} s to build)"
        )
        warm_up([*AGENTBOX, "test", "--help"])
        runs: dict[int, list[dict[str, float]]] = {j: [] for j in args.jobs}
        for _ in range(args.repeats):  # interleaved: -j 1, -j 2, -j 1, -j 2 ...
            for jobs in args.jobs:
                runs[jobs].append(measure(suite, jobs, folder / "bench.db"))
        print("min/median/max of", args.repeats, "interleaved runs, whole command timed:")
        for jobs, rs in runs.items():
            failed = sum(r["failed"] for r in rs)
            print(
                f"  -j {jobs}: {_spread([r['cases_per_s'] for r in rs])} cases/s · "
                f"{_spread([r['wall_s'] for r in rs], '{:.2f}')} s · "
                f"{_spread([r['cases'] / r['cpu_s'] for r in rs])} cases per CPU-second · "
                f"peak RSS per process "
                f"{_spread([r['peak_rss_mb'] for r in rs])} MB · {failed} failed"
            )
        one = statistics.median(r["cases_per_s"] for r in runs[args.jobs[0]])
        print(f"  target -j {args.jobs[0]} >= 1000 cases/s: {one:.0f} ({one / 1000:.2f}x)")
        if len(args.jobs) > 1:
            two = statistics.median(r["cases_per_s"] for r in runs[args.jobs[1]])
            print(f"  target -j {args.jobs[1]} / -j {args.jobs[0]} >= 1.7x: {two / one:.2f}x")
        if args.memory_cases:
            big = build_suite(folder, args.memory_cases)
            small_mb = max(r["peak_rss_mb"] for r in runs[args.jobs[0]])
            r = measure(big, 1, folder / "bench.db")
            print(
                f"  {args.memory_cases} cases -j 1: {r['cases_per_s']:.0f} cases/s, peak RSS "
                f"{r['peak_rss_mb']:.0f} MB (target < 100 MB; {args.cases} cases: "
                f"{small_mb:.0f} MB, ratio {r['peak_rss_mb'] / small_mb:.2f}x), "
                f"{r['failed']} failed"
            )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
