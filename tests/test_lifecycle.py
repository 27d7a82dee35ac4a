"""Replay, fork and resume through the library and the CLI (issue: replay and fork)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentbox.approvals import fixed_approver
from agentbox.cassette import rebuild_requests
from agentbox.checkpoints import state_at
from agentbox.config import Settings
from agentbox.lifecycle import ForkEdits, fork_run, replay_run, resume_run
from agentbox.runner import Runner, plan_run
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def _run(path: Path, settings: Settings, store: TraceStore, **kw: object) -> str:
    result = Runner(plan_run(path, settings), store, **kw).run()  # type: ignore[arg-type]
    return result.run_id


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_replay_of_every_shipped_scenario_is_identical(
    path: Path, settings: Settings, store: TraceStore
) -> None:
    run_id = _run(path, settings, store)
    rep = replay_run(store, run_id, settings)
    assert rep.differences == []
    assert rep.identical
    replay = store.get_run(rep.result.run_id)
    assert replay.replay_of == run_id
    assert [s.name for s in store.steps(replay.id)] == [s.name for s in store.steps(run_id)]


def test_changed_system_prompt_fails_strict_replay_with_a_diff(
    tmp_path: Path, settings: Settings, store: TraceStore
) -> None:
    scenario = tmp_path / "refund.yaml"
    scenario.write_text((ROOT / "scenarios/refund-clean.yaml").read_text())
    run_id = _run(scenario, settings, store)
    data = yaml.safe_load(scenario.read_text())
    data["agent"]["system"] = "You are a terse agent."
    scenario.write_text(yaml.safe_dump(data, sort_keys=False))
    rep = replay_run(store, run_id, settings)
    assert not rep.identical
    replay = store.get_run(rep.result.run_id)
    assert replay.status == "failed"
    assert "cassette miss at model call 0" in (replay.reason or "")
    assert "-" in replay.reason and "You are a terse agent." in replay.reason  # the diff shows both


def _tamper(store: TraceStore, run_id: str, kind: str, path: str, value: object) -> None:
    """Change one JSON field of the run's first ``kind`` step, as stored."""
    conn = sqlite3.connect(store.path)
    conn.execute(
        "UPDATE steps SET data=json_set(data, ?, ?) WHERE run_id=? AND idx=("
        "SELECT min(idx) FROM steps WHERE run_id=? AND kind=?)",
        (path, value, run_id, run_id, kind),
    )
    conn.commit()
    conn.close()


def test_replay_names_a_step_that_differs_from_the_recording(
    settings: Settings, store: TraceStore
) -> None:
    run_id = _run(ROOT / "scenarios/refund-clean.yaml", settings, store)
    _tamper(store, run_id, "tool", "$.result", "tampered")
    rep = replay_run(store, run_id, settings)
    assert not rep.identical
    assert any("result differs" in d and "tampered" in d for d in rep.differences)


def test_replay_ignores_stored_fields_it_does_not_compare(
    settings: Settings, store: TraceStore
) -> None:
    """Token counts are not compared: a recording whose stored text differs only there
    replays as identical (the text check falls back to comparing the steps' views)."""
    run_id = _run(ROOT / "scenarios/refund-clean.yaml", settings, store)
    _tamper(store, run_id, "llm", "$.response.input_tokens", 999)
    rep = replay_run(store, run_id, settings)
    assert rep.identical, rep.differences


def test_fork_with_edited_state_keeps_the_prefix_byte_identical(
    settings: Settings, store: TraceStore
) -> None:
    parent = _run(ROOT / "scenarios/refund-over-limit.yaml", settings, store)
    # step 1 is get_order; fork at 2 (before the refund) with the order marked shipped
    child = fork_run(
        store,
        parent,
        2,
        settings,
        ForkEdits(set_values={"orders.ord_5531.status": "shipped"}),
        approver=fixed_approver("approve"),
    )
    row = store.get_run(child.run_id)
    assert (row.parent_id, row.fork_step) == (parent, 2)
    conn = sqlite3.connect(store.path)
    cols = "idx, kind, name, status, started_at, duration_s, data, message, patch, counters"
    before = conn.execute(
        f"SELECT {cols} FROM steps WHERE run_id=? AND idx<2 ORDER BY idx", (parent,)
    ).fetchall()
    after = conn.execute(
        f"SELECT {cols} FROM steps WHERE run_id=? AND idx<2 ORDER BY idx", (child.run_id,)
    ).fetchall()
    assert before == after and len(before) == 2
    fork_step = store.steps(child.run_id, 2, 3)[0]
    assert fork_step.kind == "fork"
    assert fork_step.patch == [
        {"op": "replace", "path": "/orders/ord_5531/status", "value": "shipped"}
    ]
    refund = [
        s for s in store.steps(child.run_id) if s.kind == "tool" and s.name == "create_refund"
    ][0]
    assert refund.status == "error" and "shipped" in refund.data["result"]
    assert state_at(store, row, fork_step.idx).get("orders", "ord_5531")["status"] == "shipped"
    assert not child.passed  # the refund the scenario expects could not happen
    failed = {e.name for e in child.expectations if not e.passed}
    assert "tool_calls[0] create_refund" in failed  # a call that errored was not "made"


def test_fork_tool_result_replaces_the_call_without_running_it(
    settings: Settings, store: TraceStore
) -> None:
    parent = _run(ROOT / "scenarios/refund-clean.yaml", settings, store)
    child = fork_run(
        store, parent, 1, settings, ForkEdits(tool_result="Error: order service timeout")
    )
    steps = store.steps(child.run_id)
    assert steps[0].data == store.steps(parent, 0, 1)[0].data
    assert steps[1].kind == "fork" and steps[1].data["edits"]["tool_result"]
    assert (steps[2].kind, steps[2].name, steps[2].status) == ("tool", "get_order", "ok")
    assert steps[2].data["result"] == "Error: order service timeout"
    assert steps[2].data["edited"] is True and steps[2].patch is None


PY_AGENT = """
CALLS = {"n": 0}

def run(ctx):
    first = ctx.call_tool("bump", key="a")
    second = ctx.call_tool("bump", key="a")
    again = ctx.complete([{"role": "user", "content": "same"}], tools=[])
    again2 = ctx.complete([{"role": "user", "content": "same"}], tools=[])
    third = ctx.call_tool("bump", key="a")
    return f"{first.value['count']},{second.value['count']},{third.value['count']}|{again.text}|{again2.text}"
"""

TOOLS = '''
from agentbox import State, tool

CALLS = {"n": 0}


@tool(effect="write")
def bump(state: State, key: str) -> dict:
    """Increment a counter.

    Args:
        key: Counter key.
    """
    CALLS["n"] += 1
    with state.edit("counters", key) as c:
        c["count"] += 1
    return {"count": state.get("counters", key)["count"]}
'''


@pytest.fixture()
def py_project(tmp_path: Path) -> Path:
    box = tmp_path / "sandboxes" / "counter"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    (box / "seed" / "counters.json").write_text('{"a": {"count": 0}}')
    (tmp_path / "py_counter_agent.py").write_text(PY_AGENT)
    (tmp_path / "py.yaml").write_text(
        "name: py\nsandbox: counter\ninput: go\n"
        "agent: {type: python, entry: 'py_counter_agent:run', model: scripted}\n"
        "script: [{say: first answer}, {say: second answer}]\n"
    )
    return tmp_path


def test_python_agent_fork_serves_the_prefix_without_calling_tools(
    py_project: Path, store: TraceStore
) -> None:
    settings = Settings(root=py_project)
    parent = _run(py_project / "py.yaml", settings, store)
    assert store.get_run(parent).output == "1,2,3|first answer|second answer"
    tools = sys.modules["agentbox_sandbox_counter"]
    calls_before = tools.CALLS["n"]
    # fork at the third bump (after two bumps and two model calls): only one tool call runs
    third = [s.idx for s in store.steps(parent) if s.kind == "tool"][2]
    child = fork_run(store, parent, third, settings, ForkEdits(set_values={"counters.a.count": 10}))
    assert tools.CALLS["n"] - calls_before == 1
    assert child.output == "1,2,11|first answer|second answer"


def test_identical_model_requests_replay_in_order(py_project: Path, store: TraceStore) -> None:
    settings = Settings(root=py_project)
    parent = _run(py_project / "py.yaml", settings, store)
    rep = replay_run(store, parent, settings)
    assert rep.identical, rep.differences
    assert store.get_run(rep.result.run_id).output.endswith("|first answer|second answer")


def test_a_run_that_failed_replays_as_identical_when_it_fails_the_same_way(
    py_project: Path, store: TraceStore, cli
) -> None:  # type: ignore[no-untyped-def]
    (py_project / "crash_agent.py").write_text(
        "def run(ctx):\n"
        "    ctx.call_tool('bump', key='a')\n"
        "    ctx.complete([{'role': 'user', 'content': 'go'}], tools=[])\n"
        "    raise RuntimeError('the agent gave up')\n"
    )
    (py_project / "crash.yaml").write_text(
        "name: crash\nsandbox: counter\ninput: go\n"
        "agent: {type: python, entry: 'crash_agent:run', model: scripted}\n"
        "script: [{say: fine}]\n"
    )
    settings = Settings(root=py_project)
    parent = _run(py_project / "crash.yaml", settings, store)
    assert store.get_run(parent).status == "failed"
    rep = replay_run(store, parent, settings)
    assert rep.differences == [] and rep.identical
    result = cli("replay", parent, "--store", str(store.path), cwd=py_project)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("identical: replay ")


def test_parked_run_resumes_with_the_decision_and_no_repeated_write(
    settings: Settings, store: TraceStore
) -> None:
    parked = Runner(
        plan_run(ROOT / "scenarios/refund-over-limit.yaml", settings),
        store,
        approver=fixed_approver("park"),
    ).run()
    assert parked.status == "awaiting_approval"
    row = store.get_run(parked.run_id)
    assert row.status == "awaiting_approval" and not row.live
    store.decide_approval(parked.pending_approval, "approved", by="alice", reason="ok")
    done = resume_run(store, parked.run_id, settings)
    assert done.status == "completed" and done.passed
    steps = store.steps(parked.run_id)
    assert [s.idx for s in steps] == list(range(len(steps)))
    refunds = [s for s in steps if s.name == "create_refund" and s.kind == "tool"]
    assert len(refunds) == 1 and refunds[0].status == "ok"
    approval = [s for s in steps if s.kind == "approval"][0]
    assert approval.status == "approved" and approval.data["decided_by"] == "alice"


def test_resuming_a_finished_run_is_refused(settings: Settings, store: TraceStore, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = _run(ROOT / "scenarios/refund-clean.yaml", settings, store)
    result = cli("resume", run_id, "--store", str(store.path))
    assert result.exit_code == 2
    assert "already completed" in result.output and "fork" in result.output


def test_cli_replay_fork_and_diff(cli, store_path: Path, open_store: Any) -> None:  # type: ignore[no-untyped-def]
    assert cli("run", "scenarios/refund-clean.yaml", "-q").exit_code == 0
    run_id = open_store(store_path).list_runs(limit=1)[0].id
    rep = cli("replay", run_id[:6])
    assert rep.exit_code == 0 and "identical" in rep.output
    fork = cli("fork", run_id, "--at", "2", "--set", 'orders.ord_5120.status="shipped"')
    assert fork.exit_code == 1  # the refund now fails, so expectations fail
    child = open_store(store_path).list_runs(limit=1)[0]
    assert child.parent_id == run_id
    diff = cli("diff", run_id, child.id)
    assert diff.exit_code == 0
    assert "first divergence: step 2" in diff.output
    assert "orders/ord_5120" in diff.output


def test_show_state_at_a_step_and_the_diff_between_steps(
    cli, store_path: Path, open_store: Any
) -> None:  # type: ignore[no-untyped-def]
    import json

    assert cli("run", "scenarios/refund-clean.yaml", "-q").exit_code == 0
    run_id = open_store(store_path).list_runs(limit=1)[0].id
    before = json.loads(cli("show", run_id, "--step", "1", "--state").output)
    after = json.loads(cli("show", run_id, "--step", "3", "--state").output)
    assert before["refunds"] == {} and after["refunds"]["ref_0001"]["amount_usd"] == 64.5
    diff = json.loads(cli("show", run_id, "--step", "3", "--diff", "1", "--json").output)
    assert [(d["collection"], d["key"], d["before"]) for d in diff] == [
        ("refunds", "ref_0001", None)
    ]
    last = json.loads(cli("show", run_id, "--diff", "1", "--json").output)  # to the last step
    assert [(d["collection"], d["key"]) for d in last] == [
        ("refunds", "ref_0001"),
        ("tickets", "tkt_9002"),
    ]


def test_a_parked_fork_resumes(settings: Settings, store: TraceStore) -> None:
    parent = _run(ROOT / "scenarios/refund-over-limit.yaml", settings, store)
    child = fork_run(
        store,
        parent,
        2,
        settings,
        ForkEdits(set_values={"orders.ord_5531.total_usd": 300.0}),
        approver=fixed_approver("park"),
    )
    assert child.status == "awaiting_approval"
    store.decide_approval(child.pending_approval, "approved", by="ops")
    done = resume_run(store, child.run_id, settings)
    assert done.status == "completed", done.reason
    steps = store.steps(child.run_id)
    assert [s.idx for s in steps] == list(range(len(steps)))
    assert [s.kind for s in steps].count("fork") == 1
    refund = next(s for s in steps if s.kind == "tool" and s.name == "create_refund")
    assert refund.status == "ok"
    assert (
        state_at(store, store.get_run(child.run_id), steps[-1].idx).get("orders", "ord_5531")[
            "total_usd"
        ]
        == 300.0
    )


def test_fork_after_an_edited_approval_keeps_the_edit(
    settings: Settings, store: TraceStore
) -> None:
    from agentbox.approvals import ApprovalDecision

    def edit(request):  # type: ignore[no-untyped-def]
        return ApprovalDecision("approve", args={**request.args, "amount_usd": 180}, by="ops")

    parent = (
        Runner(plan_run(ROOT / "scenarios/refund-over-limit.yaml", settings), store, approver=edit)
        .run()
        .run_id
    )
    tool_idx = next(
        s.idx for s in store.steps(parent) if s.kind == "tool" and s.name == "create_refund"
    )
    child = fork_run(
        store, parent, tool_idx, settings, ForkEdits(), approver=fixed_approver("deny")
    )
    refund = next(
        s for s in store.steps(child.run_id) if s.kind == "tool" and s.name == "create_refund"
    )
    assert refund.status == "ok" and refund.data["args"]["amount_usd"] == 180


def test_fork_with_a_bad_set_path_writes_nothing(cli, store_path: Path, open_store: Any) -> None:  # type: ignore[no-untyped-def]
    assert cli("run", "scenarios/refund-clean.yaml", "-q").exit_code == 0
    run_id = open_store(store_path).list_runs(limit=1)[0].id
    result = cli("fork", run_id, "--at", "2", "--set", 'nonexistent.path="x"')
    assert result.exit_code == 2 and "no record nonexistent/path" in result.output
    assert open_store(store_path).count_runs() == 1


def test_replay_refuses_forks_and_unfinished_runs(settings: Settings, store: TraceStore) -> None:
    from agentbox.errors import StoreError

    parent = _run(ROOT / "scenarios/refund-clean.yaml", settings, store)
    child = fork_run(store, parent, 1, settings, ForkEdits(tool_result="boom"))
    parked = Runner(
        plan_run(ROOT / "scenarios/refund-over-limit.yaml", settings),
        store,
        approver=fixed_approver("park"),
    ).run()
    for run_id, words in ((child.run_id, "is a fork"), (parked.run_id, "only finished runs")):
        with pytest.raises(StoreError, match=words):
            replay_run(store, run_id, settings)


def test_fork_with_another_policy_and_an_added_message(
    tmp_path: Path, settings: Settings, store: TraceStore
) -> None:
    parent = _run(ROOT / "scenarios/refund-over-limit.yaml", settings, store)
    policy = tmp_path / "lenient.yaml"
    policy.write_text("policy:\n  rules: []\n")
    child = fork_run(
        store, parent, 2, settings, ForkEdits(policy_file=policy, message="Please hurry.")
    )
    steps = store.steps(child.run_id)
    assert not [s for s in steps if s.kind == "approval"]  # the lenient policy holds nothing
    refund = next(s for s in steps if s.kind == "tool" and s.name == "create_refund")
    assert refund.status == "ok" and refund.data["decision"]["verdict"] == "allow"
    first_live_llm = next(s for s in steps if s.kind == "llm" and s.idx > 2)
    assert {"role": "user", "content": "Please hurry."} in first_live_llm.data["request"]["delta"]


def test_a_resumed_fork_keeps_its_added_message(settings: Settings, store: TraceStore) -> None:
    parent = _run(ROOT / "scenarios/refund-over-limit.yaml", settings, store)
    child = fork_run(
        store,
        parent,
        2,
        settings,
        ForkEdits(message="Please hurry."),
        approver=fixed_approver("park"),
    )
    store.decide_approval(child.pending_approval, "approved", by="ops")
    done = resume_run(store, child.run_id, settings)
    assert done.status == "completed"
    requests = rebuild_requests(store.steps(child.run_id))
    hurried = [r for r in requests if {"role": "user", "content": "Please hurry."} in r]
    assert len(hurried) == len(requests) - 1  # every request after the fork carries it


def test_diff_of_a_fork_names_the_fork_and_compares_the_steps_after_it(
    cli, store_path: Path, open_store: Any
) -> None:  # type: ignore[no-untyped-def]
    import json

    assert cli("run", "scenarios/refund-clean.yaml", "-q").exit_code == 0
    run_id = open_store(store_path).list_runs(limit=1)[0].id
    cli("fork", run_id, "--at", "2", "--set", 'orders.ord_5120.status="shipped"')
    child = open_store(store_path).list_runs(limit=1)[0]
    data = json.loads(cli("diff", run_id, child.id, "--json").output)
    first, after = data["differences"][:2]
    assert first == f'step 2: fork of {run_id} at step 2: set orders.ord_5120.status = "shipped"'
    # the parent's step 3 is the fork's step 4: the refund the edit made fail
    assert after.startswith('step 3 (b: 4) tool create_refund: status differs: "ok" != "error"')
    assert not any('"fork"' in d for d in data["differences"])
    text = " ".join(cli("diff", run_id, child.id).output.split())
    assert f"first divergence: step 2: fork of {run_id} at step 2: set" in text
    assert "after the fork: step 3 (b: 4) tool create_refund" in text
