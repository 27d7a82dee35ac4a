"""What the egress guard costs per model call and per tool call, guard on vs off.

One python agent drives a run through agentbox's own API: N model calls
(``ctx.complete`` against the scripted model, each an ``llm`` step committed to a fresh
trace store), then N tool calls (``ctx.call_tool`` of a write tool that edits one record,
each a ``tool`` step with its patch committed). The agent times each phase; the figure is
that phase's total wall time divided by N (so it includes the runner, the store commit,
the model stub or the tool, and everything the guard adds: its audit hook called on every
audit event of the process, the ``host_traffic`` context around each model call).

Each configuration runs in its own fresh interpreter, because an audit hook cannot be
removed once added: ``off`` replaces the runner's guard with a no-op before the first run
(the hook is never installed); ``on`` is agentbox as shipped. Each process does a warm-up
run, then ``--repeat`` runs, and the configurations alternate for ``--rounds`` rounds;
the best figure of each is printed. On a shared machine those wall figures move by more
than the guard costs, so the script also prints a noise-free estimate: the number of
audit events raised per call (counted in a separate run) times the hook's cost per event
(a tight loop of ``sys.audit`` with the hook installed minus without).

Usage: python benchmarks/guard_overhead.py [--calls 2000] [--repeat 3] [--rounds 2]
Target (issue 13): the guard adds < 5% to the per-call run overhead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

TOOLS = '''
from agentbox import State, tool


@tool(effect="write")
def bump(state: State, key: str) -> dict:
    """Increment one record's counter.

    Args:
        key: Record key.
    """
    with state.edit("records", key) as record:
        record["count"] += 1
    return {"key": key}
'''

AGENT = """
import json, os, sys, time

def run(ctx):
    n = int(os.environ["GUARD_BENCH_CALLS"])
    events = getattr(sys, "_guard_bench_events", [0])  # set when counting audit events
    messages = [{"role": "user", "content": "go"}]
    e0, t0 = events[0], time.perf_counter()
    for _ in range(n):
        ctx.complete(messages, tools=[])
    e1, t1 = events[0], time.perf_counter()
    for _ in range(n):
        ctx.call_tool("bump", key="r7")
    e2, t2 = events[0], time.perf_counter()
    return json.dumps({"model_s": (t1 - t0) / n, "tool_s": (t2 - t1) / n,
                       "model_events": (e1 - e0) / n, "tool_events": (e2 - e1) / n})
"""


def make_project(root: Path, calls: int) -> Path:
    box = root / "sandboxes" / "bench"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    seed = {f"r{i}": {"id": f"r{i}", "count": 0} for i in range(20)}
    (box / "seed" / "records.json").write_text(json.dumps(seed))
    (root / "bench_agent.py").write_text(AGENT)
    scenario = root / "bench.yaml"
    scenario.write_text(
        "name: guard-bench\nsandbox: bench\n"
        "agent: {type: python, entry: bench_agent.py:run, model: scripted}\ninput: go\n"
        f"script:\n  - say: ok\n    repeat: {calls}\n"
        f"policy: {{budgets: {{max_steps: {3 * calls}, max_tool_calls: {2 * calls}}}}}\n"
    )
    return scenario


def child(guard: str, calls: int, repeat: int) -> dict[str, Any]:
    """Run in a fresh interpreter: measure one configuration, return its figures."""
    import os

    import agentbox

    if guard == "off":
        from agentbox.runner import core, model

        core.egress_guard = lambda ctx, allow_hosts=None: nullcontext()  # type: ignore[assignment]
        model.host_traffic = nullcontext  # type: ignore[assignment]
    os.environ["GUARD_BENCH_CALLS"] = str(calls)
    figures: dict[str, Any] = {"guard": guard}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = make_project(root, calls)

        def one_run(i: int) -> dict[str, float]:
            result = agentbox.run(scenario, store=root / f"traces-{i}.db", root=root)
            assert result.status == "completed", result.reason
            return json.loads(result.output or "{}")  # type: ignore[no-any-return]

        one_run(0)  # warm-up: imports, caches, the hook
        results = [one_run(i + 1) for i in range(repeat)]
        figures["model_s"] = min(r["model_s"] for r in results)
        figures["tool_s"] = min(r["tool_s"] for r in results)
        loops = 200_000
        started = time.perf_counter()
        for _ in range(loops):
            sys.audit("agentbox.bench.event")
        figures["event_s"] = (time.perf_counter() - started) / loops
        if guard == "on":  # count audit events per call (a second hook: timing not used)
            counter = [0]
            sys._guard_bench_events = counter  # type: ignore[attr-defined]

            def count(event: str, args: tuple[Any, ...]) -> None:
                counter[0] += 1

            sys.addaudithook(count)
            counted = one_run(repeat + 1)
            figures["model_events"] = counted["model_events"]
            figures["tool_events"] = counted["tool_events"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.calls, args.repeat)))
        return
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for guard in ("off", "on"):
            command = [sys.executable, __file__, "--child", guard]
            command += ["--calls", str(args.calls), "--repeat", str(args.repeat)]
            out = subprocess.run(command, check=True, capture_output=True, text=True)
            runs[guard].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {
        g: {k: min(r[k] for r in rs) for k in ("model_s", "tool_s", "event_s")}
        for g, rs in runs.items()
    }
    off, on = best["off"], best["on"]
    hook_s = max(on["event_s"] - off["event_s"], 0.0)
    counted = runs["on"][-1]
    print(
        f"guard overhead: {args.calls} calls per phase, best of {args.repeat} runs x "
        f"{args.rounds} rounds per configuration"
    )
    print(
        f"{'per call':<24}{'guard off':>11}{'guard on':>11}{'measured +':>12}"
        f"{'events':>8}{'estimated +':>13}{'est. %':>8}"
    )
    for label, key in (("model call (llm step)", "model"), ("tool call (tool step)", "tool")):
        a, b = off[f"{key}_s"] * 1e3, on[f"{key}_s"] * 1e3
        events = counted[f"{key}_events"]
        estimate = events * hook_s * 1e3
        print(
            f"{label:<24}{a:>9.4f}ms{b:>9.4f}ms{b - a:>10.4f}ms{events:>8.1f}"
            f"{estimate:>11.5f}ms{estimate / a * 100:>7.2f}%"
        )
    print(f"hook cost per audit event: {hook_s * 1e9:.0f} ns (sys.audit loop, on minus off)")
    print("target: the guard adds < 5% to the per-call run overhead (guard off)")


if __name__ == "__main__":
    main()
