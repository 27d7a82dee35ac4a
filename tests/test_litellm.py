"""The litellm backend over real HTTP: a local stdlib OpenAI-compatible server (no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentbox.store import TraceStore
from tests.chat_server import ChatServer, completion, loopback_litellm_env

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = "You are the support agent of Northwind Outfitters (test)."
USAGE = [(321, 17), (456, 29)]  # (prompt, completion) tokens of the two answers


class FakeOpenAI(ChatServer):
    """Answers /v1/chat/completions: first a get_order tool call, then a final text."""

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        prompt, completion_tokens = USAGE[min(turn, 1)]
        if turn == 0:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "get_order",
                            "arguments": json.dumps({"order_id": "ord_5120"}),
                        },
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message = {
                "role": "assistant",
                "content": "Order ord_5120 was delivered; refund on its way.",
            }
            finish = "stop"
        return completion(
            body,
            message,
            finish=finish,
            usage=(prompt, completion_tokens),
            number=len(self.requests),
        )


@pytest.fixture()
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    loopback_litellm_env(monkeypatch)
    fake = FakeOpenAI()
    try:
        yield fake
    finally:
        fake.close()


def write(make_scenario, fake: FakeOpenAI, model: str) -> Path:
    return make_scenario(
        "litellm",
        {
            "name": "litellm-http",
            "sandbox": "retail",
            "agent": {
                "type": "llm",
                "model": model,
                "system": SYSTEM,
                "max_steps": 4,
                "params": {"api_base": f"http://127.0.0.1:{fake.port}/v1", "api_key": "test"},
            },
            "input": "Where is my order ord_5120?",
            "policy": {"allow": ["get_order", "lookup_customer"]},
            "expect": {
                "status": "completed",
                "tool_calls": [{"get_order": {"order_id": "ord_5120"}}],
            },
        },
    )


def load(store_path: Path, run_id: str):
    store = TraceStore(store_path)
    try:
        return store.get_run(run_id), store.steps(run_id)
    finally:
        store.close()


def test_tool_call_tokens_cost_and_request(
    cli, make_scenario, fake_openai: FakeOpenAI, store_path: Path
) -> None:
    path = write(make_scenario, fake_openai, "openai/gpt-4o-mini")
    result = cli("run", path, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    run, steps = load(store_path, out["run_id"])
    assert run.status == "completed" and run.passed is True
    assert run.output == "Order ord_5120 was delivered; refund on its way."

    # The tool call the server asked for ran.
    (tool,) = [s for s in steps if s.kind == "tool"]
    assert (tool.name, tool.status) == ("get_order", "ok")
    assert tool.data["call_id"] == "call_abc123"
    assert json.loads(tool.data["result"])["id"] == "ord_5120"

    # Tokens on the llm steps are the server's usage; the price is known and positive.
    llm = [s for s in steps if s.kind == "llm"]
    assert [(s.input_tokens, s.output_tokens) for s in llm] == USAGE
    for s in llm:
        assert s.cost_usd is not None and s.cost_usd > 0
    assert run.counters["input_tokens"] == sum(p for p, _ in USAGE)
    assert run.counters["output_tokens"] == sum(c for _, c in USAGE)
    assert run.counters["cost_usd"] == pytest.approx(sum(s.cost_usd for s in llm))
    assert run.counters["cost_unknown"] == 0
    assert run.counters["cost_usd"] < 0.01, "gpt-4o-mini prices ~777 tokens far below a cent"

    # What the server received: the system prompt first, the user input, the tools.
    assert len(fake_openai.requests) == 2
    first = fake_openai.requests[0]
    assert first["model"] == "gpt-4o-mini"
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][0]["content"].startswith(SYSTEM)
    assert first["messages"][1] == {"role": "user", "content": "Where is my order ord_5120?"}
    names = sorted(t["function"]["name"] for t in first["tools"])
    assert names == ["get_order", "lookup_customer"], "only allowed tools are offered"
    get_order = next(t for t in first["tools"] if t["function"]["name"] == "get_order")
    assert get_order["type"] == "function"
    assert "order_id" in get_order["function"]["parameters"]["properties"]
    # The second request carries the tool result, paired with the call id.
    second = fake_openai.requests[1]
    tool_msgs = [m for m in second["messages"] if m["role"] == "tool"]
    assert len(tool_msgs) == 1 and tool_msgs[0]["tool_call_id"] == "call_abc123"
    assert "ord_5120" in tool_msgs[0]["content"]


def test_unknown_model_price_is_unknown_not_zero(
    cli, make_scenario, fake_openai: FakeOpenAI, store_path: Path
) -> None:
    path = write(make_scenario, fake_openai, "openai/acme-private-model")
    result = cli("run", path, "--json")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    run, steps = load(store_path, run_id)
    assert run.status == "completed"
    assert fake_openai.requests[0]["model"] == "acme-private-model"
    llm = [s for s in steps if s.kind == "llm"]
    assert [(s.input_tokens, s.output_tokens) for s in llm] == USAGE
    assert all(s.cost_usd is None for s in llm), [s.cost_usd for s in llm]
    assert run.counters["cost_unknown"] == 2
    assert run.counters["cost_usd"] == 0

    shown = cli("show", run_id, env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    cost_line = next(line for line in shown.stdout.splitlines() if line.startswith("cost"))
    assert "unknown" in cost_line
    assert "$0.0000" not in cost_line

    listed = cli("runs", env={"COLUMNS": "200"})
    row = next(line for line in listed.stdout.splitlines() if run_id in line)
    assert "unknown" in row, row
    assert "$0.0000" not in row, "an unknown price is never shown as $0"


def test_model_option_overrides_the_scenario(
    cli, make_scenario, fake_openai: FakeOpenAI, store_path: Path
) -> None:
    path = write(make_scenario, fake_openai, "openai/acme-private-model")
    result = cli("run", path, "--model", "openai/gpt-4o-mini", "--json")
    assert result.exit_code == 0, result.output
    assert fake_openai.requests[0]["model"] == "gpt-4o-mini"
    assert json.loads(result.stdout)["model"] == "openai/gpt-4o-mini"


def test_provider_failure_fails_the_run(
    cli, make_scenario, fake_openai: FakeOpenAI, store_path: Path
) -> None:
    path = write(make_scenario, fake_openai, "openai/gpt-4o-mini")
    text = path.read_text().replace(
        f"127.0.0.1:{fake_openai.port}/v1", f"127.0.0.1:{fake_openai.port}/nope"
    )
    path.write_text(text)
    result = cli("run", path, "--json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "failed"
    assert "gpt-4o-mini" in (out["reason"] or "")
    _, steps = load(store_path, out["run_id"])
    assert [s.kind for s in steps] == ["error", "final"]
