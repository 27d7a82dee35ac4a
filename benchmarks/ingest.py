"""Trace ingest: steps written per second through ``TraceStore.add_step``, per process.

Writes N tool-like steps (realistic JSON: arguments, a result of ~300 bytes, a patch,
counters) of one run into a fresh store, three ways, interleaved ``--repeats`` times:

- ``per step``: one commit per step (what a live run does: every step durable before the
  next side effect; WAL, synchronous=NORMAL);
- ``batched``: ``TraceStore.batch()`` every 1,000 steps (what suite replay and imports may
  do: atomic as a whole, not step by step);
- ``batched, 2 writers``: two processes each writing N/2 steps in batches to the same file
  at once (figure: total steps ÷ wall of the slower one).

Figures are steps ÷ wall seconds of the writing loop, and for ``batched`` also steps ÷
CPU seconds of the loop (the store already open; JSON
encoding of the columns included), min/median/max.

Usage: python benchmarks/ingest.py [--steps 20000] [--repeats 3]
Target (issue 16): >= 50,000 steps/s per process with batched commits.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import spread

from agentbox.store import StepRow, TraceStore

CPU: list[float] = []


def _steps(run_id: str, start: int, n: int) -> list[StepRow]:
    return [
        StepRow(
            run_id,
            i,
            "tool",
            "get_order",
            "ok",
            time.time(),
            0.0002,
            data={
                "args": {"order_id": f"ord_{i:05d}"},
                "result": json.dumps(
                    {
                        "id": f"ord_{i:05d}",
                        "status": "delivered",
                        "items": [{"sku": f"sku-{i % 97}", "qty": 1 + i % 3, "price": 19.99}],
                        "address": {"line1": f"{i} Main St", "city": "Denver", "zip": "80223"},
                    }
                ),
            },
            message={"role": "tool", "tool_call_id": f"call_{i}", "content": "{...}"},
            patch=[{"op": "replace", "path": f"/orders/ord_{i:05d}/status", "value": "seen"}],
            counters={"steps": i, "tool_calls": i // 2, "tokens": 31 * i},
        )
        for i in range(start, start + n)
    ]


def write(path: str, run_id: str, start: int, n: int, batch: int) -> float:
    """Write ``n`` steps; returns the wall seconds the loop took (its CPU seconds are
    added to ``CPU``)."""
    store = TraceStore(path)
    steps = _steps(run_id, start, n)
    began, cpu = time.perf_counter(), time.process_time()
    if batch <= 1:
        for step in steps:
            store.add_step(step)
    else:
        for i in range(0, n, batch):
            with store.batch():
                for step in steps[i : i + batch]:
                    store.add_step(step)
    took = time.perf_counter() - began
    CPU.append(time.process_time() - cpu)
    store.close()
    return took


def _worker(args: tuple[str, str, int, int, int]) -> float:
    return write(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.steps
    rates: dict[str, list[float]] = {"per step": [], "batched": [], "batched, 2 writers": []}
    cpu_rates: list[float] = []
    ctx = multiprocessing.get_context("spawn")
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "t.db")
            TraceStore(path).close()
            rates["per step"].append(n / write(path, f"a{r}", 0, n, 1))
            rates["batched"].append(n / write(path, f"b{r}", 0, n, 1000))
            cpu_rates.append(n / CPU[-1])
            with ctx.Pool(2) as pool:
                half = n // 2
                jobs = [(path, f"c{r}", 0, half, 1000), (path, f"c{r}", half, half, 1000)]
                rates["batched, 2 writers"].append(n / max(pool.map(_worker, jobs)))
    print(f"{n} steps of one run; steps/s, min/median/max over {args.repeats} interleaved runs")
    for name, values in rates.items():
        print(f"  {name:<20} {spread(values, '{:,.0f}')}")
    print(f"  batched, per CPU-second {spread(cpu_rates, '{:,.0f}')} (less sensitive to load)")
    best = statistics.median(rates["batched"])
    print(f"  target batched >= 50,000 steps/s: {best:,.0f} ({best / 50_000:.2f}x)")
    print(json.dumps({k: statistics.median(v) for k, v in rates.items()}))


if __name__ == "__main__":
    main()
