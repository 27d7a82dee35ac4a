"""Suite replay throughput: `agentbox test` over 1,000 exported cases, -j 1 and -j 2.

Builds, in a temporary folder, runs of two ~5-tool-call scenarios (the shipped
``prompt-injection`` and a 5-call variant of ``refund-clean``), exports them as cases and
copies them to N case files, then runs ``agentbox test DIR -q --json -j J`` in a
subprocess and prints:

- cases/s over the replay itself (the command's own timer) and over the whole command
  (interpreter start and imports included);
- peak RSS in MB: the largest single process, and the whole process tree (sampled).

Usage: python benchmarks/suite_replay.py [--cases 1000] [--jobs 1 2] [--profile]
Target (issue 7): >= 300 cases/s at -j 2, < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
AGENTBOX = [str(Path(sys.executable).parent / "agentbox")]

VARIANT = ROOT / "scenarios" / "refund-clean.yaml"


def _five_call_variant(folder: Path) -> Path:
    """refund-clean with two more reads: five tool calls."""
    data = yaml.safe_load(VARIANT.read_text())
    data["name"] = "refund-clean-5"
    data["script"][0]["tool_calls"].insert(0, {"lookup_customer": {"customer_id": "cus_1007"}})
    data["script"][1]["tool_calls"].insert(0, {"list_refunds": {"order_id": "ord_5120"}})
    data["policy"]["allow"].append("list_refunds")
    path = folder / "refund-clean-5.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def build_suite(folder: Path, cases: int) -> Path:
    """Export two runs and copy them into ``cases`` case files under ``folder/suite``."""
    store = folder / "seed.db"
    base = folder / "base"
    sources = [ROOT / "scenarios" / "prompt-injection.yaml", _five_call_variant(folder)]
    for src in sources:
        subprocess.run(
            [*AGENTBOX, "run", str(src), "--store", str(store), "-q"],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
    runs = json.loads(
        subprocess.run(
            [*AGENTBOX, "runs", "--json", "--store", str(store)],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
    )
    for run in runs:
        subprocess.run(
            [*AGENTBOX, "export", run["run_id"], "--suite", str(base), "--store", str(store)],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
    templates = sorted(base.glob("*.yaml"))
    suite = folder / "suite"
    suite.mkdir()
    for i in range(cases):
        template = templates[i % len(templates)]
        text = template.read_text()
        name = f"{template.stem}-{i:04d}"
        text = text.replace(f"case: {template.stem}\n", f"case: {name}\n", 1)
        (suite / f"{name}.yaml").write_text(text)
    return suite


def _tree_rss_kb(pid: int) -> int:
    """RSS of ``pid`` and its descendants (Linux /proc), in kB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def measure(suite: Path, jobs: int, store: Path) -> dict[str, float]:
    """Run `agentbox test` once; cases/s and peak memory."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*AGENTBOX, "test", str(suite), "-q", "--json", "-j", str(jobs), "--store", str(store)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, _tree_rss_kb(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    data = json.loads(out)
    n = len(data["results"])
    failed = sum(1 for r in data["results"] if not r["passed"])
    peak_one = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "cases": n,
        "failed": failed,
        "replay_s": data["seconds"],
        "wall_s": wall,
        "cases_per_s": n / data["seconds"],
        "cases_per_s_wall": n / wall,
        "peak_rss_mb": max(peak_one, before) / 1024,
        "peak_tree_rss_mb": peak_tree / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="agentbox-suite-bench-"))
    try:
        suite = build_suite(folder, args.cases)
        print(f"suite: {args.cases} cases in {suite}")
        for jobs in args.jobs:
            store = folder / f"bench-j{jobs}.db"
            r = measure(suite, jobs, store)
            print(
                f"-j {jobs}: {r['cases']} cases, {r['failed']} failed · "
                f"{r['cases_per_s']:.0f} cases/s replay ({r['replay_s']:.2f} s), "
                f"{r['cases_per_s_wall']:.0f} cases/s with start-up ({r['wall_s']:.2f} s) · "
                f"peak RSS {r['peak_rss_mb']:.0f} MB per process, "
                f"{r['peak_tree_rss_mb']:.0f} MB all processes · "
                f"store {os.path.getsize(store) / 1e6:.1f} MB"
            )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"kept {folder}")


if __name__ == "__main__":
    main()
