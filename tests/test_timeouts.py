"""Timeouts (issue 11, item 10): a hung tool, model or agent ends the run as ``timeout``.

The hung code here waits for a release file the test writes, so every abandoned thread
ends before the test does; the tests then check that nothing it did afterwards reached
the trace store or the run's state.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentbox.approvals import ApprovalDecision, ApprovalRequest
from agentbox.checkpoints import state_at
from agentbox.config import load_settings
from agentbox.runner import Runner, RunResult, plan_run
from agentbox.store import StepRow, TraceStore

TOOLS = '''
import os, time
from agentbox import State, tool


def _wait_for(path: str) -> None:
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


@tool
def look(state: State, release: str) -> str:
    """Read slowly: waits until the file `release` exists.

    Args:
        release: A file path.
    """
    with open(release + ".started", "w"):
        pass
    _wait_for(release)
    return "looked"


@tool(effect="write")
def pay(state: State, account_id: str, amount_usd: float, release: str = "") -> dict:
    """Pay; when `release` is given, wait for that file first, then write `release`.done.

    Args:
        account_id: Account id.
        amount_usd: Amount in USD.
        release: A file path.
    """
    if release:
        _wait_for(release)
    state.put("payments", account_id, {"amount_usd": amount_usd})
    if release:
        with open(release + ".tmp", "w") as f:
            f.write("wrote")
        os.replace(release + ".tmp", release + ".done")
    return {"paid": amount_usd}
'''


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    box = tmp_path / "sandboxes" / "slow"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS, encoding="utf-8")
    (box / "seed" / "payments.json").write_text("{}", encoding="utf-8")
    (tmp_path / ".agentbox.toml").write_text('store = "traces.db"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def scenario(project: Path, body: dict[str, Any], name: str = "s") -> Path:
    data = {"name": name, "sandbox": "slow", "input": "go", "agent": {"type": "scripted"}}
    data.update(body)
    path = project / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def python_agent(project: Path, code: str) -> dict[str, Any]:
    module = f"slow_agent_{secrets.token_hex(4)}"
    (project / f"{module}.py").write_text(code, encoding="utf-8")
    return {"type": "python", "entry": f"{module}:run"}


def stored(project: Path, run_id: str | None = None) -> tuple[Any, list[StepRow]]:
    store = TraceStore(project / "traces.db")
    try:
        run = store.get_run(run_id) if run_id else store.list_runs(limit=1)[0]
        return run, store.steps(run.id)
    finally:
        store.close()


def run_library(project: Path, path: Path, **runner_args: Any) -> RunResult:
    store = TraceStore(project / "traces.db")
    try:
        plan = plan_run(path, load_settings(project))
        for key in [k for k in runner_args if k.startswith("plan_")]:
            setattr(plan, key.removeprefix("plan_"), runner_args.pop(key))
        return Runner(plan, store, **runner_args).run()
    finally:
        store.close()


def wait_for(path: Path) -> None:
    """Wait (not a timed assertion: only so the abandoned thread is done) for a file."""
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def assert_timed_out(run: Any, steps: list[StepRow], reason_part: str) -> StepRow:
    assert run.status == "timeout", (run.status, run.reason)
    assert run.ended_at is not None
    assert reason_part in (run.reason or ""), run.reason
    policy = [s for s in steps if s.kind == "policy"]
    assert [(s.name, s.status) for s in policy] == [("timeout", "timeout")]
    assert policy[0].data["reason"] == run.reason
    assert (steps[-1].kind, steps[-1].status) == ("final", "timeout")
    assert run.counters["steps"] == len(steps)  # taken over: its last steps are counted too
    return policy[0]


# ---- tools -------------------------------------------------------------------------------
def test_hung_tool_times_out_and_the_cli_returns(project: Path, cli: Any) -> None:
    release = project / "release"
    call = {"look": {"release": str(release)}}
    path = scenario(
        project,
        {"script": [{"tool_calls": [call]}, {"say": "x"}], "policy": {"timeouts": {"tool_s": 0.3}}},
    )
    result = cli("run", path, "-q", cwd=project)
    release.write_text("go")
    assert result.exit_code == 1, result.output
    run, steps = stored(project)
    assert_timed_out(run, steps, "tool look did not finish within 0.3 s (policy.timeouts.tool_s)")
    (tool,) = [s for s in steps if s.kind == "tool"]
    assert tool.status == "timeout" and tool.data["result"].startswith("Error: tool look")


def test_late_write_changes_nothing(project: Path) -> None:
    """A write that finishes after its timeout lands in a state object nobody reads."""
    release = project / "release"
    calls = [{"pay": {"account_id": "a1", "amount_usd": 5, "release": str(release)}}]
    path = scenario(
        project,
        {
            "script": [{"tool_calls": calls}, {"say": "x"}],
            "policy": {"timeouts": {"tools": {"pa*": 0.3}}},
        },
    )
    result = run_library(project, path)
    assert result.status == "timeout" and result.changes == []
    run, before = stored(project, result.run_id)
    release.write_text("go")
    wait_for(Path(f"{release}.done"))  # the tool wrote into its (abandoned) state
    time.sleep(0.1)  # let the late thread try to record, if it were able to
    run, after = stored(project, result.run_id)
    assert [(s.idx, s.status, s.patch) for s in after] == [
        (s.idx, s.status, s.patch) for s in before
    ]
    assert_timed_out(
        run, after, "tool pay did not finish within 0.3 s (policy.timeouts.tools['pa*'])"
    )
    (pay,) = [s for s in after if s.kind == "tool"]
    assert pay.status == "timeout" and pay.patch is None  # the intent row got its outcome
    store = TraceStore(project / "traces.db")
    try:
        assert list(state_at(store, run, after[-1].idx).values("payments")) == []
    finally:
        store.close()


def test_max_seconds_is_enforced_during_a_tool_call(project: Path) -> None:
    release = project / "release"
    call = {"look": {"release": str(release)}}
    path = scenario(
        project,
        {
            "script": [{"tool_calls": [call]}, {"say": "x"}],
            "policy": {"timeouts": {"tool_s": None}, "budgets": {"max_seconds": 0.4}},
        },
    )
    result = run_library(project, path)
    release.write_text("go")
    run, steps = stored(project, result.run_id)
    assert_timed_out(run, steps, "max_seconds=0.4 while tool look ran")
    assert [s.status for s in steps if s.kind == "tool"] == ["timeout"]


# ---- the model ---------------------------------------------------------------------------
class HungModel:
    """A model backend that never answers (until released)."""

    def __init__(self, release: Path) -> None:
        self.release = release

    def complete(self, messages: Any, tools: Any, ordinal: int) -> Any:
        wait_for(self.release)
        raise RuntimeError("released")


def test_hung_model_times_out(project: Path) -> None:
    release = project / "release"
    path = scenario(project, {"script": [{"say": "x"}], "policy": {"timeouts": {"model_s": 0.3}}})
    result = run_library(project, path, plan_model=HungModel(release))
    release.write_text("go")
    run, steps = stored(project, result.run_id)
    assert_timed_out(run, steps, "the model did not answer within 0.3 s (policy.timeouts.model_s)")
    assert not [s for s in steps if s.kind in ("llm", "error")]


# ---- the agent's own code ------------------------------------------------------------------
def test_hung_agent_code_times_out_and_cannot_record_afterwards(project: Path) -> None:
    release, seen = project / "release", project / "seen"
    agent = python_agent(
        project,
        "import os, time\n\n"
        "def run(ctx):\n"
        "    ctx.call_tool('pay', account_id='a0', amount_usd=1)\n"
        f"    while not os.path.exists({str(release)!r}):\n"
        "        time.sleep(0.01)\n"
        "    try:\n"
        "        ctx.call_tool('pay', account_id='a1', amount_usd=2)\n"
        "    except BaseException as exc:\n"
        f"        with open({str(seen)!r} + '.tmp', 'w') as f:\n"
        "            f.write(type(exc).__name__)\n"
        f"        os.replace({str(seen)!r} + '.tmp', {str(seen)!r})\n"
        "        raise\n",
    )
    path = scenario(project, {"agent": agent, "policy": {"timeouts": {"agent_s": 0.3}}})
    result = run_library(project, path)
    run, before = stored(project, result.run_id)
    release.write_text("go")
    wait_for(seen)
    assert seen.read_text() == "Abandoned"
    run, after = stored(project, result.run_id)
    assert len(after) == len(before)
    assert_timed_out(run, after, "the agent's own code ran 0.3 s without calling")
    assert [s.data["args"]["account_id"] for s in after if s.kind == "tool"] == ["a0"]
    assert result.changes and [c[1] for c in result.changes] == ["a0"]


def test_approval_wait_is_not_run_time(project: Path) -> None:
    call = {"pay": {"account_id": "a1", "amount_usd": 500}}
    path = scenario(
        project,
        {
            "script": [{"tool_calls": [call]}, {"say": "x"}],
            "policy": {
                "rules": [{"name": "big", "tool": "pay", "when": "amount_usd > 100"}],
                "budgets": {"max_seconds": 0.3},
                "timeouts": {"agent_s": 0.3, "tool_s": 0.3, "model_s": 0.3},
            },
        },
    )

    def slow_human(request: ApprovalRequest) -> ApprovalDecision:
        time.sleep(0.6)
        return ApprovalDecision("approve", by="sam")

    result = run_library(project, path, approver=slow_human)
    assert result.status == "completed", result.reason


def test_timeouts_are_documented_in_the_schema() -> None:
    from agentbox.scenario import scenario_json_schema

    timeouts = scenario_json_schema()["$defs"]["Timeouts"]["properties"]
    assert {"tool_s", "model_s", "agent_s", "tools"} <= set(timeouts)
    assert timeouts["tool_s"]["default"] == 30.0 and "description" in timeouts["tool_s"]


# ---- a real Ctrl-C is not a failure of the agent ----------------------------------------------
def test_ctrl_c_interrupts_the_cli_without_failing_the_run(project: Path) -> None:
    ready = project / "ready"
    agent = python_agent(
        project,
        "import time\n\n"
        "def run(ctx):\n"
        f"    with open({str(ready)!r}, 'w') as f:\n"
        "        f.write('x')\n"
        "    time.sleep(60)\n",
    )
    path = scenario(project, {"agent": agent})
    proc = subprocess.Popen(
        [sys.executable, "-c", "from agentbox.cli import main; main()", "run", str(path), "-q"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(project)},
    )
    try:
        wait_for(ready)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130  # the shell's code for Ctrl-C
    run, steps = stored(project)
    assert run.status == "running" and not run.live  # left as it was: resumable
    assert not [s for s in steps if s.kind == "error"], "a real Ctrl-C is not the agent's error"


def test_unknown_tool_in_timeouts_is_a_load_error(project: Path, cli: Any) -> None:
    path = scenario(
        project, {"script": [{"say": "x"}], "policy": {"timeouts": {"tools": {"lok": 5}}}}
    )
    result = cli("run", path, "-q", cwd=project)
    assert result.exit_code == 2
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "lok:" in t)
    assert f"{path}:{line}: policy.timeouts.tools.lok: no sandbox tool matches 'lok'" in (
        result.output
    )


def test_the_agent_thread_sees_the_callers_context_variables(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    holder = f"ctxvar_{secrets.token_hex(4)}"  # a sibling module both sides import by name
    (project / f"{holder}.py").write_text(
        "import contextvars\n\nVAR = contextvars.ContextVar('var', default='unset')\n"
    )
    agent = python_agent(
        project, f"import {holder}\n\ndef run(ctx):\n    return {holder}.VAR.get()\n"
    )
    monkeypatch.syspath_prepend(str(project))
    module = importlib.import_module(holder)
    path = scenario(project, {"agent": agent})
    token = module.VAR.set("from the caller")
    try:
        result = run_library(project, path)
    finally:
        module.VAR.reset(token)
    assert result.output == "from the caller"


def test_a_local_model_server_that_never_answers_times_out(project: Path, cli: Any) -> None:
    """litellm over real HTTP to a loopback socket that accepts and never replies."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        agent = {
            "type": "llm",
            "model": "openai/gpt-4o-mini",
            "params": {"api_base": f"http://127.0.0.1:{port}/v1", "api_key": "test"},
        }
        path = scenario(project, {"agent": agent, "policy": {"timeouts": {"model_s": 1}}})
        result = cli("run", path, "-q", cwd=project)
    assert result.exit_code == 1, result.output
    run, steps = stored(project)
    assert_timed_out(run, steps, "the model did not answer within 1 s (policy.timeouts.model_s)")


# ---- Runner.interrupt: the seam for `agentbox stop` -----------------------------------------
def test_interrupt_ends_a_run_during_a_hung_tool(project: Path) -> None:
    import threading

    release = project / "release"
    call = {"look": {"release": str(release)}}
    path = scenario(project, {"script": [{"tool_calls": [call]}, {"say": "x"}]})
    store = TraceStore(project / "traces.db")
    try:
        runner = Runner(plan_run(path, load_settings(project)), store)

        def stop_when_started() -> None:
            wait_for(Path(f"{release}.started"))
            runner.interrupt("stopped", "stopped by sam: enough")

        stopper = threading.Thread(target=stop_when_started)
        stopper.start()
        result = runner.run()
        stopper.join()
    finally:
        store.close()
        release.write_text("go")
    assert (result.status, result.reason) == ("stopped", "stopped by sam: enough")
    run, steps = stored(project, result.run_id)
    assert run.status == "stopped"
    assert [(s.kind, s.name, s.status) for s in steps[-3:]] == [
        ("tool", "look", "stopped"),
        ("policy", "stopped", "stopped"),
        ("final", "stopped", "stopped"),
    ]


def test_interrupt_ends_a_run_waiting_for_an_approval(project: Path) -> None:
    call = {"pay": {"account_id": "a1", "amount_usd": 500}}
    path = scenario(
        project,
        {
            "script": [{"tool_calls": [call]}, {"say": "x"}],
            "policy": {"rules": [{"name": "big", "tool": "pay", "when": "amount_usd > 100"}]},
        },
    )
    store = TraceStore(project / "traces.db")
    released = project / "decided"
    try:
        runner = Runner(plan_run(path, load_settings(project)), store)

        def undecided(request: ApprovalRequest) -> ApprovalDecision:
            runner.interrupt("stopped", "stopped while waiting")
            wait_for(released)  # a human who never answers (until the test ends)
            return ApprovalDecision("approve", by="late")

        runner.approver = undecided
        result = runner.run()
    finally:
        store.close()
        released.write_text("late")
    assert result.status == "stopped"
    _run, steps = stored(project, result.run_id)
    assert not [s for s in steps if s.kind == "tool"], "the held write never ran"
