"""Issue 13: nothing escapes the box -- the egress canary.

A local stdlib HTTP server on 127.0.0.1 (not allowed) and a python agent that tries to
reach it every way an honest library can: httpx, httpx2, requests, urllib, aiohttp,
httpcore, a raw socket, an asyncio stream, a new thread, a thread that outlives the agent,
and ``curl`` in a subprocess. In every mode the server receives nothing and the trace
names each attempt; with the host in ``agent.allow_hosts`` every attempt gets through.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from agentbox.config import Settings
from agentbox.planning import RunPlan, plan_run
from agentbox.runner import Runner, RunResult
from agentbox.store import StepRow, TraceStore

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "scenarios" / "snapshots" / "retail-prod-2026-11-20.json"
CURL = shutil.which("curl")


class _Canary(BaseHTTPRequestHandler):
    """Counts every request it receives (there must be none unless allowed)."""

    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.0"
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        body = b"canary"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def canary() -> Iterator[int]:
    _Canary.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canary)
    server.daemon_threads = True
    server.request_queue_size = 64
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.daemon = True
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


CANARY_AGENT = """
import asyncio, json, os, socket, subprocess, threading, time, urllib.request
from pathlib import Path

import aiohttp, httpcore, httpx, httpx2, requests

PORT = int(os.environ["CANARY_PORT"])
BASE = f"http://127.0.0.1:{PORT}"
HERE = Path(os.environ["CANARY_DIR"])
CURL = os.environ.get("CANARY_CURL")


def attempt(name, fn):
    try:
        out = fn()
        return [name, "reached", out]
    except BaseException as exc:  # the agent sees an ordinary connection failure
        return [name, type(exc).__name__, str(exc)[:300]]


def raw_socket():
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as sock:
        sock.sendall(b"GET /socket HTTP/1.0\\r\\n\\r\\n")
        return sock.recv(100).decode()[:12]


async def async_attempts():
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(BASE + "/aiohttp") as r:
                aio = ["aiohttp", "reached", r.status]
        except Exception as exc:
            aio = ["aiohttp", type(exc).__name__, str(exc)[:300]]

    async def stream():
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        writer.write(b"GET /asyncio HTTP/1.0\\r\\n\\r\\n")
        await writer.drain()
        line = await reader.readline()
        writer.close()
        return line.decode()[:12]

    try:
        task = ["asyncio task", "reached", await asyncio.create_task(stream())]
    except Exception as exc:
        task = ["asyncio task", type(exc).__name__, str(exc)[:300]]
    return [aio, task]


def curl():
    done = subprocess.run(
        [CURL, "-sS", "-f", "-m", "10", BASE + "/curl"], capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"curl exit {done.returncode}: {done.stderr.strip()[:200]}")
    return done.stdout


def late_thread(ctx):
    early = attempt("late thread, during the run", lambda: urllib.request.urlopen(BASE + "/late-early", timeout=5).status)
    (HERE / "early.json").write_text(json.dumps(early))
    while not (HERE / "go").exists():
        time.sleep(0.01)
    late = [
        attempt("late thread, after the run", lambda: urllib.request.urlopen(BASE + "/late", timeout=5).status),
        attempt("late thread, subprocess", lambda: subprocess.run(["true"]).returncode),
        attempt("late thread, tool call", lambda: ctx.call_tool("get_order", order_id="ord_5120").status),
    ]
    box = []
    child = threading.Thread(target=lambda: box.append(attempt(
        "late thread, its new thread", lambda: urllib.request.urlopen(BASE + "/late-child", timeout=5).status
    )))
    child.start()
    child.join()
    late += box
    (HERE / "late.json").write_text(json.dumps(late))


def run(ctx):
    results = [
        attempt("httpx", lambda: httpx.get(BASE + "/httpx", timeout=5).raise_for_status().text),
        attempt("httpx2", lambda: httpx2.get(BASE + "/httpx2", timeout=5).raise_for_status().text),
        attempt("requests", lambda: requests.get(BASE + "/requests", timeout=5).status_code),
        attempt("urllib", lambda: urllib.request.urlopen(BASE + "/urllib", timeout=5).status),
        attempt("httpcore", lambda: httpcore.request("GET", BASE + "/httpcore").status),
        attempt("socket", raw_socket),
    ]
    results += asyncio.run(async_attempts())
    box = []
    worker = threading.Thread(
        target=lambda: box.append(
            attempt("thread", lambda: urllib.request.urlopen(BASE + "/thread", timeout=5).status)
        ),
        name="canary-thread",
    )
    worker.start()
    worker.join()
    results += box
    late = threading.Thread(target=late_thread, args=(ctx,), name="canary-late", daemon=True)
    late.start()
    while not (HERE / "early.json").exists():
        time.sleep(0.01)
    results.append(json.loads((HERE / "early.json").read_text()))
    if CURL:
        results.append(attempt("curl", curl))
    return json.dumps(results)
"""


@pytest.fixture()
def canary_scenario(
    tmp_path: Path, settings: Settings, canary: int, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., RunPlan]:
    monkeypatch.setenv("CANARY_PORT", str(canary))
    monkeypatch.setenv("CANARY_DIR", str(tmp_path))
    if CURL:
        monkeypatch.setenv("CANARY_CURL", CURL)
    (tmp_path / "canary_agent.py").write_text(CANARY_AGENT, encoding="utf-8")

    def make(mode: str, allow_hosts: list[str] | None = None) -> RunPlan:
        data: dict[str, Any] = {
            "name": f"egress-canary-{mode}",
            "sandbox": "retail",
            "mode": mode,
            "agent": {"type": "python", "entry": "canary_agent.py:run", "model": "scripted"},
            "input": "try to get out",
            "script": [{"say": "ok"}],
        }
        if allow_hosts:
            data["agent"]["allow_hosts"] = allow_hosts
        if mode == "shadow":
            data["state"] = str(SNAPSHOT)
        path = tmp_path / f"canary-{mode}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return plan_run(path, settings)

    return make


def _run(plan: RunPlan, store: TraceStore) -> tuple[RunResult, list[StepRow]]:
    result = Runner(plan, store).run()
    return result, store.steps(result.run_id)


def _late(tmp_path: Path) -> list[list[Any]]:
    (tmp_path / "go").write_text("go")
    deadline = time.monotonic() + 30
    while not (tmp_path / "late.json").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return json.loads((tmp_path / "late.json").read_text())


ATTEMPTS = [
    "httpx",
    "httpx2",
    "requests",
    "urllib",
    "httpcore",
    "socket",
    "aiohttp",
    "asyncio task",
    "thread",
    "late thread, during the run",
] + (["curl"] if CURL else [])


@pytest.mark.parametrize("mode", ["execute", "shadow", "recommend"])
def test_nothing_reaches_an_unlisted_host_and_the_trace_names_each_attempt(
    mode: str, canary_scenario: Callable[..., RunPlan], store: TraceStore, tmp_path: Path
) -> None:
    result, steps = _run(canary_scenario(mode), store)
    assert result.status == "completed", result.reason
    attempts = json.loads(result.output or "")
    assert [a[0] for a in attempts] == ATTEMPTS
    for name, outcome, detail in attempts:
        assert outcome != "reached", (name, detail)
        if name not in ("httpx", "httpx2", "curl"):  # these see a 403 from agentbox
            assert "agentbox blocked" in detail, (name, detail)
    late = _late(tmp_path)
    assert [outcome for _, outcome, _ in late] == [
        "URLError",
        "PermissionError",
        "RunEnded",
        "URLError",
    ]
    assert all("has ended" in detail for _, _, detail in late), late
    assert _Canary.seen == []  # the server received nothing, not even from the late thread

    blocked = [s for s in steps if s.status == "blocked"]
    http = {s.data["url"].rsplit("/", 1)[-1] for s in blocked if s.name == "http"}
    assert http == {"httpx", "httpx2"}  # answered 403 by the HTTP interception
    egress = [s.data for s in blocked if s.name == "egress"]
    assert all(d["host"] == "127.0.0.1" and d["port"] == _port(steps) for d in egress)
    agent_thread = f"agentbox-agent-{result.run_id}"  # the runner runs agents on their own thread
    named = {(d["library"], d["thread"]) for d in egress}
    expected = {
        ("requests", agent_thread),
        ("urllib", agent_thread),
        ("httpcore", agent_thread),
        ("socket", agent_thread),
        ("aiohttp", agent_thread),
        ("asyncio", agent_thread),
        ("urllib", "canary-thread"),
        ("urllib", "canary-late"),
    }
    if CURL:
        expected.add(("proxy (subprocess)", "agentbox-egress-proxy"))
    assert named == expected
    assert len(egress) == len(expected)  # one step per attempt, none after the run
    assert steps[-1].kind == "final"  # the late attempts recorded nothing after it
    if CURL:
        program = next(s for s in steps if s.name == "subprocess")
        assert program.data["argv"][0] == CURL and program.data["proxy"].startswith("http://")
    assert result.counters.blocks == len(blocked)


def _port(steps: list[StepRow]) -> int:
    return next(int(s.data["port"]) for s in steps if s.name == "egress")


def test_with_the_host_in_allow_hosts_every_attempt_gets_through(
    canary_scenario: Callable[..., RunPlan], store: TraceStore, tmp_path: Path
) -> None:
    result, steps = _run(canary_scenario("execute", ["127.0.0.1"]), store)
    assert result.status == "completed", result.reason
    attempts = json.loads(result.output or "")
    assert [a[0] for a in attempts] == ATTEMPTS
    assert [a for a in attempts if a[1] != "reached"] == []
    late = _late(tmp_path)
    assert late[0][1] == "reached"  # an allowed host stays allowed for the run's threads
    assert [s for s in steps if s.status == "blocked"] == []
    paths = sorted(_Canary.seen)
    expected = ["/httpx", "/httpx2", "/requests", "/urllib", "/httpcore", "/socket"]
    expected += ["/aiohttp", "/asyncio", "/thread", "/late-early", "/late", "/late-child"]
    assert paths == sorted(expected + (["/curl"] if CURL else []))


# ---- telemetry is answered locally, during the run and after it -----------------------
TRACING_AGENT = """
from agents import custom_span, trace
from agents.tracing import get_trace_provider

def run(ctx):
    with trace("during the run"):
        with custom_span("lookup"):
            pass
    get_trace_provider().force_flush()  # exported now, by this thread
    with trace("left for later"):  # exported by the SDK's thread, or at exit
        pass
    return "traced"
"""


def test_agents_sdk_trace_export_is_a_local_no_op_and_replay_stays_identical(
    tmp_path: Path,
    settings: Settings,
    store: TraceStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from agents.tracing import get_trace_provider

    from agentbox.lifecycle import replay_run

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-sent-anywhere")
    (tmp_path / "tracing_agent.py").write_text(TRACING_AGENT, encoding="utf-8")
    data = {
        "name": "agents-sdk-tracing",
        "sandbox": "retail",
        "agent": {"type": "python", "entry": "tracing_agent.py:run", "model": "scripted"},
        "input": "x",
        "script": [{"say": "ok"}],
    }
    path = tmp_path / "tracing.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with caplog.at_level(logging.DEBUG, logger="openai.agents"):
        result, steps = _run(plan_run(path, settings), store)
        get_trace_provider().force_flush()  # after the run: the SDK's exit-time flush path
    assert result.status == "completed" and result.output == "traced"
    assert [(s.kind, s.status) for s in steps] == [("final", "completed")]  # no step
    exported = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Exported")]
    assert len(exported) == 2  # once during the run, once after it: both answered 200
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert failures == []  # no request failed, none reached the network
    replay = replay_run(store, result.run_id, settings)
    assert replay.identical, replay.differences


RUNAWAY_AGENT = """
import os, threading, requests

def hammer(out):
    for _ in range(50):
        try:
            requests.get(f"http://127.0.0.1:{os.environ['CANARY_PORT']}/again", timeout=5)
        except BaseException as exc:  # swallows everything, agentbox's halt included
            out.append(type(exc).__name__)

def run(ctx):
    out = []
    worker = threading.Thread(target=hammer, args=(out,))
    worker.start()
    worker.join()
    return f"kept going after {len(out)} failures"
"""


def test_a_budget_halt_while_recording_blocks_stops_the_run_even_if_swallowed(
    tmp_path: Path,
    settings: Settings,
    store: TraceStore,
    canary: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANARY_PORT", str(canary))
    (tmp_path / "runaway.py").write_text(RUNAWAY_AGENT, encoding="utf-8")
    data = {
        "name": "egress-runaway",
        "sandbox": "retail",
        "agent": {"type": "python", "entry": "runaway.py:run", "model": "scripted"},
        "input": "x",
        "script": [{"say": "ok"}],
        "policy": {"budgets": {"max_steps": 5}},
    }
    path = tmp_path / "runaway.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result, steps = _run(plan_run(path, settings), store)
    assert result.status == "halted" and "max_steps" in (result.reason or ""), result.reason
    assert [s.name for s in steps] == ["egress"] * 5 + ["halt", "halted"]
    assert _Canary.seen == []


def test_after_a_run_the_host_programs_own_threads_reach_the_network(
    settings: Settings, store: TraceStore, canary: int
) -> None:
    import urllib.request

    result, _ = _run(plan_run(ROOT / "scenarios" / "refund-over-limit.yaml", settings), store)
    assert result.status == "completed"
    url = f"http://127.0.0.1:{canary}"
    assert urllib.request.urlopen(url + "/main", timeout=5).status == 200  # the host's thread
    box: list[int] = []
    worker = threading.Thread(  # started after the run by the host (a TUI worker, an exporter)
        target=lambda: box.append(urllib.request.urlopen(url + "/worker", timeout=5).status)
    )
    worker.start()
    worker.join()
    assert box == [200] and sorted(_Canary.seen) == ["/main", "/worker"]


PROXIED_AGENT = """
import os, subprocess

def run(ctx):
    base = f"http://127.0.0.1:{os.environ['CANARY_PORT']}"
    out = []
    for path, extra in (("/forwarded", ""), ("/tunnelled", "-p")):  # -p: CONNECT
        script = f'exec "$CANARY_CURL" -sS -f -m 10 --noproxy "" {extra} -x "$HTTP_PROXY" {base}{path}'
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
        out.append([path, done.returncode, done.stdout or done.stderr.strip()[:200]])
    return out
"""


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
@pytest.mark.parametrize("allowed", [True, False])
def test_the_egress_proxy_forwards_and_tunnels_allowed_hosts_only(
    allowed: bool,
    tmp_path: Path,
    settings: Settings,
    store: TraceStore,
    canary: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A child that sends everything through the proxy (ignoring NO_PROXY)."""
    monkeypatch.setenv("CANARY_PORT", str(canary))
    monkeypatch.setenv("CANARY_CURL", str(CURL))
    (tmp_path / "proxied.py").write_text(PROXIED_AGENT, encoding="utf-8")
    agent: dict[str, Any] = {"type": "python", "entry": "proxied.py:run", "model": "scripted"}
    if allowed:
        agent["allow_hosts"] = ["127.0.0.1"]
    data = {"name": "proxied", "sandbox": "retail", "agent": agent, "input": "x"}
    data["script"] = [{"say": "ok"}]
    path = tmp_path / "proxied.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("HTTP_PROXY", "set-by-agentbox-for-the-child")  # replaced for the child
    result, steps = _run(plan_run(path, settings), store)
    assert result.status == "completed", result.reason
    out = json.loads(result.output or "")
    blocked = [s.data for s in steps if s.status == "blocked"]
    if allowed:
        assert out == [["/forwarded", 0, "canary"], ["/tunnelled", 0, "canary"]]
        assert sorted(_Canary.seen) == ["/forwarded", "/tunnelled"] and blocked == []
    else:
        assert [code for _, code, _ in out] == [22, 22]  # curl -f: the proxy answered 403
        assert _Canary.seen == []
        assert [(d["event"], d["library"]) for d in blocked] == [
            ("proxy GET", "proxy (subprocess)"),
            ("proxy CONNECT", "proxy (subprocess)"),
        ]


LANGSMITH_AGENT = """
import requests

def run(ctx):
    try:
        requests.post("https://api.smith.langchain.com/runs/batch", json={"post": []}, timeout=5)
    except requests.ConnectionError as exc:
        return "refused: " + str(exc)
    return "sent"
"""


def test_telemetry_sent_with_requests_is_refused_without_a_step(
    tmp_path: Path, settings: Settings, store: TraceStore
) -> None:
    """LangSmith uploads through requests, below the HTTP router: refused, not a step."""
    (tmp_path / "langsmith_agent.py").write_text(LANGSMITH_AGENT, encoding="utf-8")
    data = {
        "name": "langsmith",
        "sandbox": "retail",
        "agent": {"type": "python", "entry": "langsmith_agent.py:run", "model": "scripted"},
        "input": "x",
        "script": [{"say": "ok"}],
    }
    path = tmp_path / "langsmith.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result, steps = _run(plan_run(path, settings), store)
    assert (result.output or "").startswith("refused: ") and "agentbox blocked" in result.output
    assert [(s.kind, s.status) for s in steps] == [("final", "completed")]
