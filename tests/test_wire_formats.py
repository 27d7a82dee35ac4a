"""Issue 13, item 3: python agents speaking OpenAI Responses or Anthropic Messages run unmodified.

Their model calls are translated to the run's model (one scripted turn serves every wire
format) and back, recorded as ``llm`` steps with reasoning apart from content and actions,
and replay identically from the cassette. Other endpoints of a model host get a 4xx naming
the endpoint; nothing reaches the network.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from agentbox.cassette import rebuild_requests
from agentbox.config import Settings
from agentbox.http.anthropic import anthropic_events, anthropic_message
from agentbox.http.responses import response_events, response_object
from agentbox.lifecycle import replay_run
from agentbox.models import ModelResponse, ToolCall
from agentbox.planning import RunPlan, plan_run
from agentbox.runner import Runner, RunResult
from agentbox.store import StepRow, TraceStore

ROOT = Path(__file__).resolve().parent.parent
RESPONSES_SCENARIO = ROOT / "scenarios" / "openai-responses-agent.yaml"
GET_ORDER = "http GET api.northwind.test/orders/{order_id}"
POST_REFUND = "http POST api.northwind.test/orders/{order_id}/refunds"
TASK = "Hi, I'm cus_1007. Order ord_5120 came in the wrong size; please refund it."
SCRIPT: list[dict[str, Any]] = [
    {
        "reasoning": "Check the order before refunding it.",
        "tool_calls": [{"get_order": {"order_id": "ord_5120"}}],
        "usage": {"input_tokens": 40, "output_tokens": 9},
    },
    {
        "reasoning": "Delivered, $64.50, nothing refunded yet.",
        "tool_calls": [
            {
                "refund_order": {
                    "order_id": "ord_5120",
                    "amount_usd": 64.5,
                    "idempotency_key": "r-5120",
                }
            }
        ],
        "usage": {"input_tokens": 60, "output_tokens": 12},
    },
    {"say": "Refunded $64.50 for ord_5120.", "usage": {"input_tokens": 80, "output_tokens": 8}},
]


@pytest.fixture(autouse=True)
def _no_sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "NORTHWIND_API",
        "REFUND_AGENT_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)


def run(plan: RunPlan, store: TraceStore) -> tuple[RunResult, list[StepRow]]:
    result = Runner(plan, store).run()
    return result, store.steps(result.run_id)


def with_entry(plan: RunPlan, entry: str) -> RunPlan:
    agent = plan.scenario.agent.model_copy(update={"entry": entry})
    plan.scenario = plan.scenario.model_copy(update={"agent": agent})
    return plan


@pytest.fixture()
def agent_scenario(tmp_path: Path, settings: Settings) -> Callable[..., RunPlan]:
    """Write an agent module and a scenario running it next to each other; plan it."""

    def make(code: str, *, script: list[Any] | None = None, name: str = "probe") -> RunPlan:
        module = f"agent_{name}_{tmp_path.name}"
        (tmp_path / f"{module}.py").write_text(code, encoding="utf-8")
        data: dict[str, Any] = {
            "name": f"wire-{name}",
            "sandbox": "retail",
            "agent": {"type": "python", "entry": f"{module}:run", "model": "scripted"},
            "input": TASK,
            "script": SCRIPT if script is None else script,
            "approvals": "approve",
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return plan_run(path, settings)

    return make


def llm_steps(steps: list[StepRow]) -> list[StepRow]:
    return [s for s in steps if s.kind == "llm"]


def kinds(steps: list[StepRow]) -> list[tuple[str, str | None, str]]:
    return [(s.kind, s.name, s.status) for s in steps]


REFUND_RUN = [
    ("llm", "scripted", "ok"),
    ("tool", GET_ORDER, "ok"),
    ("llm", "scripted", "ok"),
    ("tool", POST_REFUND, "ok"),
    ("llm", "scripted", "ok"),
    ("final", "completed", "completed"),
]


# ---- OpenAI Responses through the real SDK ----------------------------------------------
@pytest.mark.parametrize("entry", ["run", "run_chained", "run_stream", "run_async"])
def test_responses_agent_runs_and_replays_identically(
    entry: str, settings: Settings, store: TraceStore
) -> None:
    plan = with_entry(
        plan_run(RESPONSES_SCENARIO, settings), f"agents/openai_responses_agent.py:{entry}"
    )
    result, steps = run(plan, store)

    assert result.status == "completed" and result.passed, (result.reason, result.expectations)
    assert result.output == "Done: I refunded $64.50 for ord_5120 to your original payment method."
    assert kinds(steps) == REFUND_RUN
    llm = llm_steps(steps)
    # reasoning and actions apart: the first turn thought and called, it said nothing
    first = llm[0].data["response"]
    assert first["reasoning"] == "Check the order before refunding it." and first["text"] is None
    assert first["tool_calls"] == [
        {"id": "call_0_0", "name": "get_order", "arguments": {"order_id": "ord_5120"}}
    ]
    assert llm[0].data["request"]["tools"] == ["get_order", "refund_order"]
    # the translated conversation: instructions, input, the call and its output
    requests = rebuild_requests(steps)
    system, user = requests[0]
    assert system["role"] == "system" and system["content"].startswith("You are a Northwind")
    assert user == {"role": "user", "content": TASK}
    assistant, tool = requests[1][2:4]
    assert assistant["tool_calls"][0]["id"] == "call_0_0" and assistant["content"] is None
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_0_0"
    assert json.loads(tool["content"])["result"]["status"] == "delivered"
    assert [len(r) for r in requests] == [2, 4, 6]  # whole conversations, also when chained

    replay = replay_run(store, result.run_id, settings)
    assert replay.identical, replay.differences
    assert replay.result.output == result.output


PROBE_RESPONSES = """
import json
import openai

def run(ctx):
    client = openai.OpenAI()
    out = {}
    plain = client.responses.create(model="gpt-5", input="Say hi.")
    out["plain"] = [plain.id, plain.output_text, plain.usage.input_tokens, plain.usage.output_tokens,
                    [item.type for item in plain.output], plain.output[0].summary[0].text]
    for name, kwargs in {
        "unknown_previous": {"input": "x", "previous_response_id": "resp_elsewhere"},
        "hosted_tool": {"input": "x", "tools": [{"type": "web_search"}]},
        "item_type": {"input": [{"type": "computer_call_output", "call_id": "c", "output": {}}]},
    }.items():
        try:
            client.responses.create(model="gpt-5", **kwargs)
        except openai.APIStatusError as exc:
            out[name] = [exc.status_code, exc.body["message"]]
    try:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    except openai.APIStatusError as exc:
        out["embeddings"] = [exc.status_code, exc.body["message"]]
    return json.dumps(out)
"""


def test_responses_answers_and_refusals(
    agent_scenario: Callable[..., RunPlan], store: TraceStore
) -> None:
    script = [
        {"reasoning": "Be brief.", "say": "Hi!", "usage": {"input_tokens": 5, "output_tokens": 2}}
    ]
    result, steps = run(agent_scenario(PROBE_RESPONSES, script=script), store)
    assert result.status == "completed", result.reason
    out = json.loads(result.output or "")
    assert out["plain"] == ["resp_agentbox_0", "Hi!", 5, 2, ["reasoning", "message"], "Be brief."]
    status, message = out["unknown_previous"]
    assert status == 404 and "resp_elsewhere" in message and "same run" in message
    status, message = out["hosted_tool"]
    assert status == 400 and "tools[0]" in message and "'web_search'" in message
    status, message = out["item_type"]
    assert status == 400 and "input[0]" in message and "'computer_call_output'" in message
    status, message = out["embeddings"]
    assert status == 404 and "POST /v1/embeddings" in message
    assert "/responses" in message and "/v1/messages" in message and "/chat/completions" in message
    # one model call (the refused requests never reached the model), one blocked step
    assert [s.kind for s in steps] == ["llm", "tool", "final"]
    blocked = steps[1]
    assert (blocked.name, blocked.status) == ("http", "blocked")
    assert blocked.data["url"] == "https://api.openai.com/v1/embeddings"
    assert "POST /v1/embeddings" in blocked.data["reason"]


def test_responses_json_and_events_parse_with_the_sdk_types() -> None:
    from openai import omit
    from openai.lib.streaming.responses._responses import ResponseStreamState
    from openai.types.responses import Response, ResponseStreamEvent

    turn = ModelResponse(
        text="Checking.",
        reasoning="Look it up first.",
        tool_calls=[ToolCall("call_3_0", "get_order", {"order_id": "o1"})],
        input_tokens=7,
        output_tokens=5,
        model="scripted",
    )
    payload = {"model": "gpt-5", "input": "x", "tools": [{"type": "function", "name": "get_order"}]}
    parsed = Response.model_validate(response_object(turn, payload, 3))
    assert parsed.id == "resp_agentbox_3" and parsed.output_text == "Checking."
    assert [item.type for item in parsed.output] == ["reasoning", "message", "function_call"]
    call = parsed.output[2]
    assert call.type == "function_call" and call.call_id == "call_3_0"
    assert json.loads(call.arguments) == {"order_id": "o1"}
    assert parsed.usage is not None and parsed.usage.total_tokens == 12

    body = response_events(turn, payload, 3).decode()
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    events = []
    for block in body.strip().split("\n\n"):
        name, data = block.split("\n")
        event = adapter.validate_python(json.loads(data.removeprefix("data: ")))
        assert name == f"event: {event.type}"
        events.append(event)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    state: ResponseStreamState[Any] = ResponseStreamState(
        input_tools=payload["tools"], text_format=omit
    )  # type: ignore[arg-type]
    for event in events:
        state.handle_event(event)
    snapshot = state._completed_response
    assert snapshot is not None and snapshot.output_text == "Checking."


# ---- Anthropic Messages over the HTTP path ---------------------------------------------
ANTHROPIC_AGENT = """
import json
import httpx
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

TOOLS = [
    {"name": "get_order", "description": "Look up an order.",
     "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}}},
    {"name": "refund_order", "description": "Refund an order.",
     "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"},
      "amount_usd": {"type": "number"}, "idempotency_key": {"type": "string"}}}},
]
EVENTS = TypeAdapter(RawMessageStreamEvent)


def ask(client, body, stream):
    # exactly what the anthropic SDK sends for messages.create / messages.stream
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
    reply = client.post("https://api.anthropic.com/v1/messages", headers=headers,
                        json={**body, "stream": True} if stream else body)
    reply.raise_for_status()
    if not stream:
        return Message.model_validate(reply.json())
    message, parts = None, {}
    for block in reply.text.strip().split("\\n\\n"):
        event = EVENTS.validate_python(json.loads(block.split("\\n")[1][6:]))
        if event.type == "message_start":
            message = event.message.model_dump()
        elif event.type == "content_block_start":
            message["content"].append(event.content_block.model_dump())
        elif event.type == "content_block_delta":
            d, b = event.delta, message["content"][event.index]
            if d.type == "text_delta": b["text"] += d.text
            elif d.type == "thinking_delta": b["thinking"] += d.thinking
            elif d.type == "input_json_delta": parts[event.index] = parts.get(event.index, "") + d.partial_json
        elif event.type == "message_delta":
            message["stop_reason"] = event.delta.stop_reason
            message["usage"]["output_tokens"] = event.usage.output_tokens
    for index, raw in parts.items():
        message["content"][index]["input"] = json.loads(raw)
    return Message.model_validate(message)


def run(ctx):
    stream = ctx.scenario.name.endswith("stream")
    messages = [{"role": "user", "content": ctx.input}]
    with httpx.Client() as client:
        for _ in range(6):
            body = {"model": "claude-sonnet-5-5", "max_tokens": 1024, "system": [
                {"type": "text", "text": "You are a Northwind support agent."}],
                "messages": messages, "tools": TOOLS}
            message = ask(client, body, stream)
            messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]})
            if message.stop_reason != "tool_use":
                return "".join(b.text for b in message.content if b.type == "text")
            results = []
            for block in message.content:
                if block.type != "tool_use":
                    continue
                args = dict(block.input)
                if block.name == "get_order":
                    r = client.get(f"https://api.northwind.test/orders/{args['order_id']}")
                else:
                    order_id = args.pop("order_id")
                    r = client.post(f"https://api.northwind.test/orders/{order_id}/refunds", json=args)
                results.append({"type": "tool_result", "tool_use_id": block.id,
                                "content": [{"type": "text", "text": r.text}], "is_error": r.is_error})
            messages.append({"role": "user", "content": results})
    return "turn limit"
"""


@pytest.mark.parametrize("name", ["anthropic", "anthropic-stream"])
def test_anthropic_messages_tool_round_trip_and_replay(
    name: str, agent_scenario: Callable[..., RunPlan], store: TraceStore, settings: Settings
) -> None:
    result, steps = run(agent_scenario(ANTHROPIC_AGENT, name=name), store)
    assert result.status == "completed", result.reason
    assert result.output == "Refunded $64.50 for ord_5120."
    assert kinds(steps) == REFUND_RUN
    llm = llm_steps(steps)
    assert [(s.input_tokens, s.output_tokens) for s in llm] == [(40, 9), (60, 12), (80, 8)]
    second = llm[1].data["response"]
    assert second["reasoning"] == "Delivered, $64.50, nothing refunded yet."
    assert second["text"] is None and second["tool_calls"][0]["name"] == "refund_order"
    requests = rebuild_requests(steps)
    assert requests[0][0] == {"role": "system", "content": "You are a Northwind support agent."}
    assistant, tool = requests[1][2:4]  # thinking dropped, tool_use -> tool_calls
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0_0",
                "type": "function",
                "function": {"name": "get_order", "arguments": '{"order_id": "ord_5120"}'},
            }
        ],
    }
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_0_0"
    assert json.loads(tool["content"])["status"] == "delivered"
    refund = next(s for s in steps if s.name == POST_REFUND)
    assert refund.data["args"]["amount_usd"] == 64.5
    assert [(c, k) for c, k, _, _ in result.changes] == [("refunds", "ref_0001")]

    replay = replay_run(store, result.run_id, settings)
    assert replay.identical, replay.differences


ANTHROPIC_SCENARIO = ROOT / "scenarios" / "anthropic-agent.yaml"


@pytest.mark.parametrize("entry", ["run", "run_stream", "run_async"])
def test_anthropic_sdk_agent_runs_and_replays_identically(
    entry: str, settings: Settings, store: TraceStore
) -> None:
    plan = with_entry(
        plan_run(ANTHROPIC_SCENARIO, settings), f"agents/anthropic_refund_agent.py:{entry}"
    )
    result, steps = run(plan, store)

    assert result.status == "completed" and result.passed, (result.reason, result.expectations)
    assert kinds(steps) == REFUND_RUN
    first = llm_steps(steps)[0].data["response"]
    assert first["reasoning"] == "Check the order before refunding it." and first["text"] is None
    system, user = rebuild_requests(steps)[0]
    assert system["role"] == "system" and system["content"].startswith("You are a Northwind")
    assert user == {"role": "user", "content": TASK}
    tool = rebuild_requests(steps)[1][3]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_0_0"
    assert "ANTHROPIC_API_KEY" not in os.environ  # the placeholder key was removed again

    replay = replay_run(store, result.run_id, settings)
    assert replay.identical, replay.differences


def test_anthropic_json_and_events_parse_with_the_sdk() -> None:
    """The anthropic SDK client itself reads our answers (served by an httpx2 transport)."""
    import anthropic
    import httpx2

    turn = ModelResponse(
        text="Checking.",
        reasoning="Look it up first.",
        tool_calls=[ToolCall("call_1_0", "get_order", {"order_id": "o1"})],
        input_tokens=7,
        output_tokens=5,
        model="scripted",
    )

    def answer(request: httpx2.Request) -> httpx2.Response:
        if json.loads(request.content).get("stream"):
            return httpx2.Response(
                200,
                content=anthropic_events(turn, "claude", 1),
                headers={"content-type": "text/event-stream"},
            )
        return httpx2.Response(200, json=anthropic_message(turn, "claude", 1))

    http = httpx2.Client(transport=httpx2.MockTransport(answer))
    client = anthropic.Anthropic(api_key="k", http_client=http, max_retries=0)
    body: dict[str, Any] = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "x"}],
    }
    plain = client.messages.create(**body)
    with client.messages.stream(**body) as stream:
        deltas = "".join(stream.text_stream)
        streamed = stream.get_final_message()
    for message in (plain, streamed):
        assert message.id == "msg_agentbox_1" and message.stop_reason == "tool_use"
        assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
        thinking, text, tool_use = message.content
        assert thinking.type == "thinking" and thinking.thinking == "Look it up first."
        assert text.type == "text" and text.text == "Checking."
        assert tool_use.type == "tool_use" and tool_use.input == {"order_id": "o1"}
        assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 5)
    assert deltas == "Checking."


# ---- one script, three wire formats -----------------------------------------------------
CHAT_AGENT = """
import json
import httpx
from openai import OpenAI

TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
         for n in ("get_order", "refund_order")]

def run(ctx):
    messages = [{"role": "system", "content": "You are a Northwind support agent."},
                {"role": "user", "content": ctx.input}]
    with OpenAI() as client, httpx.Client(base_url="https://api.northwind.test") as http:
        for _ in range(6):
            m = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS).choices[0].message
            messages.append(m.model_dump(exclude_none=True))
            if not m.tool_calls:
                return m.content
            for c in m.tool_calls:
                args = json.loads(c.function.arguments)
                if c.function.name == "get_order":
                    r = http.get(f"/orders/{args['order_id']}")
                else:
                    r = http.post(f"/orders/{args.pop('order_id')}/refunds", json=args)
                messages.append({"role": "tool", "tool_call_id": c.id, "content": r.text})
"""

RESPONSES_AGENT = """
import httpx
import json
from openai import OpenAI

TOOLS = [{"type": "function", "name": n, "parameters": {"type": "object"}}
         for n in ("get_order", "refund_order")]

def run(ctx):
    items = [{"role": "user", "content": ctx.input}]
    with OpenAI() as client, httpx.Client(base_url="https://api.northwind.test") as http:
        for _ in range(6):
            r = client.responses.create(model="gpt-5", instructions="You are a Northwind support agent.",
                                        input=items, tools=TOOLS)
            items += r.output
            calls = [i for i in r.output if i.type == "function_call"]
            if not calls:
                return r.output_text
            for c in calls:
                args = json.loads(c.arguments)
                if c.name == "get_order":
                    a = http.get(f"/orders/{args['order_id']}")
                else:
                    a = http.post(f"/orders/{args.pop('order_id')}/refunds", json=args)
                items.append({"type": "function_call_output", "call_id": c.call_id, "output": a.text})
"""


def test_one_script_serves_all_three_wire_formats(
    agent_scenario: Callable[..., RunPlan], store: TraceStore
) -> None:
    seen = {}
    for name, code in (
        ("chat", CHAT_AGENT),
        ("responses", RESPONSES_AGENT),
        ("anthropic", ANTHROPIC_AGENT),
    ):
        result, steps = run(agent_scenario(code, name=name), store)
        assert result.status == "completed", (name, result.reason)
        assert kinds(steps) == REFUND_RUN, name
        seen[name] = (
            result.output,
            [s.data["response"] for s in llm_steps(steps)],
            [s.data["args"] for s in steps if s.kind == "tool"],
            [[m["role"] for m in r] for r in rebuild_requests(steps)],
        )
    assert seen["chat"] == seen["responses"] == seen["anthropic"]
    assert seen["chat"][0] == "Refunded $64.50 for ord_5120."


# ---- model hosts: unknown endpoints never reach the network ------------------------------
class _Counting(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    hits: list[str] = []  # noqa: RUF012 - shared with the test

    def do_POST(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def model_server() -> Iterator[str]:
    _Counting.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


UNKNOWN_ENDPOINTS = """
import os
import httpx

def run(ctx):
    out = []
    local = os.environ["OPENAI_BASE_URL"].removesuffix("/openai")
    with httpx.Client() as http:
        for url, headers in [
            ("https://api.anthropic.com/v1/messages/count_tokens", {"anthropic-version": "2023-06-01"}),
            (local + "/v1/audio/speech", {}),
            (local + "/openai/completions", {}),
            (local + "/v1/messages", {"anthropic-version": "2023-06-01"}),
            ("https://generativelanguage.googleapis.com/v1beta/models/gemini-3-flash:generateContent", {}),
        ]:
            r = http.post(url, json={"model": "m", "messages": "not a list"}, headers=headers)
            out.append([r.status_code, r.json()])
    return out
"""


def test_unknown_model_endpoints_get_a_4xx_naming_them(
    agent_scenario: Callable[..., RunPlan],
    store: TraceStore,
    model_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{model_server}/openai")  # a local model server
    result, steps = run(agent_scenario(UNKNOWN_ENDPOINTS), store)
    assert result.status == "completed", result.reason
    tokens, audio, completions, bad, gemini = json.loads(result.output or "")
    assert tokens[0] == 404 and tokens[1]["type"] == "error"  # Anthropic's error shape
    assert "POST /v1/messages/count_tokens" in tokens[1]["error"]["message"]
    assert audio[0] == 404 and "POST /v1/audio/speech" in audio[1]["error"]["message"]
    # not a known path, but the host of OPENAI_BASE_URL is a model host
    assert (
        completions[0] == 404 and "POST /openai/completions" in completions[1]["error"]["message"]
    )
    assert "allow_hosts" in completions[1]["error"]["message"]
    # a Messages request we cannot translate: a 400 naming the field, no model call
    assert bad[0] == 400 and "`messages` list" in bad[1]["error"]["message"]
    # another provider's native format: named, with what is answered instead
    message = gemini[1]["error"]["message"]
    assert gemini[0] == 404 and "POST /v1beta/models/gemini-3-flash:generateContent" in message
    assert "POST .../chat/completions (OpenAI Chat Completions)" in message
    assert _Counting.hits == []  # nothing reached the server
    blocked = [s for s in steps if s.status == "blocked"]
    assert [s.data["url"] for s in blocked] == [
        "https://api.anthropic.com/v1/messages/count_tokens",
        f"{model_server}/v1/audio/speech",
        f"{model_server}/openai/completions",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-flash:generateContent",
    ]
    assert not llm_steps(steps)


LITELLM_AGENT = """
import json
import os
import warnings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
         for n in ("get_order", "refund_order")]


def run(ctx):
    import litellm
    import httpx

    messages = [{"role": "system", "content": "You are a Northwind support agent."},
                {"role": "user", "content": ctx.input}]
    with httpx.Client(base_url="https://api.northwind.test") as http, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # litellm's own pydantic noise
        for turn in range(6):
            reply = litellm.completion(model="anthropic/claude-sonnet-5-5", messages=messages,
                                       tools=TOOLS, num_retries=0, stream=turn == 1)
            if turn == 1:
                reply = litellm.stream_chunk_builder(list(reply), messages=messages)
            m = reply.choices[0].message
            messages.append({"role": "assistant", "content": m.content, "tool_calls": [
                c.model_dump() for c in m.tool_calls or []] or None})
            if not m.tool_calls:
                return m.content
            for c in m.tool_calls:
                args = json.loads(c.function.arguments)
                if c.function.name == "get_order":
                    r = http.get(f"/orders/{args['order_id']}")
                else:
                    r = http.post(f"/orders/{args.pop('order_id')}/refunds", json=args)
                messages.append({"role": "tool", "tool_call_id": c.id, "content": r.text})
"""


def test_litellm_anthropic_models_called_by_the_agent_are_answered(
    agent_scenario: Callable[..., RunPlan], store: TraceStore
) -> None:
    result, steps = run(agent_scenario(LITELLM_AGENT, name="litellm"), store)
    assert result.status == "completed", result.reason
    assert result.output == "Refunded $64.50 for ord_5120."
    assert kinds(steps) == REFUND_RUN
    assert [s.data["response"]["reasoning"] for s in llm_steps(steps)] == [
        "Check the order before refunding it.",
        "Delivered, $64.50, nothing refunded yet.",
        None,
    ]
    requests = rebuild_requests(steps)
    assert requests[1][3]["role"] == "tool" and requests[1][3]["tool_call_id"] == "call_0_0"


def test_a_held_refund_parks_and_resumes_a_chained_responses_agent(
    settings: Settings, store: TraceStore
) -> None:
    from agentbox.approvals import fixed_approver
    from agentbox.lifecycle import resume_run
    from agentbox.planning import plan_from_scenario
    from agentbox.scenario import parse_scenario

    data = yaml.safe_load(RESPONSES_SCENARIO.read_text(encoding="utf-8"))
    data["agent"]["entry"] = "agents/openai_responses_agent.py:run_chained"
    data["policy"]["rules"] = [
        {"name": "reviewed", "tool": "http POST *", "when": "amount_usd > 50"}
    ]
    data["approvals"] = "wait"
    plan = plan_from_scenario(parse_scenario(data, RESPONSES_SCENARIO, {}), settings)
    parked = Runner(plan, store, approver=fixed_approver("park")).run()
    assert parked.status == "awaiting_approval" and parked.pending_approval

    store.decide_approval(parked.pending_approval, "approved", by="test", reason="ok")
    # a new interception rebuilds the chain of previous_response_id from the replayed turns
    result = resume_run(store, parked.run_id, settings)
    assert result.status == "completed", result.reason
    assert result.output == "Done: I refunded $64.50 for ord_5120 to your original payment method."
    steps = store.steps(parked.run_id)
    assert [(s.kind, s.status) for s in steps if s.name == POST_REFUND] == [
        ("approval", "approved"),
        ("tool", "ok"),
    ]
    assert [len(r) for r in rebuild_requests(steps)] == [2, 4, 6]


# ---- translation details ------------------------------------------------------------------
def test_responses_input_items_become_one_chat_conversation() -> None:
    from agentbox.http.responses import parse_responses_request
    from agentbox.http.wire import WireError

    earlier = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}]
    call = parse_responses_request(
        {
            "instructions": "Be kind.",
            "previous_response_id": "resp_agentbox_0",
            "input": [
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "d"}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look:"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AA"},
                    ],
                },
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "t"}],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [
                        {"type": "output_text", "text": "Let me check.", "annotations": []}
                    ],
                },
                {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "b", "arguments": '{"x": 1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "A"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": "B"}],
                },
            ],
            "tools": [{"type": "function", "name": "a", "description": "A.", "parameters": None}],
        },
        {"resp_agentbox_0": earlier},
    )
    assert call.messages == [
        {"role": "system", "content": "Be kind."},
        *earlier,  # the same objects: the cassette hashes the shared prefix once
        {"role": "system", "content": "d"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "b", "arguments": '{"x": 1}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "A"},
        {"role": "tool", "tool_call_id": "c2", "content": "B"},
    ]
    assert call.messages[1] is earlier[0] and call.instructions == 1
    assert call.tools == [
        {
            "type": "function",
            "function": {
                "name": "a",
                "description": "A.",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    reply = ModelResponse(text="done")
    assert call.conversation(reply)[0] is earlier[0]  # instructions are not carried over
    assert call.conversation(reply)[-1] == {"role": "assistant", "content": "done"}
    with pytest.raises(WireError, match=r"input\[0\]\.content\[0\].*'input_file'"):
        parse_responses_request(
            {"input": [{"role": "user", "content": [{"type": "input_file"}]}]}, {}
        )
    with pytest.raises(WireError, match="`input`"):
        parse_responses_request({"model": "m"}, {})


def test_anthropic_blocks_become_chat_messages() -> None:
    from agentbox.http.anthropic import parse_anthropic_request
    from agentbox.http.wire import WireError

    call = parse_anthropic_request(
        {
            "system": "Be kind.",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm", "signature": "s"},
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "t1", "name": "get", "input": {"id": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": "nope",
                            "is_error": True,
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                    ],
                },
            ],
            "tools": [{"name": "get", "input_schema": {"type": "object"}}],
        }
    )
    assert call.messages == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "get", "arguments": '{"id": 1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "Error: nope"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}],
        },
    ]
    assert call.tools == [
        {"type": "function", "function": {"name": "get", "parameters": {"type": "object"}}}
    ]
    with pytest.raises(WireError, match=r"tools\[0\].*'web_search_20250305'"):
        parse_anthropic_request(
            {"messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
        )
    with pytest.raises(WireError, match=r"messages\[0\]\.content\[0\].*'document'"):
        parse_anthropic_request({"messages": [{"role": "user", "content": [{"type": "document"}]}]})
    # a tool call whose arguments are not an object still gives a valid tool_use block
    odd = ModelResponse(tool_calls=[ToolCall("t2", "get", "not json")])
    assert anthropic_message(odd, "m", 0)["content"] == [
        {"type": "tool_use", "id": "t2", "name": "get", "input": {"value": "not json"}}
    ]
