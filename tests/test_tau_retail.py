"""tau-bench retail in agentbox, reproduced exactly (issue 3).

Reads tau-bench's data from ``shared/external/tau-bench`` beside the repository clone and
skips when it is absent. Every ground-truth tool call of the 115 test tasks, run through
plan_run + Runner into a trace store, must give the reference output string, and every
task must end with tau's reference data hash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agentbox.cli import app
from agentbox.config import load_settings
from agentbox.errors import SandboxError
from agentbox.runner import Runner, RunOptions, RunResult, plan_from_scenario, plan_run
from agentbox.sandbox import State, load_sandbox, loader
from agentbox.scenario import parse_scenario
from agentbox.store import StepRow, TraceStore

ROOT = Path(__file__).resolve().parents[1]
TAU = Path(__file__).resolve().parents[2] / "shared" / "external" / "tau-bench"
DATA = TAU / "retail"
if os.environ.get("AGENTBOX_TAU_DATA"):  # the same override the sandbox honours
    DATA = Path(os.environ["AGENTBOX_TAU_DATA"])
    TAU = DATA.parent
SANDBOX = ROOT / "sandboxes" / "tau_retail"
TASK_YAML = SANDBOX / "task.yaml"

pytestmark = pytest.mark.skipif(
    not (DATA / "tasks_test.json").is_file(),
    reason=f"tau-bench data not found at {TAU} (shared/external/tau-bench beside the clone)",
)


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return _load("reference_gt_replay_test.json")


@pytest.fixture(scope="module")
def settings() -> Any:
    return load_settings(ROOT)


@pytest.fixture(scope="module")
def box() -> Any:
    return load_sandbox(SANDBOX)


@pytest.fixture(scope="module")
def hooks(box: Any) -> Any:
    """The tools module (state_fingerprint, task_scenario, direct_state_hash)."""
    import sys

    return sys.modules[f"agentbox_sandbox_{SANDBOX.name}"]


@pytest.fixture(scope="module")
def replay(
    settings: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[tuple[RunResult, list[StepRow]]]]:
    """All 115 tasks through plan_run + Runner into one trace store."""
    db = tmp_path_factory.mktemp("tau") / "traces.db"
    store = TraceStore(db)
    runs = []
    try:
        n = len(_load("tasks_test.json"))
        for task in range(n):
            plan = plan_run(TASK_YAML, settings, RunOptions(task=task))
            result = Runner(plan, store).run()
            runs.append((result, [s for s in store.steps(result.run_id) if s.kind == "tool"]))
    finally:
        store.close()
    return db, runs


def test_initial_hash(box: Any, hooks: Any, reference: dict[str, Any]) -> None:
    state = State(box.seed)
    assert hooks.state_fingerprint(state) == reference["initial_data_hash"]
    assert hooks.direct_state_hash(state.snapshot()) == reference["initial_data_hash"]


def test_all_tasks_reproduce_reference(replay: Any, reference: dict[str, Any]) -> None:
    _, runs = replay
    tasks = reference["tasks"]
    assert len(runs) == len(tasks) == 115
    mismatches = []
    for (result, steps), ref in zip(runs, tasks, strict=True):
        task = ref["task_id"]
        assert result.status == "completed", (task, result.reason)
        got = [(s.name, s.data["args"], s.data["result"]) for s in steps]
        want = [(r["name"], r["kwargs"], r["observation"]) for r in ref["steps"]]
        if got != want:
            mismatches.append(task)
        hash_check = [e for e in result.expectations if e.name == "state_hash"]
        assert len(hash_check) == 1 and hash_check[0].passed, (task, hash_check)
        assert result.passed, (task, [e for e in result.expectations if not e.passed])
    assert mismatches == []


def test_step_statuses(replay: Any) -> None:
    _, runs = replay
    for result, steps in runs:
        for step in steps:
            text = step.data["result"]
            expected = "error" if text.startswith("Error:") else "ok"
            assert step.status == expected, (result.run_id, step.name, text)
    ended = [
        steps[-1] for _, steps in runs if steps and steps[-1].name == "transfer_to_human_agents"
    ]
    assert len(ended) == 4
    assert all(s.data.get("ends_run") and s.data["result"] == "Transfer successful" for s in ended)


def test_hash_of_changed_state_matches_direct_computation(
    replay: Any, hooks: Any, box: Any
) -> None:
    db, runs = replay
    store = TraceStore(db)
    try:
        result = next(r for r, _ in runs if r.changes)
        state = State(box.seed)
        for step in store.steps(result.run_id):
            if step.patch:
                state.apply_patch(step.patch)
    finally:
        store.close()
    assert state.changes()
    assert hooks.state_fingerprint(state) == hooks.direct_state_hash(state.snapshot())


def test_hash_edge_cases_match_direct_computation(hooks: Any, box: Any) -> None:
    small = {
        "orders": {"#W1": {"b": [1, 2.0], "a": {"y": None, "x": "it's"}}},
        "products": {},
        "users": {"u2": {"n": 1}, "u1": {"n": [True, 'q"q']}},
    }
    state = State(small)
    assert hooks.state_fingerprint(state) == hooks.direct_state_hash(small)
    state.put("products", "p1", {"v": 1.5})
    state.delete("users", "u2")
    assert hooks.state_fingerprint(state) == hooks.direct_state_hash(state.snapshot())
    big = State(box.seed)  # the seed again, then records added, changed and removed
    assert hooks.state_fingerprint(big) == hooks.direct_state_hash(box.seed)
    big.put("orders", "#W0", {"order_id": "#W0", "price": 100})
    with big.edit("users", next(iter(box.seed["users"]))) as user:
        user["email"] = "x@example.com"
    assert hooks.state_fingerprint(big) == hooks.direct_state_hash(big.snapshot())
    big.delete("orders", "#W0")
    assert hooks.state_fingerprint(big) == hooks.direct_state_hash(big.snapshot())
    assert hooks.state_fingerprint(State(box.seed)) == hooks.direct_state_hash(box.seed)


def test_show_renders_a_run(replay: Any) -> None:
    db, runs = replay
    result, _ = runs[0]
    out = CliRunner().invoke(app, ["show", result.run_id, "--store", str(db)])
    assert out.exit_code == 0, out.output
    assert "exchange_delivered_order_items" in out.output
    assert "find_user_id_by_name_zip" in out.output
    assert "completed" in out.output


# A missing argument is a TypeError in tau ("Error: ...invoke() missing 1 required positional
# argument ..."); agentbox validates arguments before a tool runs, so the agent sees agentbox's
# validation error instead. Same outcome: an error string, no state change.
VALIDATED_BY_AGENTBOX = {"missing payment_method_id -> Python TypeError surfaced as Error: ..."}


def test_reference_tool_probes(settings: Any, tmp_path: Path) -> None:
    probes = _load("reference_tool_probes.json")["cases"]
    assert len(probes) >= 20
    store = TraceStore(tmp_path / "probes.db")
    try:
        for case in probes:
            calls = [*case["setup_calls"], case]
            data = {
                "name": "tau-probe",
                "sandbox": "tau_retail",
                "input": case["note"],
                "agent": {"model": "scripted"},
                "approvals": "approve",
                "script": [{"tool_calls": [{c["name"]: c["kwargs"]}]} for c in calls],
                "expect": {"state_hash": case["final_data_hash"]},
            }
            scenario = parse_scenario(data, tmp_path / "probe.yaml", {})
            result = Runner(plan_from_scenario(scenario, settings), store).run()
            steps = [s for s in store.steps(result.run_id) if s.kind == "tool"]
            assert [s.name for s in steps] == [c["name"] for c in calls], case["note"]
            for step, call in zip(steps[:-1], case["setup_calls"], strict=True):
                assert step.data["result"] == call["observation"], case["note"]
            last = steps[-1]
            if case["note"] in VALIDATED_BY_AGENTBOX:
                assert last.status == "invalid"
                assert last.data["result"].startswith("Error: invalid call to " + case["name"])
                assert "payment_method_id" in last.data["result"]
            else:
                assert last.data["result"] == case["observation"], case["note"]
            assert result.passed, (case["note"], result.expectations)
            assert bool(result.changes) == (case["state_changed"] or bool(case["setup_calls"])), (
                case["note"]
            )
    finally:
        store.close()


def test_schemas_match_tools_json(box: Any) -> None:
    reference = {t["function"]["name"]: t["function"] for t in _load("tools.json")}
    assert list(box.tools) and set(box.tools) == set(reference)
    for name, spec in box.tools.items():
        mine = spec.openai_schema()["function"]
        ref = reference[name]
        assert mine["description"] == ref["description"], name
        params = dict(mine["parameters"])
        assert params.pop("additionalProperties") is False
        assert list(params["properties"]) == list(ref["parameters"]["properties"]), name
        assert params["required"] == ref["parameters"]["required"], name
        for arg, prop in ref["parameters"]["properties"].items():
            assert params["properties"][arg].get("type") == prop.get("type"), (name, arg)
            assert params["properties"][arg].get("items") == prop.get("items"), (name, arg)
            assert params["properties"][arg].get("enum") == prop.get("enum"), (name, arg)
        assert params == ref["parameters"], name
    writes = {n for n, s in box.tools.items() if s.effect == "write"}
    assert writes == {
        "cancel_pending_order",
        "exchange_delivered_order_items",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_user_address",
        "return_delivered_order_items",
    }
    assert box.policy_text == (DATA / "wiki.md").read_text(encoding="utf-8")


def test_task_scenario_for_a_real_model(hooks: Any, box: Any, reference: dict[str, Any]) -> None:
    template = {
        "name": "t",
        "sandbox": "tau_retail",
        "input": "x",
        "agent": {"model": "openai/gpt-4o-mini"},
        "script": [{"say": "x"}],
        "expect": {"status": "completed"},
    }
    out = hooks.task_scenario(template, 16)
    assert "script" not in out
    assert out["name"] == "tau-retail-task-16"
    assert out["expect"] == {
        "status": "completed",
        "state_hash": reference["tasks"][16]["gt_data_hash"],
        "output_contains": ["8276.23"],
    }
    # tau-bench's conversation: the customer, played by the same model, gets the
    # instruction and opens the conversation
    assert out["input"] == ""
    assert out["user"]["model"] == "openai/gpt-4o-mini"
    assert out["user"]["instructions"] == _load("tasks_test.json")[16]["instruction"]
    assert template["agent"] == {"model": "openai/gpt-4o-mini"}  # the input is not changed


def test_wiki_from_the_data_folder_when_the_configured_one_is_absent(
    hooks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hooks._config()
    monkeypatch.setattr(hooks, "_config", lambda: {**config, "policy": "no-such-wiki.md"})
    out = hooks.task_scenario({"agent": {"system": "Be brief."}, "input": "x"}, 0)
    wiki = (DATA / "wiki.md").read_text(encoding="utf-8")
    assert out["agent"]["system"] == "Be brief.\n\n" + wiki
    assert len(out["script"]) == len(_load("tasks_test.json")[0]["actions"]) + 1


def test_task_out_of_range(settings: Any) -> None:
    for bad in (115, -1):
        with pytest.raises(SandboxError, match=r"task -?\d+ is out of range.*0 to 114"):
            plan_run(TASK_YAML, settings, RunOptions(task=bad))


def test_missing_data_is_a_clear_error(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SandboxError) as exc:
        plan_run(TASK_YAML, settings, RunOptions(task=0, data_path=tmp_path / "nowhere"))
    assert "seed data not found" in exc.value.message
    assert "AGENTBOX_TAU_DATA" in exc.value.hint and "--data" in exc.value.hint

    monkeypatch.setattr(loader, "_CACHE", {})
    monkeypatch.setenv("AGENTBOX_TAU_DATA", str(tmp_path))
    # an empty data folder: the sandbox's collection files are checked when it loads
    with pytest.raises(SandboxError, match="no file for collection"):
        plan_run(TASK_YAML, settings, RunOptions(task=0))
    for name in ("orders", "products", "users"):  # the seed is there, the task file is not
        (tmp_path / f"{name}.json").symlink_to(DATA / f"{name}.json")
    monkeypatch.setattr(loader, "_CACHE", {})
    with pytest.raises(SandboxError, match="no task file at") as exc:
        plan_run(TASK_YAML, settings, RunOptions(task=0))
    assert "AGENTBOX_TAU_DATA" in exc.value.hint

    out = CliRunner().invoke(
        app,
        [
            "run",
            str(TASK_YAML),
            "--task",
            "0",
            "--data",
            str(tmp_path / "nowhere"),
            "--store",
            str(tmp_path / "t.db"),
        ],
    )
    assert out.exit_code == 2
    assert "seed data not found" in out.output


def test_data_folder_without_reference_file(
    settings: Any, tmp_path: Path, reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--data: tasks come from that folder; without the reference file the expected hash is
    computed by replaying the ground truth (as tau-bench scores), and equals the reference."""
    for name in ("orders.json", "products.json", "users.json", "tasks_test.json"):
        os.symlink(DATA / name, tmp_path / name)
    monkeypatch.setattr(loader, "_CACHE", {})
    store = TraceStore(tmp_path / "t.db")
    try:
        for task in (0, 16, 50):
            plan = plan_run(TASK_YAML, settings, RunOptions(task=task, data_path=tmp_path))
            assert plan.scenario.expect is not None
            assert plan.scenario.expect.state_hash == reference["tasks"][task]["gt_data_hash"]
            assert Runner(plan, store).run().passed
    finally:
        store.close()
