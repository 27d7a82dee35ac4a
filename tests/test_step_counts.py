"""A run's stored step count equals the steps it stored, however it ended.

``agentbox runs`` and ``show`` print ``counters.steps``; the timeline and ``show --step``
read the stored steps. They must agree for a completed, halted, stopped and failed run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from procs import project
from typer.testing import CliRunner

from agentbox.cli import app

CRASH_AGENT = '''
def run(ctx):
    """Read the account, then crash."""
    ctx.call_tool("get_account", account_id="acc_1")
    raise RuntimeError("agent bug")
'''

CRASH_SCENARIO = """
name: crasher
sandbox: bank
input: read then crash
agent: {type: python, entry: "crash_agent:run"}
"""


def invoke(monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str) -> Any:
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("approvals", "args", "status"),
    [
        ("approve", ("payout.yaml", "-q"), "completed"),
        ("fail", ("payout.yaml", "-q"), "halted"),
        ("approve", ("payout.yaml", "--detach"), "stopped"),  # parked, then `agentbox stop`
        ("approve", ("crash.yaml", "-q"), "failed"),
    ],
)
def test_stored_step_count_equals_the_steps_stored(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_store: Any,
    approvals: str,
    args: tuple[str, ...],
    status: str,
) -> None:
    cwd = project(tmp_path, approvals=approvals)
    (cwd / "crash_agent.py").write_text(CRASH_AGENT)
    (cwd / "crash.yaml").write_text(CRASH_SCENARIO)
    monkeypatch.setenv("PAY_LOG", str(tmp_path / "pay.log"))
    invoke(monkeypatch, cwd, "run", *args)
    store = open_store(cwd / "traces.db")
    run = store.list_runs(limit=1)[0]
    if status == "stopped":
        assert run.status == "awaiting_approval"
        assert invoke(monkeypatch, cwd, "stop", run.id).exit_code == 0
        run = store.get_run(run.id)
    assert run.status == status
    steps = store.steps(run.id)
    assert [s.idx for s in steps] == list(range(len(steps)))
    assert steps[-1].kind == "final"
    assert run.counters["steps"] == len(steps)
    assert steps[-1].counters["steps"] == len(steps)
    if status == "failed":
        assert steps[-2].kind == "error"
    # what a user reads: `show --step` past the end names the same count as `runs`
    shown = invoke(monkeypatch, cwd, "show", run.id, "--step", "99")
    assert f"it has {len(steps)} steps" in shown.output, shown.output
