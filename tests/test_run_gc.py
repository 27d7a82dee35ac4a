"""Garbage collection inside a run (issue 16, max stall < 5 ms): the objects made before
the run (modules, the seed) are frozen while it runs, so a full collection between two
steps scans only what the run made, and they are handed back to the collector after."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import agentbox

TOOLS = '''
import gc
from agentbox import State, tool


@tool
def frozen(state: State) -> dict:
    """How many objects the collector leaves alone right now."""
    return {"frozen": gc.get_freeze_count()}
'''

SCENARIO = """
name: gc
sandbox: box
input: go
agent: {type: scripted}
script:
  - tool_calls: [{frozen: {}}]
  - say: done
"""


def test_objects_older_than_the_run_are_frozen_during_it_only(tmp_path: Path) -> None:
    box = tmp_path / "sandboxes" / "box"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS, encoding="utf-8")
    (box / "seed" / "items.json").write_text(json.dumps({"a": {"n": 1}}), encoding="utf-8")
    scenario = tmp_path / "gc.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    store = agentbox.open_store(tmp_path / "traces.db")
    before = gc.get_freeze_count()
    result = agentbox.run(scenario, store=store, root=tmp_path)
    assert result.status == "completed"
    (tool,) = [s for s in store.steps(result.run_id) if s.kind == "tool"]
    seen = json.loads(tool.data["result"])["frozen"]
    assert seen > 10_000 + before  # the modules loaded by now, at least
    assert gc.get_freeze_count() == before
    store.close()


def test_suite_cases_are_not_frozen(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    # a suite runs many short runs in one process: freezing each would put the previous
    # case's leftovers in the oldest generation at every unfreeze (5,000 cases: 632 MB)
    box = tmp_path / "sandboxes" / "box"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS, encoding="utf-8")
    (box / "seed" / "items.json").write_text(json.dumps({"a": {"n": 1}}), encoding="utf-8")
    (tmp_path / ".agentbox.toml").write_text('store = "traces.db"\n', encoding="utf-8")
    (tmp_path / "gc.yaml").write_text(SCENARIO, encoding="utf-8")
    before = gc.get_freeze_count()
    result = cli("test", tmp_path / "gc.yaml", "--json", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["results"][0]["run_id"]
    store = agentbox.open_store(tmp_path / "traces.db")
    (tool,) = [s for s in store.steps(run_id) if s.kind == "tool"]
    assert json.loads(tool.data["result"])["frozen"] == before
    store.close()
