"""agentbox side by side with its peers, on the same work, interleaved (A B A B A B).

Three comparisons, each run ``--repeats`` times in alternation so that load from other
processes on the machine hits both sides alike; every run is a fresh process and its
time runs from the process's start to the end of the work (imports included):

1. suite replay, N cases of 6 scripted model calls + 5 executed tool calls:
   ``agentbox test`` over N exported cases (``suite_replay.py``) vs Inspect AI + mockllm
   over N samples (``peers/inspect_suite.py``). Figure: cases (samples) per second, and
   peak RSS of the process.
2. one run of C durable tool calls on a small state: agentbox (``run_overhead.py``, WAL,
   synchronous=NORMAL) vs LangGraph + SqliteSaver and LangGraph + DeltaChannel
   (``peers/langgraph_calls.py``; SQLite's defaults). Figure: ms per tool call (total ÷
   calls).
3. the same with a ~10 MB incompressible state, C/10 calls.

Prints min/median/max per side and the ratio of the medians (peer ÷ agentbox: how many
times slower the peer is). Needs ``pip install -e '.[bench]'``.

Usage: python benchmarks/compare.py [--cases 300] [--calls 1000] [--repeats 3]
       [--only suite|calls|state]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ENV, spread, warm_up  # noqa: E402
from suite_replay import AGENTBOX, build_suite, measure  # noqa: E402

PY = sys.executable


def _json_run(argv: list[str]) -> dict[str, float]:
    started = time.time()
    out = subprocess.run(
        [*argv, "--started", str(started)] if "peers" in argv[1] else argv,
        check=True,
        capture_output=True,
        text=True,
        env=ENV,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _line(label: str, values: list[float], unit: str, fmt: str = "{:.1f}") -> str:
    return f"  {label:<28} {spread(values, fmt)} {unit} (min/median/max)"


def suite(folder: Path, cases: int, repeats: int) -> None:
    path = build_suite(folder, cases)
    warm_up([*AGENTBOX, "test", "--help"])
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for _ in range(repeats):
        ours.append(measure(path, 1, folder / "cmp.db"))
        theirs.append(
            _json_run([PY, str(HERE / "peers" / "inspect_suite.py"), "--samples", str(cases)])
        )
    a = [r["cases_per_s"] for r in ours]
    b = [r["per_s"] for r in theirs]
    print(f"suite replay, {cases} cases of 6 model + 5 tool calls, one process:")
    print(_line("agentbox test", a, "cases/s"))
    print(_line("Inspect AI + mockllm", b, "samples/s"))
    print(
        f"  peak RSS: agentbox {statistics.median(r['peak_rss_mb'] for r in ours):.0f} MB, "
        f"Inspect {statistics.median(r['rss_mb'] for r in theirs):.0f} MB"
    )
    print(f"  ratio: agentbox {statistics.median(a) / statistics.median(b):.1f}x faster")


def calls(n: int, state: str, repeats: int) -> None:
    config = "small" if state == "small" else "10 MB"
    sides = {
        "agentbox (WAL, NORMAL)": [PY, str(HERE / "run_overhead.py"), "--one", config],
        "LangGraph + SqliteSaver": [
            PY,
            str(HERE / "peers" / "langgraph_calls.py"),
            "--mode",
            "sqlite",
            "--state",
            "small" if state == "small" else "10mb",
        ],
        "LangGraph + DeltaChannel": [
            PY,
            str(HERE / "peers" / "langgraph_calls.py"),
            "--mode",
            "delta",
            "--state",
            "small" if state == "small" else "10mb",
        ],
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, argv in sides.items():
            result = _json_run([*argv, "--calls", str(n)])
            # the peers' figure runs from their imports to the end: agentbox's likewise
            result["per_call_ms"] = result.get("with_startup_ms", result["per_call_ms"])
            results[name].append(result)
    print(f"{n} durable tool calls, {state} state, one run:")
    base = statistics.median(r["per_call_ms"] for r in results["agentbox (WAL, NORMAL)"])
    for name, rs in results.items():
        per = [r["per_call_ms"] for r in rs]
        ratio = statistics.median(per) / base
        rss = statistics.median(r.get("rss_mb", 0) for r in rs)
        print(_line(name, per, f"ms/call · RSS {rss:.0f} MB · {ratio:.1f}x agentbox", "{:.2f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["suite", "calls", "state"])
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="agentbox-compare-"))
    try:
        if args.only in (None, "suite"):
            suite(folder, args.cases, args.repeats)
        if args.only in (None, "calls"):
            calls(args.calls, "small", args.repeats)
        if args.only in (None, "state"):
            calls(max(1, args.calls // 10), "10 MB", args.repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
