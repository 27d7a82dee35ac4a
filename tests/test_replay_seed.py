"""A replay runs on the seed its store recorded: it neither needs nor reads the sandbox's
seed files (a 5 MB seed took ~0.3 s to parse in every `agentbox replay` process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from agentbox.cli import main; main()"]


def _agentbox(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTBOX_")}
    return subprocess.run(
        [*CLI, *args, "--store", str(cwd / "t.db")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_replay_does_not_read_the_sandbox_seed_files(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "sandboxes" / "retail", tmp_path / "sandboxes" / "retail")
    shutil.copy(ROOT / "scenarios" / "refund-clean.yaml", tmp_path / "refund-clean.yaml")
    run = _agentbox(tmp_path, "run", "refund-clean.yaml", "--json")
    assert run.returncode == 0, run.stderr
    run_id = json.loads(run.stdout)["run_id"]
    # the seed files are now unreadable as JSON: only a process that parses them fails
    (tmp_path / "sandboxes" / "retail" / "seed" / "orders.json").write_text("{not json")
    replay = _agentbox(tmp_path, "replay", run_id)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "identical" in replay.stdout.lower(), replay.stdout
    fresh = _agentbox(tmp_path, "run", "refund-clean.yaml")  # a new run does read them
    assert fresh.returncode == 2, fresh.stdout + fresh.stderr
    assert "orders.json" in fresh.stderr
