"""agentbox.adapters: framework agents (OpenAI Agents SDK, LangGraph, pydantic-ai) use the
sandbox's tools as native tools, and their own plain functions gated, with a scripted model.

Each shipped adapter scenario is run for real (its model calls answered by the scripted
model): the $240 refund is held by the yellow rule; in recommend mode nothing is executed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent

ADAPTERS = ["adapter-agents-sdk", "adapter-langgraph", "adapter-pydantic-ai", "adapter-gated"]
REFUND = {"adapter-gated": "refund_order"}


def _run(store_path: Path) -> tuple[Any, list[Any]]:
    store = TraceStore(store_path)
    try:
        (run,) = store.list_runs(limit=1)
        return run, store.steps(run.id)
    finally:
        store.close()


@pytest.mark.parametrize("name", ADAPTERS)
def test_framework_agent_refund_is_held(name: str, cli: Any, store_path: Path) -> None:
    result = cli("run", f"scenarios/{name}.yaml", "-q")
    assert result.exit_code == 0, result.output
    _, steps = _run(store_path)
    refund = REFUND.get(name, "create_refund")
    calls = [(s.kind, s.name, s.status) for s in steps if s.kind in ("tool", "approval")]
    assert calls[1:] == [("approval", refund, "approved"), ("tool", refund, "ok")]
    held = next(s for s in steps if s.kind == "approval")
    assert held.data["decision"]["rule"] == "big-refund"
    assert [s.kind for s in steps].count("llm") == 3  # the framework's model calls, scripted


@pytest.mark.parametrize("name", ADAPTERS)
def test_framework_agent_recommend_executes_nothing(
    name: str, cli: Any, store_path: Path, tmp_path: Path
) -> None:
    log = tmp_path / "refunds.log"
    result = cli(
        "run",
        f"scenarios/{name}.yaml",
        "--mode",
        "recommend",
        "--json",
        env={"REFUNDS_LOG": str(log)},
    )
    assert result.exit_code == 1, result.output  # the scenario expects an executed refund
    out = json.loads(result.output[result.output.index("{") :])
    assert out["changes"] == []  # no write reached the sandbox state
    assert not log.exists()  # nor the agent's own function
    (proposed,) = out["recommendations"]
    assert proposed["tool"] == REFUND.get(name, "create_refund")
    assert proposed["decision"]["rule"] == "big-refund"


def test_gated_function_replays_from_the_recording(
    cli: Any, tmp_path: Path, store_path: Path
) -> None:
    log = tmp_path / "refunds.log"
    ran = cli("run", "scenarios/adapter-gated.yaml", "-q", env={"REFUNDS_LOG": str(log)})
    assert ran.exit_code == 0, ran.output
    assert len(log.read_text().splitlines()) == 1
    run_id = _run(store_path)[0].id
    replay = cli("replay", run_id, env={"REFUNDS_LOG": str(log)})
    assert replay.exit_code == 0, replay.output
    assert "identical" in replay.output
    assert len(log.read_text().splitlines()) == 1  # the replay never called the function


def test_gated_function_outside_a_run_is_a_plain_call() -> None:
    from agentbox.adapters import gated

    @gated(effect="write")
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42


def test_missing_framework_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentbox.adapters import AdapterError, openai_agents_tools

    monkeypatch.setitem(sys.modules, "agents", None)  # as if openai-agents were not installed
    with pytest.raises(AdapterError) as info:
        openai_agents_tools(object())  # type: ignore[arg-type]
    assert "openai-agents" in info.value.message and info.value.hint == "pip install openai-agents"


def test_gated_function_case_replays_without_the_function(
    cli: Any, tmp_path: Path, store_path: Path
) -> None:
    """An exported case carries the gated functions' results: `agentbox test` never calls
    them (here they would crash: their log folder is gone), and a changed recorded
    argument fails the case."""
    log = tmp_path / "refunds.log"
    ran = cli("run", "scenarios/adapter-gated.yaml", "-q", env={"REFUNDS_LOG": str(log)})
    assert ran.exit_code == 0, ran.output
    run_id = _run(store_path)[0].id
    suite = tmp_path / "suite"
    exported = cli("export", run_id, "--suite", suite, "--name", "gated")
    assert exported.exit_code == 0, exported.output
    case_file = suite / "gated.yaml"
    case = yaml.safe_load(case_file.read_text())
    results = case["cassette"]["tool_results"]
    assert [r["tool"] for r in results] == ["lookup_order", "refund_order"]
    assert "mcp_tools" not in case["cassette"]

    gone = {"REFUNDS_LOG": str(tmp_path / "gone" / "refunds.log")}  # the function would crash
    tested = cli("test", case_file, env=gone)
    assert tested.exit_code == 0, tested.output
    assert "1 passed" in tested.output
    assert len(log.read_text().splitlines()) == 1  # only the recording run refunded

    results[1]["args"]["amount_usd"] = 24
    case_file.write_text(yaml.safe_dump(case, sort_keys=False))
    failed = cli("test", case_file, env=gone)
    assert failed.exit_code == 1, failed.output
    assert "refund_order was recorded with" in failed.output
