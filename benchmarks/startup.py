"""Process start-up of the commands a developer types, on a sandbox with a ~5 MB seed.

Builds (in a temporary folder) a project whose sandbox seed is ~5 MB of realistic,
incompressible records (random words and hex from a seeded RNG), runs one small scripted
scenario on it, then times each command as a fresh subprocess, from ``Popen`` to exit
(interpreter start, imports, store open, work and output all included), after one
untimed warm-up run of each (bytecode caches written: see ``_common.py``):

- ``agentbox --help``;
- ``agentbox show RUN`` (reads the run; needs no seed);
- ``agentbox replay RUN`` (runs the scenario again from the recording on the stored seed
  and compares the steps).

Commands are interleaved (help, show, replay, help, ...) ``--repeats`` times; min /
median / max of the wall time are printed with the targets of issue 16 on the medians,
and beside them the CPU time (user + system) of the same processes, which other load on
the machine moves much less than the wall time.

Usage: python benchmarks/startup.py [--repeats 5]
Targets (issue 16): replay and show < 0.4 s per process, --help < 0.15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ENV, spread, warm_up
from run_overhead import TOOLS, _record

AGENTBOX = str(Path(sys.executable).parent / "agentbox")


def make_project(root: Path, records: int = 10_000, size: int = 480) -> Path:
    """A sandbox with a ~5 MB seed and a 5-call scenario; returns the scenario file."""
    box = root / "sandboxes" / "bench"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    rng = random.Random(5)
    seed = {f"r{i}": _record(rng, i, size) for i in range(records)}
    (box / "seed" / "records.json").write_text(json.dumps(seed))
    (box / "seed" / "meta.json").write_text(json.dumps({"cursor": {"n": 0, "records": records}}))
    scenario = root / "bench.yaml"
    scenario.write_text(
        "name: bench\nsandbox: bench\nagent: {type: scripted}\ninput: go\n"
        "script:\n  - tool_calls: [{touch: {by: 1}}]\n    repeat: 5\n  - say: done\n"
    )
    return scenario


def _time(args: list[str], cwd: Path) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of one run of ``args``: wall from ``Popen`` to exit, CPU the
    child's user + system time (what load from other processes moves much less)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, args)
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="agentbox-startup-"))
    try:
        scenario = make_project(root)
        env_store = ["--store", str(root / "t.db")]
        warm_up([AGENTBOX, "--help"], root)
        out = subprocess.run(
            [AGENTBOX, "run", str(scenario), "--json", *env_store],
            cwd=root,
            env=ENV,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        run_id = json.loads(out)["run_id"]
        seed_mb = sum(p.stat().st_size for p in (root / "sandboxes/bench/seed").iterdir()) / 1e6
        commands = {
            "--help": [AGENTBOX, "--help"],
            "show": [AGENTBOX, "show", run_id, *env_store],
            "replay": [AGENTBOX, "replay", run_id, *env_store],
        }
        for argv in commands.values():
            warm_up(argv, root)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, argv in commands.items():
                wall, cpu = _time(argv, root)
                walls[name].append(wall)
                cpus[name].append(cpu)
        print(
            f"seed {seed_mb:.1f} MB; min/median/max over {args.repeats} interleaved runs (s); "
            "cpu = the process's user+sys"
        )
        targets = {"--help": 0.15, "show": 0.4, "replay": 0.4}
        for name, ts in walls.items():
            med = statistics.median(ts)
            print(
                f"  agentbox {name:<7} {spread(ts)} s, cpu {spread(cpus[name])} s "
                f"(target < {targets[name]} s: {med / targets[name]:.2f}x)"
            )
        wall, cpu = _time([sys.executable, "-c", "pass"], root)
        print(f"  python -c pass: {wall:.3f} s, cpu {cpu:.3f} s")
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")


if __name__ == "__main__":
    main()
