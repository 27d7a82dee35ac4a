"""What the shadow tests over SQLite and over PostgreSQL share: a python agent that writes
once then hangs, and killing its run (SIGKILL) once the write is in the overlay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent

SLOW_AGENT = (
    "import time\n"
    "def run(ctx):\n"
    "    ctx.call_tool('update_address', customer_id='cus_1042', line1='1 Kill St',\n"
    "                  city='Chicago', state_code='IL', zip='60611')\n"
    "    time.sleep(60)\n"
)


def slow_shadow_scenario(tmp_path: Path, state: str) -> Path:
    """``tmp_path/slow.yaml``: a shadow run over ``state`` (a database URL) whose agent
    changes cus_1042's address, then sleeps 60 s."""
    (tmp_path / "slow_agent.py").write_text(SLOW_AGENT, encoding="utf-8")
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "slow-shadow",
                "sandbox": "retail",
                "mode": "shadow",
                "state": state,
                "agent": {"type": "python", "entry": "slow_agent.py:run", "model": "scripted"},
                "input": "go",
                "script": [{"say": "done"}],
            }
        ),
        encoding="utf-8",
    )
    return scenario


def _wrote(store_path: Path) -> bool:
    if not store_path.exists():
        return False
    store = TraceStore(store_path)
    try:
        runs = store.list_runs(limit=None)
        return bool(runs) and any(
            s.name == "update_address" and s.status == "ok" for s in store.steps(runs[0].id)
        )
    finally:
        store.close()


def kill_after_the_write(scenario: Path, store_path: Path) -> None:
    """Run ``scenario`` with the CLI in a subprocess and SIGKILL it once its write landed."""
    agentbox = str(Path(sys.executable).parent / "agentbox")
    proc = subprocess.Popen(
        [agentbox, "run", str(scenario), "--store", str(store_path), "-q"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _wrote(store_path):
            if time.monotonic() > deadline:
                pytest.fail("the run never reached its write")
            time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
