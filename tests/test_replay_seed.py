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


def _recorded_run(tmp_path: Path) -> str:
    """A copy of the retail sandbox in ``tmp_path`` and one run of refund-clean on it."""
    shutil.copytree(ROOT / "sandboxes" / "retail", tmp_path / "sandboxes" / "retail")
    shutil.copy(ROOT / "scenarios" / "refund-clean.yaml", tmp_path / "refund-clean.yaml")
    run = _agentbox(tmp_path, "run", "refund-clean.yaml", "--json")
    assert run.returncode == 0, run.stderr
    return str(json.loads(run.stdout)["run_id"])


def test_replay_does_not_read_the_sandbox_seed_files(tmp_path: Path) -> None:
    run_id = _recorded_run(tmp_path)
    # the seed files are now unreadable as JSON: only a process that parses them fails
    (tmp_path / "sandboxes" / "retail" / "seed" / "orders.json").write_text("{not json")
    replay = _agentbox(tmp_path, "replay", run_id)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "identical" in replay.stdout.lower(), replay.stdout
    fresh = _agentbox(tmp_path, "run", "refund-clean.yaml")  # a new run does read them
    assert fresh.returncode == 2, fresh.stdout + fresh.stderr
    assert "orders.json" in fresh.stderr


def _imports(proc: subprocess.CompletedProcess[str]) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_show_and_replay_work_after_the_sandbox_seed_is_gone(tmp_path: Path) -> None:
    run_id = _recorded_run(tmp_path)
    shutil.rmtree(tmp_path / "sandboxes" / "retail" / "seed")

    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTBOX_")}
    show = subprocess.run(
        [sys.executable, "-X", "importtime", *CLI[1:], "show", run_id],
        cwd=tmp_path,
        env=env | {"AGENTBOX_STORE": str(tmp_path / "t.db")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert show.returncode == 0, show.stderr[-2000:]
    assert run_id in show.stdout and "passed" in show.stdout
    # reading a run needs no scenario model, no YAML and no seed (start-up, issue 16)
    assert not {"yaml", "agentbox.scenario", "agentbox.sandbox"} & _imports(show)

    state = _agentbox(tmp_path, "show", run_id, "--state", "--path", "orders.ord_5531")
    assert state.returncode == 0, state.stderr
    assert json.loads(state.stdout)["id"] == "ord_5531"  # from the recorded seed
    replay = _agentbox(tmp_path, "replay", run_id)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "identical" in replay.stdout.lower(), replay.stdout
