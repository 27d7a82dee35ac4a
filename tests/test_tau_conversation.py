"""tau-bench retail as conversations (issue 15).

Offline: five tasks with scripted customers (sandboxes/tau_retail/users.yaml, written
from the task instructions) reach tau's reference data hash, every write confirmed by the
customer first. Live-capable: ``task.yaml --task 17 --model M`` is tau's conversation, the
customer simulated by M from the task's instruction -- here M answers from a loopback
stdlib server playing both the agent and the customer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentbox.store import TraceStore
from tests.chat_server import ChatServer, completion, loopback_litellm_env

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "external" / "tau-bench" / "retail"
if os.environ.get("AGENTBOX_TAU_DATA"):
    DATA = Path(os.environ["AGENTBOX_TAU_DATA"])
SANDBOX = ROOT / "sandboxes" / "tau_retail"

pytestmark = pytest.mark.skipif(
    not (DATA / "tasks_test.json").is_file(),
    reason=f"tau-bench data not found at {DATA} (shared/external/tau-bench beside the clone)",
)

TASKS = [0, 11, 15, 16, 17]


def steps_of(store_path: Path) -> tuple[Any, list[Any]]:
    store = TraceStore(store_path)
    try:
        run = store.list_runs(limit=1)[0]
        return run, store.steps(run.id)
    finally:
        store.close()


@pytest.mark.parametrize("task", TASKS)
def test_scripted_customer_conversation(task: int, cli, store_path: Path) -> None:
    result = cli("run", "sandboxes/tau_retail/conversation.yaml", "--task", str(task))
    assert result.exit_code == 0, result.output
    run, steps = steps_of(store_path)
    assert run.status == "completed" and run.passed is True
    names = [e["name"] for e in run.expectations]
    assert "state_hash" in names and "user_turns" in names
    assert any(n.startswith("confirmed_before") for n in names)
    customer = yaml.safe_load((SANDBOX / "users.yaml").read_text())[task]
    users = [s.data["text"] for s in steps if s.kind == "user"]
    assert users[0] == customer["identity"] and users[-1] == customer["closing"]
    assert run.input == customer["opening"]


def test_a_task_without_a_scripted_customer_is_refused(cli) -> None:
    result = cli("run", "sandboxes/tau_retail/conversation.yaml", "--task", "3")
    assert result.exit_code == 2, result.output
    assert "users.yaml has no scripted customer for task 3" in result.output


class TauModel(ChatServer):
    """A loopback OpenAI-compatible server playing tau task 17's agent and customer."""

    CUSTOMER = (
        "Hi, I'd like order #W8665881 delivered to Suite 641 instead.",
        "Fatima Johnson, 78712.",
        "Yes, go ahead.",
        "###STOP###",
    )

    def __init__(self, actions: list[dict[str, Any]]) -> None:
        reads, write = actions[:-1], actions[-1]
        self.agent: list[dict[str, Any]] = [{"content": "Sure. Your name and zip code?"}]
        self.agent += [{"call": a} for a in reads]
        self.agent.append({"content": "I will change the address to Suite 641. Shall I proceed?"})
        self.agent.append({"call": write})
        self.agent.append({"content": "Done: #W8665881 now goes to Suite 641. Anything else?"})
        self.customer_requests: list[dict[str, Any]] = []
        super().__init__()

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if body["messages"][0]["content"].startswith("You are playing a customer"):
            self.customer_requests.append(body)
            message["content"] = self.CUSTOMER[min(turn, len(self.CUSTOMER) - 1)]
        else:
            step = self.agent[min(turn, len(self.agent) - 1)]
            if "call" in step:
                call = step["call"]
                message["tool_calls"] = [
                    {
                        "id": f"call_{turn}",
                        "type": "function",
                        "function": {"name": call["name"], "arguments": json.dumps(call["kwargs"])},
                    }
                ]
            else:
                message["content"] = step["content"]
        return completion(body, message, usage=(50, 5))


def test_live_task_is_taus_conversation(
    cli, tmp_path: Path, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loopback_litellm_env(monkeypatch)
    task = json.loads((DATA / "tasks_test.json").read_text())[17]
    fake = TauModel(task["actions"])
    try:
        template = yaml.safe_load((SANDBOX / "task.yaml").read_text())
        template["agent"]["params"] = {
            "api_base": f"http://127.0.0.1:{fake.port}/v1",
            "api_key": "test",
        }
        (tmp_path / "sandboxes").symlink_to(ROOT / "sandboxes")
        path = tmp_path / "scenarios" / "task.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(template))
        result = cli("run", path, "--task", "17", "--model", "openai/gpt-4o-mini")
    finally:
        fake.close()
    assert result.exit_code == 0, result.output
    run, steps = steps_of(store_path)
    assert run.status == "completed" and run.passed is True, run.expectations
    users = [s for s in steps if s.kind == "user"]
    assert [u.data["text"] for u in users] == list(TauModel.CUSTOMER)
    assert users[0].idx == 0 and users[-1].data["stop"] is True
    # the customer was briefed with the task's instruction, and its cost kept apart
    assert task["instruction"] in fake.customer_requests[0]["messages"][0]["content"]
    assert run.counters["user_cost_usd"] > 0 and run.counters["user_turns"] == 4
