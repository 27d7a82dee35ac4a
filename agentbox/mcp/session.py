"""A run driven from outside: tool calls arrive one by one until the caller closes it.

``agentbox mcp serve`` gives every MCP client session one run. The run is an ordinary
:class:`Runner` run whose agent body does nothing but wait: each ``tools/call`` from the
client is passed to :meth:`ServedRun.call` (from any thread), which calls
``AgentContext.call_tool`` -- the same gate as every other agent (validation, allowlist,
rules and tiers, budgets, mode) -- so each call is a ``tool`` step of the run. Closing the
session ends the run (``completed``), or it ends earlier when a budget halts it.

This module knows nothing about MCP; :mod:`agentbox.mcp.serve` speaks the protocol.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from agentbox.agents.context import AgentContext, ToolResult
from agentbox.runner import Runner, RunResult

if TYPE_CHECKING:
    from agentbox.approvals import Approver
    from agentbox.planning import RunPlan
    from agentbox.store import StepRow, TraceStore


class RunEnded(Exception):
    """The run behind a session has ended (budget halt, a tool ending the run, closed)."""


class _DrivenRunner(Runner):
    """A runner whose agent is the given body (the MCP session), not the scenario's."""

    def __init__(self, body: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._body = body

    def _drive(self) -> str | None:
        return self._body(AgentContext(self))  # type: ignore[no-any-return]


class ServedRun:
    """One run fed with tool calls from outside until :meth:`close`.

    Args:
        plan: the run plan (from :func:`agentbox.planning.plan_run`).
        store: the trace store.
        approver: decides held calls (e.g. :func:`agentbox.approvals.store_waiter`).
        on_step: called with every stored step.

    Start it with :meth:`start`; call tools with :meth:`call` from any thread; end it with
    :meth:`close`, which returns the :class:`RunResult`.
    """

    def __init__(
        self,
        plan: RunPlan,
        store: TraceStore,
        approver: Approver,
        on_step: Any = None,
    ) -> None:
        self.runner = _DrivenRunner(self._body, plan, store, approver=approver, on_step=on_step)
        self.closing = threading.Event()
        """Set when the session is closing: a wait for an approval gives up."""
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._ctx: AgentContext | None = None
        self._inflight = 0
        self._idle = threading.Condition()
        self._result: RunResult | None = None
        self._ended: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"run-{self.runner.run_id}")

    @property
    def run_id(self) -> str:
        """The id of the run this session records into."""
        return self.runner.run_id

    @property
    def tools(self) -> list[dict[str, Any]]:
        """OpenAI-format schemas of the tools the policy lists (what the client may call)."""
        return self.runner.visible_tools

    def start(self) -> ServedRun:
        """Create the run and wait until it accepts calls. Returns self."""
        self._thread.start()
        self._ready.wait()
        return self

    def _run(self) -> None:
        try:
            self._result = self.runner.run()
        finally:
            self._ready.set()  # a run that failed to start must not leave start() waiting
            self._wake.set()

    def _body(self, ctx: AgentContext) -> str | None:
        self._ctx = ctx
        self._ready.set()
        self._wake.wait()
        self.closing.set()
        with self._idle:  # let calls in flight finish (a waiting approval gives up)
            while self._inflight:
                self._idle.wait()
        ctx.raise_if_stopped()  # a budget halt met by a call ends the run as halted
        return None

    def call(self, name: str, arguments: dict[str, Any] | None) -> ToolResult:
        """Call a tool through the gate; blocks while a held call waits for a decision.

        Raises:
            RunEnded: the run is over (closed, halted, or a tool ended it).
        """
        with self._idle:
            if self._ended is not None or self._ctx is None or self._wake.is_set():
                raise RunEnded(self._ended or "the run has ended")
            self._inflight += 1
        try:
            return self._ctx.call_tool(name, arguments or {})
        except BaseException as signal:  # RunHalted, EndRun: the run is over
            reason = getattr(signal, "reason", None) or type(signal).__name__
            self._ended = f"the run has ended: {reason}"
            self._wake.set()
            raise RunEnded(self._ended) from None
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def close(self) -> RunResult:
        """End the run (if it has not ended) and return how it went."""
        self._wake.set()
        self._thread.join()
        assert self._result is not None
        return self._result

    def steps(self) -> list[StepRow]:
        """The run's stored steps."""
        return self.runner.steps()
