"""A scenario's own MCP servers: agentbox starts them, gates and records every call, and
replays the run with the server gone. Misbehaving servers become tool errors, never hangs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from procs import agentbox

from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent

FLAKY_SERVER = r'''
"""A hand-written JSON-RPC server over stdio that misbehaves on request."""
import json, os, sys, time

TOOLS = [{"name": n, "description": n, "inputSchema": {"type": "object", "properties": {}}}
         for n in ("fine", "crash", "hang", "garbage")]

for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    method, rid = msg["method"], msg["id"]

    def reply(result):
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}) + "\n")
        sys.stdout.flush()

    if method == "initialize":
        reply({"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
               "serverInfo": {"name": "flaky", "version": "0"}})
    elif method == "tools/list":
        reply({"tools": TOOLS})
    elif method == "tools/call":
        name = msg["params"]["name"]
        if name == "fine":
            reply({"content": [{"type": "text", "text": "fine"}]})
        elif name == "crash":
            os._exit(3)
        elif name == "hang":
            time.sleep(3600)
        elif name == "garbage":
            sys.stdout.write("{this is not json-rpc\n")
            sys.stdout.flush()
    else:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": rid,
                                     "error": {"code": -32601, "message": "no such method"}}) + "\n")
        sys.stdout.flush()
'''


def _proxy_project(tmp_path: Path, **changes: Any) -> Path:
    """Copy scenarios/mcp-proxy.yaml and its server into tmp_path; apply ``changes``.

    The server logs each refund it really makes to ``tmp_path/refunds.log``.
    """
    (tmp_path / "servers").mkdir()
    shutil.copy(ROOT / "scenarios/servers/payments_mcp.py", tmp_path / "servers")
    data = yaml.safe_load((ROOT / "scenarios/mcp-proxy.yaml").read_text())
    data["mcp_servers"]["payments"]["env"] = {"PAYMENTS_LOG": str(tmp_path / "refunds.log")}
    data.update(changes)
    path = tmp_path / "mcp-proxy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _steps(store_file: Path) -> tuple[Any, list[Any]]:
    store = TraceStore(store_file)
    try:
        run = store.list_runs()[-1]  # the oldest
        return run, store.steps(run.id)
    finally:
        store.close()


def _run(scenario: Path, store: Path, *args: str) -> Any:
    return agentbox(ROOT, "run", str(scenario), "--store", str(store), *args)


def test_calls_are_gated_recorded_and_replay_without_the_server(tmp_path: Path) -> None:
    scenario, store, log = _proxy_project(tmp_path), tmp_path / "t.db", tmp_path / "refunds.log"
    done = _run(scenario, store)
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text() == "ch_5531 240\n"  # forwarded once, after the approval

    run, steps = _steps(store)
    assert run.status == "completed"
    assert set(run.options["mcp_tools"]["payments"][0]) == {"name", "description", "input_schema"}
    calls = [(s.kind, s.name, s.status) for s in steps if s.kind in ("tool", "approval")]
    assert calls == [
        ("tool", "payments__get_charge", "ok"),
        ("approval", "payments__refund_charge", "approved"),
        ("tool", "payments__refund_charge", "ok"),
    ]
    refund = steps[4]
    assert refund.data["decision"]["rule"] == "big-refund"
    assert '"status": "succeeded"' in refund.data["result"]

    (tmp_path / "servers/payments_mcp.py").unlink()  # the server is gone
    replay = agentbox(ROOT, "replay", run.id, "--store", str(store))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "identical" in replay.stdout
    assert log.read_text() == "ch_5531 240\n"  # nothing was forwarded again


def _export(tmp_path: Path, store: Path) -> Path:
    """Run the copied scenario, export it beside servers/ and return the case file."""
    scenario = _proxy_project(tmp_path)
    assert _run(scenario, store).returncode == 0
    run, _ = _steps(store)
    exported = agentbox(
        ROOT,
        "export",
        run.id,
        "--suite",
        str(tmp_path),
        "--name",
        "mcp-refund",
        "--store",
        str(store),
    )
    assert exported.returncode == 0, exported.stdout + exported.stderr
    return tmp_path / "mcp-refund.yaml"


def test_an_exported_case_replays_offline_with_the_server_gone(tmp_path: Path) -> None:
    """The case carries the MCP listing and results: `agentbox test` needs no server, and
    fails when a recorded argument no longer matches the call."""
    store, log = tmp_path / "t.db", tmp_path / "refunds.log"
    case_file = _export(tmp_path, store)
    case = yaml.safe_load(case_file.read_text())
    assert [t["name"] for t in case["cassette"]["mcp_tools"]["payments"]] == [
        "get_charge",
        "refund_charge",
    ]
    results = case["cassette"]["tool_results"]
    assert [r["tool"] for r in results] == ["payments__get_charge", "payments__refund_charge"]
    assert results[1]["value"]["status"] == "succeeded"  # the server's JSON, as data

    (tmp_path / "servers/payments_mcp.py").unlink()  # the server is gone
    tested = agentbox(ROOT, "test", str(case_file), "--store", str(store))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout
    # -p no:phoenix: a case file outside the repo does not get pyproject's addopts, and
    # Phoenix's pytest plugin imports its whole server (a minute under load)
    plugin = ["-p", "no:cacheprovider", "-p", "no:phoenix", "-p", "no:agentbox"]
    plugin += ["-p", "agentbox.pytest_plugin"]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, "-q", str(case_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr  # `pytest DIR` too
    assert "1 passed" in collected.stdout
    assert log.read_text() == "ch_5531 240\n"  # nothing was forwarded by the replays

    results[1]["args"]["amount_usd"] = 24  # the recording no longer matches the call
    case_file.write_text(yaml.safe_dump(case, sort_keys=False))
    failed = agentbox(ROOT, "test", str(case_file), "--store", str(store))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "payments__refund_charge was recorded with" in failed.stdout


def test_an_exported_case_runs_the_real_server_with_live(tmp_path: Path) -> None:
    """`agentbox test --live` starts the server (relative to the case file's folder)."""
    store, log = tmp_path / "t.db", tmp_path / "refunds.log"
    case_file = _export(tmp_path, store)
    tested = agentbox(ROOT, "test", str(case_file), "--live", "--store", str(store))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert log.read_text() == "ch_5531 240\nch_5531 240\n"


@pytest.mark.parametrize("mode", ["recommend", "shadow"])
def test_writes_are_not_forwarded_in_recommend_and_shadow(tmp_path: Path, mode: str) -> None:
    scenario = _proxy_project(tmp_path, expect=None, approvals="approve")
    store, log = tmp_path / "t.db", tmp_path / "refunds.log"
    state = ["--state", str(ROOT / "sandboxes/retail/seed")] if mode == "shadow" else []
    done = _run(scenario, store, "--mode", mode, *state)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not log.exists()  # the real server never refunded
    _, steps = _steps(store)
    refund = [s for s in steps if s.kind == "tool" and s.name == "payments__refund_charge"][-1]
    assert refund.status == ("recommended" if mode == "recommend" else "error")
    read = next(s for s in steps if s.name == "payments__get_charge")
    assert read.status == "ok"  # reads are forwarded in every mode


def test_red_rule_blocks_before_the_server(tmp_path: Path) -> None:
    policy = {
        "allow": ["payments__*"],
        "rules": [{"name": "no-card-refunds", "tool": "payments__refund_charge", "tier": "red"}],
    }
    scenario = _proxy_project(tmp_path, policy=policy, expect=None)
    store, log = tmp_path / "t.db", tmp_path / "refunds.log"
    _run(scenario, store)
    assert not log.exists()
    _, steps = _steps(store)
    (refund,) = [s for s in steps if s.name == "payments__refund_charge"]
    assert refund.status == "blocked" and "no-card-refunds" in refund.data["result"]


def _flaky(tmp_path: Path, calls: list[str], **server: Any) -> Path:
    (tmp_path / "flaky.py").write_text(FLAKY_SERVER)
    data = {
        "name": "flaky",
        "sandbox": "retail",
        "input": "go",
        "agent": {"type": "scripted"},
        "mcp_servers": {
            "flaky": {"command": "python", "args": ["flaky.py"], "timeout_s": 6, **server}
        },
        "script": [{"tool_calls": [{f"flaky__{c}": {}}]} for c in calls] + [{"say": "done"}],
    }
    path = tmp_path / "flaky.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("crash", "failed on crash"),
        ("hang", "did not answer hang within 6 s"),
        ("garbage", "did not answer garbage within 6 s"),
    ],
)
def test_a_misbehaving_server_is_a_tool_error(tmp_path: Path, bad: str, says: str) -> None:
    store = tmp_path / "t.db"
    done = agentbox(ROOT, "run", str(_flaky(tmp_path, ["fine", bad])), "--store", str(store))
    assert done.returncode == 0, done.stdout + done.stderr
    run, steps = _steps(store)
    assert run.status == "completed"
    tools = [(s.name, s.status) for s in steps if s.kind == "tool"]
    assert tools == [("flaky__fine", "ok"), (f"flaky__{bad}", "error")]
    assert says in steps[3].data["result"]


@pytest.mark.parametrize(
    ("server", "says"),
    [
        ({"args": ["-c", "import time; time.sleep(60)"]}, "did not start and list its tools"),
        ({"command": "no-such-mcp-server-binary"}, "failed to start"),
    ],
)
def test_a_server_that_does_not_start_fails_the_run_cleanly(
    tmp_path: Path, server: dict[str, Any], says: str
) -> None:
    store = tmp_path / "t.db"
    done = agentbox(ROOT, "run", str(_flaky(tmp_path, ["fine"], **server)), "--store", str(store))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    run, steps = _steps(store)
    assert run.status == "failed" and says in run.reason
    assert [s.kind for s in steps] == ["error", "final"]


PY_AGENT = """
def run(ctx):
    names = [t["function"]["name"] for t in ctx.mcp_tools]
    charge = ctx.call_tool("payments__get_charge", charge_id="ch_5600")
    refund = ctx.call_tool("payments__refund_charge", charge_id="ch_5600", amount_usd=35)
    return f"{names} {charge.value['amount_usd']} {refund.status}"
"""


def test_a_python_agent_calls_mcp_tools_through_the_context(tmp_path: Path) -> None:
    (tmp_path / "py_mcp_agent.py").write_text(PY_AGENT)
    scenario = _proxy_project(
        tmp_path,
        agent={"type": "python", "entry": "py_mcp_agent:run"},
        script=[],
        expect={"status": "completed", "output_contains": "35.0 ok"},
    )
    store, log = tmp_path / "t.db", tmp_path / "refunds.log"
    done = _run(scenario, store)
    assert done.returncode == 0, done.stdout + done.stderr
    run, _ = _steps(store)
    assert run.output == "['payments__get_charge', 'payments__refund_charge'] 35.0 ok"
    assert log.read_text() == "ch_5600 35\n"


MCP_CLIENT_AGENT = '''
from mcp import Client


async def run(ctx):
    """An agent with its own MCP client, connected to the run's tools (proxied server)."""
    async with Client(ctx.mcp_server()) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        charge = await client.call_tool("payments__get_charge", {"charge_id": "ch_5531"})
        refund = await client.call_tool(
            "payments__refund_charge", {"charge_id": "ch_5531", "amount_usd": 240}
        )
    return f"{names} {charge.is_error} {refund.is_error} {refund.content[0].text}"
'''


def test_an_agents_own_mcp_client_goes_through_the_gate_and_replays_offline(
    tmp_path: Path,
) -> None:
    (tmp_path / "mcp_client_agent.py").write_text(MCP_CLIENT_AGENT)
    scenario = _proxy_project(
        tmp_path,
        agent={"type": "python", "entry": "mcp_client_agent.py:run"},
        script=[],
        approvals="deny",
        expect={"status": "completed", "holds": 1},
    )
    store, log = tmp_path / "t.db", tmp_path / "refunds.log"
    done = _run(scenario, store)
    assert done.returncode == 0, done.stdout + done.stderr
    run, steps = _steps(store)
    assert run.output.startswith(
        "['get_order', 'payments__get_charge', 'payments__refund_charge'] False True "
        "Error: denied by approver"
    )
    assert [(s.kind, s.name, s.status) for s in steps if s.kind != "final"] == [
        ("tool", "payments__get_charge", "ok"),
        ("approval", "payments__refund_charge", "denied"),
        ("tool", "payments__refund_charge", "denied"),
    ]
    assert not log.exists()  # the denied refund never reached the server

    (tmp_path / "servers/payments_mcp.py").unlink()
    replay = agentbox(ROOT, "replay", run.id, "--store", str(store))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "identical" in replay.stdout


URL_AGENT = """
def run(ctx):
    order = ctx.call_tool("shop__get_order", order_id="ord_5531")
    return f"{order.status} {order.value['id']}"
"""


def test_a_url_server_is_reached_past_the_agents_http_interception(tmp_path: Path) -> None:
    """A streamable-HTTP server (here `agentbox mcp serve --http`) used by a python agent:
    agentbox's own MCP traffic is not mistaken for the agent's egress (it deadlocked)."""
    import signal
    import socket
    import subprocess

    from procs import CLI, wait_for

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [*CLI, "mcp", "serve", "scenarios/mcp-serve.yaml", "--http", str(port), "-q"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "AGENTBOX_STORE": str(tmp_path / "server.db")},
    )
    try:

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening)
        (tmp_path / "url_agent.py").write_text(URL_AGENT)
        data = {
            "name": "url-server",
            "sandbox": "retail",
            "input": "go",
            "agent": {"type": "python", "entry": "url_agent.py:run"},
            "mcp_servers": {
                "shop": {"url": f"http://127.0.0.1:{port}/mcp", "tools": {"get_order": "read"}}
            },
            "expect": {"output_contains": "ok ord_5531"},
        }
        scenario = tmp_path / "url.yaml"
        scenario.write_text(yaml.safe_dump(data))
        done = agentbox(ROOT, "run", str(scenario), "--store", str(tmp_path / "t.db"), timeout=90)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
