"""A python agent calling tools from many threads: each step keeps its own patch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentbox.cli import app
from agentbox.store import TraceStore

TOOLS = '''
import time
from agentbox import State, tool


@tool(effect="write")
def add_item(state: State, n: int) -> dict:
    """Store item n (slowly, as a tool doing I/O would).

    Args:
        n: The item number.
    """
    state.put("items", f"i{n}", {"n": n})
    time.sleep(0.001)
    with state.edit("counters", "total") as total:
        total["count"] += 1
    return {"stored": n}
'''

AGENT = """
import threading


def run(ctx):
    results = []

    def worker(t):
        for i in range(15):
            results.append(ctx.call_tool("add_item", n=t * 100 + i).status)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return f"{results.count('ok')} ok"
"""

SCENARIO = """
name: threads
sandbox: box
agent: {type: python, entry: "threads_agent:run"}
input: store 120 items
policy:
  budgets: {max_tool_calls: 500, max_steps: 500}
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    box = tmp_path / "sandboxes" / "box"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    (box / "seed" / "items.json").write_text("{}")
    (box / "seed" / "counters.json").write_text('{"total": {"count": 0}}')
    (tmp_path / ".agentbox.toml").write_text('store = "traces.db"\n')
    (tmp_path / "threads_agent.py").write_text(AGENT)
    (tmp_path / "threads.yaml").write_text(SCENARIO)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_concurrent_tool_calls_keep_their_own_patches(project: Path) -> None:
    result = CliRunner().invoke(app, ["run", "threads.yaml", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["output"] == "120 ok"
    store = TraceStore(project / "traces.db")
    try:
        steps = [s for s in store.steps(out["run_id"]) if s.kind == "tool"]
    finally:
        store.close()
    assert len(steps) == 120
    seen = set()
    for step in steps:
        n = step.data["args"]["n"]
        seen.add(n)
        assert step.status == "ok"
        assert step.patch == [
            {"op": "add", "path": f"/items/i{n}", "value": {"n": n}},
            {
                "op": "replace",
                "path": "/counters/total/count",
                "value": step.counters["tool_calls"],
            },
        ], f"step {step.idx} ({n}) carries another call's patch"
    assert seen == {t * 100 + i for t in range(8) for i in range(15)}
    assert [s.idx for s in steps] == sorted({s.idx for s in steps})  # no index used twice


SWALLOWING_AGENT = """
import threading


def run(ctx):
    def worker(t):
        try:
            for i in range(15):
                ctx.call_tool("add_item", n=t * 100 + i)
        except BaseException:  # a careless worker: the halt is lost with its thread
            return

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return "all done"
"""


def test_a_budget_halt_met_by_one_thread_halts_the_run(project: Path) -> None:
    scenario = SCENARIO.replace("max_tool_calls: 500", "max_tool_calls: 20")
    (project / "threads.yaml").write_text(scenario.replace("threads_agent", "swallowing_agent"))
    (project / "swallowing_agent.py").write_text(SWALLOWING_AGENT)
    result = CliRunner().invoke(app, ["run", "threads.yaml", "--json"], catch_exceptions=False)
    out = json.loads(result.stdout)
    assert out["status"] == "halted", out
    assert "max_tool_calls" in (out["reason"] or "")
    store = TraceStore(project / "traces.db")
    try:
        steps = store.steps(out["run_id"])
    finally:
        store.close()
    assert sum(s.kind == "tool" for s in steps) == 20
    assert steps[-1].kind == "final" and steps[-1].status == "halted"
