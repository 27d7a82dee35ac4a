"""Read-through APIs (issue 20): ``shadow.passthrough`` sends reads to the real host and
records them; writes never leave; replays serve the recorded reads with the host gone.

A local stdlib server plays the production API and counts what reaches it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

AGENT = """
import os
import httpx


def run(ctx):
    base = os.environ["PROD_API"]
    order = httpx.get(f"{base}/orders/ord_5120").json()
    again = httpx.get(f"{base}/orders/ord_5120").json()
    refund = httpx.post(f"{base}/orders/ord_5120/refunds", json={"amount_usd": 5})
    mocked = httpx.post(
        "https://api.northwind.test/orders/ord_5120/refunds",
        json={"amount_usd": 5, "idempotency_key": "r-5120"},
    )
    return f"{order['status']} v{again['version']} {refund.status_code} {mocked.status_code}"
"""


class Production:
    """The 'real' API: answers GET /orders/ID, counts every request it sees."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def _answer(self) -> None:
                outer.seen.append((self.command, self.path))
                body = json.dumps(
                    {
                        "id": self.path.rsplit("/", 1)[-1],
                        "status": "delivered",
                        "version": len(outer.seen),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def prod(monkeypatch: pytest.MonkeyPatch) -> Iterator[Production]:
    server = Production()
    monkeypatch.setenv("PROD_API", f"http://{server.host}")
    try:
        yield server
    finally:
        server.stop()


def _scenario(tmp_path: Path, host: str, mode: str) -> Path:
    (tmp_path / "prod_agent.py").write_text(AGENT, encoding="utf-8")
    path = tmp_path / "readthrough.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "readthrough",
                "sandbox": "retail",
                "mode": mode,
                "state": str(
                    Path(__file__).resolve().parent.parent
                    / "scenarios/snapshots/retail-prod-2026-11-20.json"
                ),
                "agent": {"type": "python", "entry": "prod_agent.py:run", "model": "scripted"},
                "input": "check ord_5120",
                "script": [{"say": "ok"}],
                "shadow": {
                    "passthrough": [
                        {"host": host, "methods": ["GET"]},
                        {"host": "api.northwind.test", "methods": ["GET"]},
                    ]
                },
            }
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("mode", ["shadow", "recommend"])
def test_reads_reach_the_host_and_are_recorded_writes_never_do(
    cli, prod: Production, tmp_path: Path, stored_runs, store_path: Path, mode: str, open_store: Any
) -> None:

    result = cli("run", _scenario(tmp_path, prod.host, mode), "--json")
    assert result.exit_code == 0, result.output
    assert prod.seen == [("GET", "/orders/ord_5120"), ("GET", "/orders/ord_5120")]
    (run,) = stored_runs()
    assert run.output == "delivered v2 202 " + ("201" if mode == "shadow" else "202")
    steps = [s for s in open_store(store_path).steps(run.id) if s.kind == "tool"]
    reads = [s for s in steps if s.data.get("passthrough")]
    assert [json.loads(s.data["response"]["body"])["version"] for s in reads] == [1, 2]
    (proposed,) = [s for s in steps if s.data.get("proposed")]
    assert proposed.status == "recommended" and proposed.data["method"] == "POST"
    assert proposed.data["url"].endswith("/orders/ord_5120/refunds")
    # the write to a mocked host was answered by the sandbox's mock, never sent
    mock = [s for s in steps if s.name not in ("http",)]
    assert mock and "refund" in mock[-1].name


def test_replay_serves_the_recorded_reads_with_the_host_stopped(
    cli, prod: Production, tmp_path: Path, stored_runs
) -> None:
    assert cli("run", _scenario(tmp_path, prod.host, "shadow")).exit_code == 0
    (run,) = stored_runs()
    prod.stop()
    seen = list(prod.seen)
    replay = cli("replay", run.id)
    assert replay.exit_code == 0, replay.output
    assert "identical" in replay.output
    assert prod.seen == seen
    replayed = [r for r in stored_runs() if r.id != run.id]
    assert replayed[0].output == run.output  # the same answers, from the recording


def test_execute_mode_ignores_the_list(cli, prod: Production, tmp_path: Path, stored_runs) -> None:
    result = cli("run", _scenario(tmp_path, prod.host, "execute"))
    assert prod.seen == []  # not allowed: blocked like any other host
    (run,) = stored_runs()
    # the agent got the guard's refusal instead of an order, and crashed reading it
    assert (run.status, result.exit_code) == ("failed", 1), result.output
    assert run.reason == "KeyError: 'status'"


def test_a_fork_takes_the_reads_from_its_prefix_with_the_host_stopped(
    cli, prod: Production, tmp_path: Path, stored_runs, store_path: Path, open_store: Any
) -> None:

    assert cli("run", _scenario(tmp_path, prod.host, "shadow")).exit_code == 0
    (run,) = stored_runs()
    steps = open_store(store_path).steps(run.id)
    after_reads = max(s.idx for s in steps if s.data.get("passthrough")) + 1
    prod.stop()
    seen = list(prod.seen)
    fork = cli("fork", run.id, "--at", str(after_reads), "--message", "again")
    assert fork.exit_code == 0, fork.output
    assert prod.seen == seen
    forked = [r for r in stored_runs() if r.parent_id == run.id]
    assert forked[0].output == run.output
