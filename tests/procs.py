"""A small bank project and helpers to drive the `agentbox` CLI in real subprocesses.

Shared by the durability, lease, stop and fail-closed tests. The ``pay`` tool appends a
line to the file named by ``$PAY_LOG`` every time it really executes, so tests can count
executions across processes; a key already paid returns its payment (idempotent); with
``$SLOW_PAY`` naming a file it writes that file and sleeps 60 s (to be killed mid-write);
``$PAY_SLEEP`` seconds are slept before paying (a slow tool).

Processes started with :func:`start` are killed and reaped after each test (conftest).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentbox.store import TraceStore

CLI = [sys.executable, "-c", "from agentbox.cli import main; main()"]

TOOLS = '''
import os, time
from agentbox import State, tool


@tool
def get_account(state: State, account_id: str) -> dict:
    """Read an account.

    Args:
        account_id: Account id.
    """
    return state.get("accounts", account_id)


@tool(effect="write")
def pay(state: State, account_id: str, amount_usd: float, idempotency_key: str) -> dict:
    """Pay out money.

    Args:
        account_id: Account id.
        amount_usd: Amount in USD.
        idempotency_key: Same key, same payment.
    """
    log = os.environ.get("PAY_LOG")
    if log:
        with open(log, "a") as f:
            f.write(idempotency_key + "\\n")
    for p in state.values("payments"):
        if p["key"] == idempotency_key:
            return p
    marker = os.environ.get("SLOW_PAY")
    if marker:
        open(marker, "w").write("started")
        time.sleep(60)
    time.sleep(float(os.environ.get("PAY_SLEEP", "0")))
    with state.edit("accounts", account_id) as acct:
        acct["balance"] -= amount_usd
    n = state.count("payments") + 1
    payment = {"id": f"p{n}", "key": idempotency_key, "amount_usd": amount_usd}
    state.put("payments", payment["id"], payment)
    return payment
'''

SCENARIO = """
name: payout
sandbox: bank
input: pay 300 to acc_1
agent: {type: scripted}
script:
  - tool_calls: [{get_account: {account_id: acc_1}}]
  - tool_calls: [{pay: {account_id: acc_1, amount_usd: 300, idempotency_key: k-1}}]
  - tool_calls: [{get_account: {account_id: acc_1}}]
  - say: paid
policy:
  rules:
    - {name: big-payout, tool: pay, when: "amount_usd > 100", tier: yellow}
approvals: APPROVALS
"""

EXPECT = """
expect:
  status: completed
  state:
    - {path: accounts.acc_1.balance, equals: 700}
    - {path: payments.p1.amount_usd, equals: 300}
"""

SLOW_AGENT = '''
import os, time


def run(ctx):
    """Pay in small steps, sleeping between them (STEP_SLEEP seconds)."""
    for i in range(int(os.environ.get("STEPS", "50"))):
        ctx.call_tool("pay", account_id="acc_1", amount_usd=1, idempotency_key=f"k-{i}")
        time.sleep(float(os.environ.get("STEP_SLEEP", "0.1")))
    return "done"
'''

SLOW_SCENARIO = """
name: slow-payer
sandbox: bank
input: pay in small steps
agent: {type: python, entry: "slow_agent:run"}
"""


def project(tmp_path: Path, approvals: str = "wait", *, expect: bool = False) -> Path:
    """Write the bank sandbox, ``payout.yaml`` and ``slow.yaml`` under ``tmp_path``;
    ``expect`` adds expectations to ``payout.yaml`` (paid once: balance 700)."""
    box = tmp_path / "sandboxes" / "bank"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    (box / "seed" / "accounts.json").write_text('{"acc_1": {"balance": 1000}}')
    (box / "seed" / "payments.json").write_text("{}")
    (tmp_path / ".agentbox.toml").write_text('store = "traces.db"\n')
    payout = SCENARIO.replace("APPROVALS", approvals) + (EXPECT if expect else "")
    (tmp_path / "payout.yaml").write_text(payout)
    (tmp_path / "slow_agent.py").write_text(SLOW_AGENT)
    (tmp_path / "slow.yaml").write_text(SLOW_SCENARIO)
    return tmp_path


def agentbox(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion."""
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def popen(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the CLI in the background (the caller reaps it)."""
    return subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


STARTED: list[subprocess.Popen[Any]] = []


def start(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """:func:`popen`, reaped after the test (:func:`reap`) even when it fails."""
    proc = popen(cwd, *args, env=env)
    STARTED.append(proc)
    return proc


class Terminal:
    """The CLI in a pseudo-terminal, as a user at a terminal runs it (stdin is a tty, so
    ``prompt`` approvals ask). Reaped after the test like :func:`start`'s processes.

    :meth:`expect` reads until a text has appeared (colours stripped, whitespace
    collapsed); :meth:`send` types a line; :meth:`finish` reads to the end.
    """

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        master, child = pty.openpty()
        screen = {"NO_COLOR": "1", "COLUMNS": "400", "TERM": "dumb"}
        self.proc = subprocess.Popen(
            [*CLI, *args],
            cwd=cwd,
            stdin=child,
            stdout=child,
            stderr=child,
            env={**os.environ, **screen, **(env or {})},
        )
        os.close(child)
        STARTED.append(self.proc)
        self._fd = master
        TERMINALS.append(master)
        self._raw = b""
        self._seen = 0  # where the last expect() found its text in .text

    @property
    def text(self) -> str:
        """Everything printed so far, without colour codes, whitespace collapsed."""
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self._raw.decode(errors="replace"))
        return " ".join(plain.split())

    def _read(self, timeout: float) -> bool:
        """Read what is there (False at the end of output)."""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self._fd, 65536)
        except OSError:  # EIO: the process closed the terminal
            return False
        self._raw += chunk
        return bool(chunk)

    def expect(self, text: str, timeout: float = 60.0) -> str:
        """Read until ``text`` has appeared after what the last call found; returns
        everything printed so far.

        Raises:
            AssertionError: the output ended, or ``timeout`` seconds passed, without it.
        """
        deadline = time.monotonic() + timeout
        while (at := self.text.find(text, self._seen)) < 0:
            if not self._read(0.2) or time.monotonic() > deadline:
                raise AssertionError(f"never printed {text!r}; printed: {self.text[-2000:]}")
        self._seen = at + len(text)
        return self.text

    def send(self, line: str) -> None:
        """Type ``line`` and Enter."""
        os.write(self._fd, line.encode() + b"\r")

    def finish(self, timeout: float = 60.0) -> tuple[int, str]:
        """Read to the end of output; returns the exit code and everything printed."""
        deadline = time.monotonic() + timeout
        while self._read(0.2) and time.monotonic() < deadline:
            pass
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        return code, self.text


TERMINALS: list[int] = []  # the pseudo-terminals of Terminal processes, closed by reap()


def reap() -> None:
    """Kill what :func:`start` and :class:`Terminal` started and is still running; collect
    its pipes; close the terminals."""
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    while TERMINALS:
        os.close(TERMINALS.pop())


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it returns something truthy (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def pending_approval(store_file: Path) -> str | None:
    """The first pending approval's id in a store file (None: no file or none pending)."""
    if not store_file.exists():
        return None
    store = TraceStore(store_file)
    try:
        rows = store.approvals(status="pending")
        return rows[0].id if rows else None
    finally:
        store.close()


def pay_count(log: Path) -> int:
    """How many times ``pay`` really executed (lines in its log)."""
    return len(log.read_text().splitlines()) if log.exists() else 0
