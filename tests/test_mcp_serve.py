"""`agentbox mcp serve` driven by the real `mcp` client SDK, over stdio and streamable HTTP.

The server is a real `agentbox` subprocess; held calls are approved by another
`agentbox approve` process; the runs are checked by reopening the store file.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from procs import CLI, agentbox, pending_approval, wait_for

from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """
name: mcp-serve-test
sandbox: retail
input: served over MCP
agent: {type: scripted}
script: [{say: unused}]
policy:
  allow: [get_order, list_refunds, create_refund, update_bank_details]
  rules:
    - {name: big-refund, tool: create_refund, when: "amount_usd > 200", tier: yellow,
       reason: refunds over $200 need a supervisor}
    - {name: payroll, tool: update_bank_details, tier: red,
       reason: bank details are changed by payroll only}
approvals: wait
"""

LISTED = ["get_order", "list_refunds", "create_refund", "update_bank_details"]
REFUND = {"order_id": "ord_5531", "amount_usd": 240, "idempotency_key": "r-5531"}


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "serve.yaml"
    path.write_text(SCENARIO)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stdio(scenario: Path, store: Path, *extra: str) -> Client:
    return Client(
        StdioServerParameters(
            command=sys.executable,
            args=[*CLI[1:], "mcp", "serve", str(scenario), "--store", str(store), *extra],
            cwd=str(ROOT),
        )
    )


@asynccontextmanager
async def _http(scenario: Path, store: Path, *extra: str) -> AsyncIterator[Client]:
    """A server process on a free port; on exit it is stopped (Ctrl-C) and reaped."""
    port = _free_port()
    proc = subprocess.Popen(
        [*CLI, "mcp", "serve", str(scenario), "--store", str(store), "--http", str(port), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def listening() -> bool:
            assert proc.poll() is None, proc.communicate()
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        await anyio.to_thread.run_sync(wait_for, listening)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            yield client
    finally:
        proc.send_signal(signal.SIGINT)  # the open run ends when the server stops
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


def _connect(transport: str) -> Callable[..., AbstractAsyncContextManager[Client]]:
    return _stdio if transport == "stdio" else _http  # type: ignore[return-value]


def _only_run(store_file: Path) -> Any:
    store = TraceStore(store_file)
    try:
        (run,) = store.list_runs()
        return run, store.steps(run.id)
    finally:
        store.close()


def _text(result: Any) -> str:
    return "".join(block.text for block in result.content)


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_serve_gates_every_call(transport: str, tmp_path: Path) -> None:
    scenario, store_file = _scenario(tmp_path), tmp_path / "traces.db"
    seed = json.loads((ROOT / "sandboxes/retail/seed/orders.json").read_text())["ord_5531"]
    with anyio.fail_after(90):
        async with _connect(transport)(scenario, store_file) as client:
            listed = await client.list_tools()
            assert [t.name for t in listed.tools] == LISTED
            schema = next(t for t in listed.tools if t.name == "create_refund").input_schema
            assert set(schema["required"]) >= {"order_id", "amount_usd", "idempotency_key"}

            read = await client.call_tool("get_order", {"order_id": "ord_5531"})
            assert not read.is_error
            order = json.loads(_text(read))
            assert order["id"] == "ord_5531" and order["total_usd"] == seed["total_usd"]

            red = await client.call_tool(
                "update_bank_details", {"customer_id": "cus_1042", "iban": "DE00"}
            )
            assert red.is_error and "payroll" in _text(red)

            # the yellow refund blocks until another process approves it
            async with anyio.create_task_group() as tg:
                answers: list[Any] = []

                async def refund() -> None:
                    answers.append(await client.call_tool("create_refund", REFUND))

                tg.start_soon(refund)
                approval = await anyio.to_thread.run_sync(
                    wait_for, lambda: pending_approval(store_file)
                )
                assert answers == []  # still held: nobody has decided
                decided = await anyio.to_thread.run_sync(
                    lambda: agentbox(ROOT, "approve", approval, "--store", str(store_file))
                )
                assert decided.returncode == 0, decided.stderr
            (held,) = answers
            assert not held.is_error, _text(held)
            assert json.loads(_text(held))["amount_usd"] == 240

            refunds = await client.call_tool("list_refunds", {"order_id": "ord_5531"})
            assert len(json.loads(_text(refunds))) == 1

    run, steps = _only_run(store_file)  # the client is gone: the run has ended
    assert run.status == "completed"
    assert [(s.kind, s.name, s.status) for s in steps] == [
        ("tool", "get_order", "ok"),
        ("tool", "update_bank_details", "blocked"),
        ("approval", "create_refund", "approved"),
        ("tool", "create_refund", "ok"),
        ("tool", "list_refunds", "ok"),
        ("final", "completed", "completed"),
    ]
    assert run.counters["holds"] == 1 and run.counters["blocks"] == 1


@pytest.mark.anyio
async def test_recommend_mode_executes_no_write(tmp_path: Path) -> None:
    scenario, store_file = _scenario(tmp_path), tmp_path / "traces.db"
    small = {**REFUND, "amount_usd": 20}
    with anyio.fail_after(60):
        async with _stdio(scenario, store_file, "--mode", "recommend") as client:
            proposed = await client.call_tool("create_refund", small)
            assert not proposed.is_error
            assert "not executed" in _text(proposed)
            refunds = await client.call_tool("list_refunds", {"order_id": "ord_5531"})
            assert json.loads(_text(refunds)) == []
    run, steps = _only_run(store_file)
    assert run.mode == "recommend" and run.status == "completed"
    assert [(s.name, s.status, s.patch) for s in steps if s.kind == "tool"] == [
        ("create_refund", "recommended", None),
        ("list_refunds", "ok", None),
    ]


@pytest.mark.anyio
async def test_http_session_end_ends_the_run(tmp_path: Path) -> None:
    """Over HTTP one run is open at a time: a handshake-era client ending its session
    (DELETE) ends it while the server keeps serving; the next call opens a new run."""
    scenario, store_file = _scenario(tmp_path), tmp_path / "traces.db"

    def finished() -> list[str]:
        if not store_file.exists():
            return []
        store = TraceStore(store_file)
        try:
            return [r.status for r in store.list_runs() if r.finished]
        finally:
            store.close()

    with anyio.fail_after(90):
        async with _http(scenario, store_file) as first:
            url = first.server
            await first.call_tool("get_order", {"order_id": "ord_5531"})
            async with Client(url, mode="legacy") as legacy:
                await legacy.call_tool("get_order", {"order_id": "ord_5531"})
            assert await anyio.to_thread.run_sync(wait_for, finished) == ["completed"]
            await first.call_tool("get_order", {"order_id": "ord_5531"})
    assert finished() == ["completed", "completed"]  # the second ended with the server
    store = TraceStore(store_file)
    try:
        counts = sorted(r.counters["tool_calls"] for r in store.list_runs())
    finally:
        store.close()
    assert counts == [1, 2]


def test_help_shows_the_mcp_servers_snippet(cli: Any) -> None:
    result = cli("mcp", "serve", "--help")
    assert result.exit_code == 0
    assert '{"mcpServers": {"agentbox": {' in result.output
    assert '"args": ["mcp", "serve", "scenarios/mcp-serve.yaml"]' in result.output


def test_bad_scenario_is_one_line_error(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsandbox: retail\ninput: hi\nmodee: execute\n")
    result = cli("mcp", "serve", str(bad))
    assert result.exit_code == 2
    assert "modee" in result.output and "Traceback" not in result.output
