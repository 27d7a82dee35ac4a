"""Issue 13, item 5: the agent-stack conformance matrix.

For each way people write agents today -- the openai SDK (Chat Completions; Responses sync,
async and streaming), the OpenAI Agents SDK with its defaults, pydantic-ai's default OpenAI
model, LangGraph's ReAct agent around ``ChatOpenAI``, litellm called directly, and the
anthropic SDK -- a refund agent written in that stack's own idiom (``scenarios/agents/``,
no agentbox imports) runs offline from its shipped scenario (``scenarios/stack-*.yaml``)
through the CLI, and:

- its model calls are ``llm`` steps answered by the scenario's script, its API calls are
  gated ``tool`` steps answered by the retail HTTP mocks, and nothing is blocked;
- the scenario's yellow rule holds the refund: ``--approve`` performs it, ``--deny``
  does not (the agent sees the denial and finishes), and ``--detach`` parks the run until
  ``agentbox approve`` + ``agentbox resume`` finish it with exactly one refund;
- ``--mode recommend`` performs no write (the refund becomes a recommendation);
- ``agentbox replay`` of the approved run is identical.

Work shared across the matrix, honestly: every stack's module is imported once per test
process (the CLI runs in-process), and the replay test replays the run recorded by the
approve test of the same stack (it runs it first when the approve test was deselected).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agentbox.cli import app
from agentbox.store import StepRow, TraceStore

ROOT = Path(__file__).resolve().parent.parent
GET_ORDER = "http GET api.northwind.test/orders/{order_id}"
POST_REFUND = "http POST api.northwind.test/orders/{order_id}/refunds"
OUTPUT = "Done: I refunded $64.50 for ord_5120 to your original payment method."


CHAT, RESPONSES, MESSAGES = "/v1/chat/completions", "/v1/responses", "/v1/messages"


@dataclass(frozen=True)
class Stack:
    """One row of the matrix: a shipped scenario, optionally with another entry."""

    scenario: str
    wire: str
    """The model endpoint the stack calls (its wire format)."""
    stream: bool = False
    """Whether it asks for a server-sent event stream."""
    entry: str | None = None
    """Another function of the same agent file (``run_async``, ``run_stream``, ...)."""
    marks: tuple[Any, ...] = ()


STACKS = {
    "openai-chat": Stack("stack-openai-chat.yaml", CHAT),
    "openai-chat-async": Stack("stack-openai-chat.yaml", CHAT, entry="run_async"),
    "openai-responses": Stack("stack-openai-responses.yaml", RESPONSES),
    "openai-responses-async": Stack(
        "stack-openai-responses.yaml", RESPONSES, stream=True, entry="run_async"
    ),
    "openai-responses-stream": Stack(
        "stack-openai-responses.yaml", RESPONSES, stream=True, entry="run_stream"
    ),
    "openai-responses-chained": Stack(
        "stack-openai-responses.yaml", RESPONSES, entry="run_chained"
    ),
    "openai-agents": Stack("stack-openai-agents.yaml", RESPONSES),
    "openai-agents-streamed": Stack(
        "stack-openai-agents.yaml", RESPONSES, stream=True, entry="run_streamed"
    ),
    "pydantic-ai": Stack("stack-pydantic-ai.yaml", RESPONSES),
    "pydantic-ai-stream": Stack(
        "stack-pydantic-ai.yaml", RESPONSES, stream=True, entry="run_stream"
    ),
    "langgraph": Stack("stack-langgraph.yaml", CHAT),
    "langgraph-stream": Stack("stack-langgraph.yaml", CHAT, stream=True, entry="run_stream"),
    "langgraph-create-react-agent": Stack(
        "stack-langgraph.yaml",
        CHAT,
        entry="run_prebuilt",
        # deprecated in LangGraph 1.x in favour of langchain.agents.create_agent; still
        # shipped and still what many agents call
        marks=(pytest.mark.filterwarnings("ignore:create_react_agent has been moved"),),
    ),
    "litellm": Stack("stack-litellm.yaml", CHAT),
    "litellm-stream": Stack(
        "stack-litellm.yaml",
        CHAT,
        stream=True,
        entry="run_stream",
        # pydantic's warning about a ReadOnly TypedDict item in litellm's stream types
        marks=(
            pytest.mark.filterwarnings(
                "ignore:Item '.*' on TypedDict class '.*' is using the .ReadOnly. qualifier"
            ),
        ),
    ),
    "anthropic": Stack("stack-anthropic.yaml", MESSAGES),
    "anthropic-stream": Stack("stack-anthropic.yaml", MESSAGES, stream=True, entry="run_stream"),
    "anthropic-async": Stack("stack-anthropic.yaml", MESSAGES, entry="run_async"),
}
PARAMS = [pytest.param(name, id=name, marks=stack.marks) for name, stack in STACKS.items()]


@pytest.fixture(scope="module")
def scenario_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each stack's scenario file: the shipped one, or a copy naming another entry.

    A copy keeps everything but ``agent.entry``, which becomes the absolute path of the
    same agent file with the variant's function (entries resolve relative to the scenario).
    """
    folder = tmp_path_factory.mktemp("stack-scenarios")
    files = {}
    for name, stack in STACKS.items():
        shipped = ROOT / "scenarios" / stack.scenario
        if stack.entry is None:
            files[name] = shipped
            continue
        data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
        path, _, _ = data["agent"]["entry"].rpartition(":")
        data["agent"]["entry"] = f"{(shipped.parent / path).resolve()}:{stack.entry}"
        data["name"] = f"{data['name']}-{stack.entry}"
        copy = folder / f"{name}.yaml"
        copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        files[name] = copy
    return files


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real keys or base URLs: every model call must be answered by the box."""
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "NORTHWIND_API",
        "REFUND_AGENT_MODEL",
        "AGENTBOX_STORE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)


@pytest.fixture()
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Record (and refuse) every socket connection attempted while the test runs."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError(f"test: network connection to {address!r} refused")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts


@pytest.fixture()
def model_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """``(path, stream)`` of every model-API request the agent sends to the box."""
    from agentbox.http.intercept import HttpInterceptor

    seen: list[tuple[str, bool]] = []
    route = HttpInterceptor.route

    def spy(self: HttpInterceptor, request: Any) -> Any:
        if request.url.path in (CHAT, RESPONSES, MESSAGES):
            seen.append((request.url.path, bool(json.loads(request.content).get("stream"))))
        return route(self, request)

    monkeypatch.setattr(HttpInterceptor, "route", spy)
    return seen


def agentbox(store: Path, *args: str | Path) -> Any:
    """``agentbox ARGS --store STORE --json`` in-process; the parsed JSON output."""
    argv = [str(a) for a in args] + ["--store", str(store), "--json"]
    result = CliRunner().invoke(app, argv, catch_exceptions=False)
    try:
        return json.loads(result.stdout)
    except ValueError:
        message = f"agentbox {' '.join(argv)} -> {result.exit_code}:\n{result.output}"
        raise AssertionError(message) from None


def steps_of(store: Path, run_id: str) -> list[StepRow]:
    """The run's steps, read back through a new connection to the store file."""
    trace = TraceStore(store)
    try:
        return trace.steps(run_id)
    finally:
        trace.close()


def kinds(steps: list[StepRow]) -> list[tuple[str, str | None, str]]:
    return [(s.kind, s.name, s.status) for s in steps]


def refunds(changes: list[Any]) -> list[Any]:
    return [c for c in changes if "refunds" in json.dumps(c)]


_RECORDED: dict[str, tuple[Path, str]] = {}
"""Per stack: the store and id of its approved run (recorded by test_approve)."""


def _approved_run(name: str, scenario: Path, store: Path) -> dict[str, Any]:
    out = agentbox(store, "run", scenario, "--approve")
    _RECORDED[name] = (store, out["run_id"])
    return out


# ---- the cells ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", PARAMS)
def test_approve_runs_the_held_refund_and_model_calls_are_llm_steps(
    name: str,
    scenario_files: dict[str, Path],
    tmp_path: Path,
    no_sockets: list[Any],
    model_requests: list[tuple[str, bool]],
) -> None:
    out = _approved_run(name, scenario_files[name], tmp_path / "traces.db")

    assert out["status"] == "completed", out["reason"]
    assert out["passed"] is True, [e for e in out["expectations"] if not e["passed"]]
    assert out["output"] == OUTPUT
    steps = steps_of(tmp_path / "traces.db", out["run_id"])
    assert kinds(steps) == [
        ("llm", "scripted", "ok"),
        ("tool", GET_ORDER, "ok"),
        ("llm", "scripted", "ok"),
        ("approval", POST_REFUND, "approved"),
        ("tool", POST_REFUND, "ok"),
        ("llm", "scripted", "ok"),
        ("final", "completed", "completed"),
    ]
    llm = [s for s in steps if s.kind == "llm"]
    # the framework's own tool schemas reached the model, and our turns reached the framework
    assert [sorted(s.data["request"]["tools"]) for s in llm] == [["get_order", "refund_order"]] * 3
    assert llm[0].data["response"]["reasoning"] == "Check the order before refunding it."
    assert llm[0].data["response"]["tool_calls"][0]["arguments"] == {"order_id": "ord_5120"}
    post = steps[4]
    assert post.data["args"]["amount_usd"] == 64.5 and post.data["args"]["order_id"] == "ord_5120"
    assert len(refunds(out["changes"])) == 1
    assert out["counters"]["blocks"] == 0 and out["counters"]["model_calls"] == 3
    assert no_sockets == []  # nothing tried to reach the network
    stack = STACKS[name]  # the stack spoke its own wire format, streamed or not
    assert model_requests == [(stack.wire, stack.stream)] * 3


@pytest.mark.parametrize("name", PARAMS)
def test_replay_of_the_approved_run_is_identical(
    name: str, scenario_files: dict[str, Path], tmp_path: Path, no_sockets: list[Any]
) -> None:
    if name not in _RECORDED:  # the approve cell was deselected: record the run here
        _approved_run(name, scenario_files[name], tmp_path / "traces.db")
    store, run_id = _RECORDED[name]

    out = agentbox(store, "replay", run_id)

    assert out["identical"] is True, out["differences"]
    assert out["status"] == "completed"
    assert no_sockets == []


@pytest.mark.parametrize("name", PARAMS)
def test_deny_refuses_the_refund_and_the_agent_finishes(
    name: str, scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    out = agentbox(tmp_path / "traces.db", "run", scenario_files[name], "--deny")

    assert out["status"] == "completed", out["reason"]
    steps = steps_of(tmp_path / "traces.db", out["run_id"])
    assert [(k, n, s) for k, n, s in kinds(steps) if n == POST_REFUND] == [
        ("approval", POST_REFUND, "denied"),
        ("tool", POST_REFUND, "denied"),
    ]
    assert refunds(out["changes"]) == []
    assert out["counters"]["denials"] == 1
    assert steps[-2].kind == "llm"  # the agent saw the denial and answered once more


@pytest.mark.parametrize("name", PARAMS)
def test_detach_then_approve_and_resume_refunds_exactly_once(
    name: str, scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    store = tmp_path / "traces.db"
    parked = agentbox(store, "run", scenario_files[name], "--detach")
    assert parked["status"] == "awaiting_approval", parked["reason"]
    approval = parked["pending_approval"]
    assert approval and refunds(parked["changes"]) == []

    decided = CliRunner().invoke(
        app, ["approve", approval, "--store", str(store)], catch_exceptions=False
    )
    assert decided.exit_code == 0, decided.output
    out = agentbox(store, "resume", parked["run_id"])

    assert out["status"] == "completed", out["reason"]
    assert out["output"] == OUTPUT
    steps = steps_of(store, parked["run_id"])
    posts = [s for s in steps if s.kind == "tool" and s.name == POST_REFUND]
    assert [s.status for s in posts] == ["ok"]  # performed once, after the approval
    assert [s.kind for s in steps].count("llm") == 3
    assert steps[-1].kind == "final"


@pytest.mark.parametrize("name", PARAMS)
def test_recommend_mode_performs_no_write(
    name: str, scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    out = agentbox(tmp_path / "traces.db", "run", scenario_files[name], "--mode", "recommend")

    assert out["status"] == "completed", out["reason"]
    assert out["changes"] == []
    [recommended] = out["recommendations"]
    assert recommended["tool"] == POST_REFUND and recommended["args"]["amount_usd"] == 64.5
    assert recommended["decision"]["tier"] == "yellow"
    steps = steps_of(tmp_path / "traces.db", out["run_id"])
    assert [s.status for s in steps if s.name == POST_REFUND] == ["recommended"]


# ---- stack-specific housekeeping ----------------------------------------------------------
def test_agents_sdk_trace_export_is_answered_locally_never_a_step_or_the_network(
    scenario_files: dict[str, Path],
    tmp_path: Path,
    no_sockets: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agents.tracing import flush_traces

    from agentbox.http import intercept

    answered: list[str] = []
    ack = intercept.telemetry_ack

    def spy(request: Any) -> Any:
        answered.append(f"{request.method} {request.url}")
        return ack(request)

    monkeypatch.setattr(intercept, "telemetry_ack", spy)
    # a key, so the exporter really exports (without one it skips the upload)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    out = agentbox(tmp_path / "traces.db", "run", scenario_files["openai-agents"])
    flush_traces()  # what the SDK does at process exit

    assert out["status"] == "completed" and out["passed"], out["reason"]
    assert "POST https://api.openai.com/v1/traces/ingest" in answered
    steps = steps_of(tmp_path / "traces.db", out["run_id"])
    assert [s.name for s in steps if s.kind == "tool"] == [GET_ORDER, POST_REFUND]
    assert no_sockets == []


def test_a_missing_entry_file_is_refused_with_its_line_before_a_run(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "scenarios" / "stack-openai-chat.yaml").read_text("utf-8"))
    data["agent"]["entry"] = "agents/no_such_agent.py:run"
    scenario = tmp_path / "missing.yaml"
    scenario.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    result = CliRunner().invoke(
        app, ["run", str(scenario), "--store", str(tmp_path / "t.db")], catch_exceptions=False
    )

    assert result.exit_code == 2
    assert f"{scenario}:" in result.output
    assert (
        "agent.entry" in result.output and "file agents/no_such_agent.py not found" in result.output
    )
    assert not (tmp_path / "t.db").exists()  # refused before anything was written
