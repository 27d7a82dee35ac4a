"""``agentbox mcp serve``'s runs: driven from outside, tool calls arrive one by one.

``agentbox mcp serve`` gives every MCP client session one run. The run is an ordinary
:class:`Runner` run whose agent body does nothing but wait: each ``tools/call`` from the
client is passed to :meth:`ServedRun.call` (from any thread), which calls
``AgentContext.call_tool`` -- the same gate as every other agent (validation, allowlist,
rules and tiers, budgets, mode) -- so each call is a ``tool`` step of the run. Closing the
session ends the run (``completed``), or it ends earlier when a budget halts it.

:class:`RunHub` opens a session's run on first use and ends it when the session ends.
This module knows nothing about MCP; :mod:`agentbox.mcp.serve` speaks the protocol (it
sits below the runner: ``ctx.mcp_server()`` uses it too).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentbox.agents.context import AgentContext, ToolResult
from agentbox.approvals import ApprovalDecision, ApprovalRequest, fixed_approver, store_waiter
from agentbox.mcp.serve import RunEnded
from agentbox.runner import Runner, RunResult

if TYPE_CHECKING:
    from agentbox.approvals import Approver
    from agentbox.planning import RunPlan
    from agentbox.store import StepRow, TraceStore


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
        self.runner = Runner(plan, store, approver=approver, on_step=on_step, agent=self._body)
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


PlanFactory = Callable[[], "RunPlan"]
RunEndObserver = Callable[["RunResult"], None]


def session_approver(plan: RunPlan, store: TraceStore, closing: Callable[[], bool]) -> Approver:
    """The approver of a served run: ``prompt`` (no terminal over MCP) waits like ``wait``.

    ``wait``/``prompt`` poll the store for ``agentbox approve``/``deny`` (or the TUI) and
    deny the call when the client disconnects while waiting; ``approve``, ``deny`` and
    ``fail`` decide at once.
    """
    spec = plan.approvals
    if spec.handler in ("approve", "deny", "fail"):
        return fixed_approver(spec.handler)
    wait = store_waiter(
        store, timeout_s=spec.timeout_s, on_timeout=spec.on_timeout, cancelled=closing
    )

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        verdict = wait(request)
        if verdict.verdict == "park":  # the client went away while the call waited
            return ApprovalDecision("deny", reason="the MCP client disconnected", by="agentbox")
        return verdict

    return decide


class RunHub:
    """Opens the current session's run on first use and ends it on :meth:`end`.

    Args:
        make_plan: builds a fresh plan for each run.
        store: the trace store.
        on_end: called with each finished run's result (the CLI prints the summary).
        on_step: called with every stored step.
    """

    def __init__(
        self,
        make_plan: PlanFactory,
        store: TraceStore,
        on_end: RunEndObserver | None = None,
        on_step: Any = None,
    ) -> None:
        self._make_plan = make_plan
        self._store = store
        self._on_end = on_end
        self._on_step = on_step
        self._lock = threading.Lock()
        self._run: ServedRun | None = None
        self.plan = make_plan()
        """A plan for listing tools (the schemas do not change between runs)."""
        self.results: list[RunResult] = []

    def current(self) -> ServedRun:
        """The open run, opening one if there is none (blocks until it accepts calls)."""
        with self._lock:
            if self._run is None:
                plan = self._make_plan()
                holder: list[ServedRun] = []
                approver = session_approver(
                    plan, self._store, lambda: bool(holder) and holder[0].closing.is_set()
                )
                run = ServedRun(plan, self._store, approver, self._on_step)
                holder.append(run)
                self._run = run.start()
            return self._run

    def end(self) -> RunResult | None:
        """End the open run (if any); returns its result."""
        with self._lock:
            run, self._run = self._run, None
        if run is None:
            return None
        result = run.close()
        self.results.append(result)
        if self._on_end is not None:
            self._on_end(result)
        return result

    def effect(self, name: str) -> str | None:
        """The tool's effect, or None when unknown."""
        spec = self.plan.tool(name)
        return spec.effect if spec is not None else None

    def call(self, name: str, arguments: dict[str, Any] | None) -> ToolResult:
        """Call through the open run's gate (opening a run if none is open).

        Raises:
            RunEnded: the run has ended.
        """
        return self.current().call(name, arguments)

    def tools(self) -> list[dict[str, Any]]:
        """OpenAI-format schemas of the tools the policy lists."""
        plan = self.plan
        return [
            spec.openai_schema()
            for name, spec in plan.sandbox.tools.items()
            if plan.policy.listed(name) is None
        ]
