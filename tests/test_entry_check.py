"""A python agent's or user's ``entry`` that cannot be found (no such file, or a file that
does not define the function) is refused before a run, with the same one-line error from
the CLI (exit 2) and the Python API (SandboxError)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import agentbox
from agentbox.errors import SandboxError

ROOT = Path(__file__).resolve().parent.parent


def _agent_entry(tmp_path: Path) -> tuple[Path, str]:
    data = yaml.safe_load((ROOT / "scenarios" / "python-triage.yaml").read_text("utf-8"))
    data["agent"]["entry"] = "agents/no_such_agent.py:run"
    path = tmp_path / "missing-agent.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path, "agent.entry 'agents/no_such_agent.py:run': file agents/no_such_agent.py not found"


def _user_entry(tmp_path: Path) -> tuple[Path, str]:
    data = {
        "name": "missing-user",
        "sandbox": "retail",
        "agent": {"type": "llm", "model": "scripted"},
        "input": "hi",
        "script": [{"say": "hello"}],
        "user": {"entry": "no_such_user.py:reply"},
    }
    path = tmp_path / "missing-user.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path, "user.entry 'no_such_user.py:reply': file no_such_user.py not found"


def _agent_function(tmp_path: Path) -> tuple[Path, str]:
    data = yaml.safe_load((ROOT / "scenarios" / "python-triage.yaml").read_text("utf-8"))
    data["agent"]["entry"] = "scenarios/agents/triage.py:runn"  # the file defines run
    path = tmp_path / "typo-function.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path, (
        "agent.entry 'scenarios/agents/triage.py:runn': triage.py defines no 'runn' "
        "(did you mean 'run'?)"
    )


def _line(path: Path, key: str) -> int:
    """The 1-based line of ``entry:`` under ``key:`` in a scenario file."""
    lines = path.read_text("utf-8").splitlines()
    start = lines.index(f"{key}:")
    return next(i for i, text in enumerate(lines) if i > start and "entry:" in text) + 1


CASES = [("agent", _agent_entry), ("user", _user_entry), ("agent", _agent_function)]


@pytest.mark.parametrize(("key", "write"), CASES)
def test_the_api_refuses_a_missing_entry_before_a_run(tmp_path: Path, key: str, write: Any) -> None:
    scenario, says = write(tmp_path)
    store = tmp_path / "t.db"
    with pytest.raises(SandboxError) as refused:
        agentbox.run(scenario, store=store, root=ROOT)
    assert refused.value.message.startswith(f"{scenario}:{_line(scenario, key)}: {says}")
    assert not store.exists()  # refused before anything was written


@pytest.mark.parametrize(("key", "write"), CASES)
def test_the_cli_refuses_a_missing_entry_before_a_run(
    tmp_path: Path, key: str, write: Any, cli: Any
) -> None:
    scenario, says = write(tmp_path)
    store = tmp_path / "t.db"
    result = cli("run", scenario, "--store", store)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert f"{scenario}:{_line(scenario, key)}: {says}" in message
    assert "Traceback" not in result.output
    assert not store.exists()
