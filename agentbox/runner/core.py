"""The :class:`Runner`: one plan, one run, its parts wired together (see the package map)."""

from __future__ import annotations

import contextlib
import gc
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from agentbox.agents.context import AgentContext, ToolResult, activated, render_result
from agentbox.agents.llm import run_llm_loop
from agentbox.agents.python import load_entry
from agentbox.approvals import Approver, fixed_approver
from agentbox.errors import RunHalted
from agentbox.http.guard import egress_guard
from agentbox.models import Message, ModelResponse
from agentbox.planning import RunPlan
from agentbox.policy import Counters
from agentbox.redact import RedactedWrites
from agentbox.runner.approval import ApprovalGate
from agentbox.runner.ending import RunEnd
from agentbox.runner.guard import AgentThread
from agentbox.runner.limits import Limits
from agentbox.runner.model import ModelGate
from agentbox.runner.prefix import RecordedPrefix
from agentbox.runner.result import Incomplete, RunResult, StepObserver
from agentbox.runner.signals import Abandoned, Interrupted
from agentbox.runner.steps import StepLog, seed_digest
from agentbox.runner.tools import ToolGate
from agentbox.sandbox.state import State
from agentbox.store import StepRow, TraceStore
from agentbox.watchdog import Watch

__all__ = ["Runner"]


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Leave the objects made before a run (modules, the seed: 10^5-10^6 of them) out of
    the garbage collections during it (``gc.freeze``), and hand them back at its end
    (``gc.unfreeze``). A full collection inside a run otherwise scans them all: a 30-90 ms
    stall between two steps (issue 16: max stall < 5 ms); frozen, it scans only what the
    run made. Runs overlapping in threads may unfreeze early: only speed is at stake."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class Runner:
    """Run one plan against a store.

    Args:
        plan: from :func:`~agentbox.planning.plan_run`.
        store: the trace store to write.
        approver: decides held calls; default from the plan's approvals handler
            (``approve``/``deny``/``fail``; ``prompt``/``wait`` without one fail the hold).
        on_step: called with every step after it is committed.
        run_id: resume this stored run instead of creating one.
        prefix: recorded steps to serve before going live (resume, fork).
        copy_prefix: store the served prefix steps under this run (fork).
        lineage: extra run columns (``parent_id``, ``fork_step``, ``replay_of``).
        incomplete: what to do with a write whose intent was committed but whose result
            was not (``retry`` it, or ``skip`` it and tell the agent the outcome is unknown).
        after_prefix: called when the prefix is exhausted (fork edits); a hook returning
            ``False`` is called again at the next call (a case's edits due at a later step).
        agent: drives the run instead of the scenario's agent, given the run's context
            (``agentbox mcp serve``: calls arrive from outside); no egress guard applies.
        freeze_gc: keep older objects out of collections during the run (no full-GC stall);
            off for many short runs in one process: a suite's memory grew with each run.
    """

    def __init__(
        self,
        plan: RunPlan,
        store: TraceStore,
        *,
        approver: Approver | None = None,
        on_step: StepObserver | None = None,
        run_id: str | None = None,
        prefix: list[StepRow] | None = None,
        copy_prefix: bool = False,
        lineage: dict[str, Any] | None = None,
        incomplete: Incomplete | None = None,
        after_prefix: Callable[[Runner], bool | None] | None = None,
        agent: Callable[[AgentContext], str | None] | None = None,
        freeze_gc: bool = True,
    ) -> None:
        self.plan = plan
        self._freeze_gc = freeze_gc
        self.redactor = plan.settings.redactor()
        # every write of this run passes the redactor: no secret reaches the file
        self.store = cast(TraceStore, RedactedWrites(store, self.redactor))
        handler = plan.approvals.handler
        self.approver = approver or fixed_approver(
            handler if handler in ("approve", "deny") else "fail"
        )
        self.resuming = run_id is not None
        self.run_id = run_id or secrets.token_hex(5)
        self.lineage = lineage or {}  # extra run columns (see Args)
        self.incomplete = incomplete
        self._agent = agent
        self.state = State(plan.seed)
        self.recommendations: list[dict[str, Any]] = []
        self.injected: list[Message] = []
        """Messages appended to the next live model request (``fork --message``)."""
        self.edited_results: list[tuple[str, str]] = []
        """``(tool, result)`` answering the next live calls of ``tool`` without running it."""
        self.in_flight: tuple[StepRow, bool, float] | None = None
        """The tool call running now: its step, whether its intent is stored, its start."""
        self._start_conversation(plan)
        # ---- the parts (see the package map in agentbox/runner/__init__.py)
        self.log = StepLog(plan, self.store, self.run_id, on_step)
        self.limits = Limits(plan, self.log)
        watch = Watch(self.limits.timeouts.agent_s, self.limits.run_deadline, self.limits.run_limit)
        self.guard = AgentThread(watch)
        self.prefix = RecordedPrefix(self, prefix or [], copy=copy_prefix, after=after_prefix)
        self.models = ModelGate(self)
        self.tools = ToolGate(self)
        self.approvals = ApprovalGate(self)
        self.end = RunEnd(self)

    def _start_conversation(self, plan: RunPlan) -> None:
        """The system prompt, the first messages and the tools the model is shown."""
        scenario = plan.scenario
        self.system_prompt = "\n\n".join(
            p for p in (scenario.agent.system, plan.sandbox.policy_text) if p
        )
        self.messages: list[Message] = []
        if self.system_prompt:
            self.messages.append({"role": "system", "content": self.system_prompt})
        self.messages.append({"role": "user", "content": scenario.input})
        self.visible_tools = [
            spec.openai_schema()
            for name, spec in plan.sandbox.tools.items()
            if plan.policy.listed(name) is None  # the model sees only tools it may call
        ]

    # ---- the run's numbers -----------------------------------------------------------
    @property
    def counters(self) -> Counters:
        """The run's totals so far."""
        return self.log.counters

    @property
    def next_idx(self) -> int:
        """The index the next step gets."""
        return self.log.next_idx

    def steps(self) -> list[StepRow]:
        """This run's steps in order (from memory when it holds them all)."""
        return self.log.steps()

    # ---- public seams: the agent's context, fork and resume use these ----------------
    def model_call(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelResponse:
        """Ask the model (budget-checked, at most ``timeouts.model_s``); record an ``llm`` step."""
        with self.guard.entry():
            return self.models.call(messages, tools)

    def tool_call(self, name: str, raw_args: Any, call_id: str | None) -> ToolResult:
        """Pass one tool call through the gate and record it (see :mod:`.tools`)."""
        with self.guard.entry():
            result = self.tools.call(name, raw_args, call_id)
            self.limits.trip_breaker(f"; the last: {name} {result.status}")
            return result

    def record_step(
        self, kind: str, name: str, *, status: str, data: dict[str, Any], block: bool = False
    ) -> dict[str, Any]:
        """Record a step that did not go through the tool gate (blocked egress...).

        While a recorded prefix is served the recorded step is taken instead and its data
        returned. ``block`` counts the step as a policy block.

        Raises:
            RunHalted: a budget is exhausted (checked first), or the run was stopped.
            Diverged: during a prefix, the recording has another step here.
        """
        with self.guard.entry(touch=False):
            if self.prefix.active:
                return dict(self.prefix.serve(kind, name).data)
            self.prefix.leave_if_done()
            self.check_limits(next_is_tool=False)
            if block:
                self.counters.blocks += 1
            self.record(self.new_step(kind, name, status=status, data=data))
            return data

    def new_step(self, kind: str, name: str | None = None, **fields: Any) -> StepRow:
        """A step at the next index, to be passed to :meth:`record`."""
        return self.log.new_step(kind, name, **fields)

    def record(self, step: StepRow, *, update: bool = False) -> StepRow:
        """Count, store and announce ``step`` (``update``: fill in its committed intent).

        Raises:
            Abandoned: on an agent thread whose run was taken over.
        """
        with self.guard.gate:
            self.guard.check_live(stop=False)
            return self.log.commit(step, update=update)

    def check_limits(self, *, next_is_tool: bool) -> None:
        """At a step boundary: halt when the run was stopped or a budget is spent.

        Raises:
            Interrupted: ``agentbox stop`` asked the run to stop.
            RunHalted: a budget is spent or the circuit breaker tripped.
        """
        self.guard.check_live()
        try:
            reason = self.limits.stop_requested()
            if reason is not None:  # the same stop as interrupt(), seen by the agent's thread
                raise Interrupted("stopped", reason)
            self.limits.check(next_is_tool=next_is_tool)
        except RunHalted as stop:
            self.guard.stick(stop)
            raise

    @contextmanager
    def serialized(self) -> Iterator[None]:
        """Hold the run for one agent call (see :meth:`AgentThread.serialized`)."""
        with self.guard.serialized():
            yield

    def raise_if_stopped(self) -> None:
        """Raise what ended the run, if something did (a halt met by another thread)."""
        self.guard.raise_if_stopped()

    @property
    def replaying(self) -> bool:
        """Whether calls are being answered from a recorded prefix (resume, fork)."""
        return self.prefix.active

    def interrupt(self, status: str, reason: str) -> None:
        """End the run now with ``status`` (e.g. ``stopped``); callable from any thread.

        The calling thread of :meth:`run` takes the run over at once -- during a tool or
        model call or an approval wait too -- and records a ``policy`` step named
        ``status`` with ``reason``; a tool still running gets that status as well. Ignored
        once the run is recording its end. ``agentbox stop`` from another process reaches
        a live run the same way at its next step boundary (:meth:`check_limits`).
        """
        self.guard.watch.interrupt(status, reason)

    # ---- the run ---------------------------------------------------------------------
    def run(self) -> RunResult:
        """Execute the plan to the end (or until it parks) and return how it went."""
        with _older_objects_frozen() if self._freeze_gc else contextlib.nullcontext():
            return self._run()

    def _run(self) -> RunResult:
        self.log.started = time.perf_counter()
        if self.resuming:
            self.store.update_run(self.run_id, status="running", pid=os.getpid(), ended_at=None)
        else:
            self._create_run()
        scenario = self.plan.scenario
        own_loop = (  # agentbox's loop (and sandbox tools) alone run on it: reusable
            self._agent is None
            and scenario.agent.type != "python"
            and (scenario.user is None or scenario.user.entry is None)
            and not scenario.mcp_servers
        )
        return self.guard.run(
            self._agent_body,
            self.end.take_over,
            f"agentbox-agent-{self.run_id}",
            reuse=own_loop,
        )

    def _create_run(self) -> None:
        """Store the run row and its start checkpoint (the seed, by content hash)."""
        plan, scenario = self.plan, self.plan.scenario
        seed = plan.seed if plan.source is None else plan.source.read_set()
        digest = seed_digest(seed)
        self.store.put_blob(digest, seed)
        self.store.create_run(
            id=self.run_id,
            scenario=scenario.name,
            scenario_path=str(scenario.path) if scenario.path else None,
            scenario_json=scenario.model_dump(mode="json", exclude_unset=True),
            sandbox=plan.sandbox.name,
            sandbox_path=str(plan.sandbox.path),
            mode=plan.mode,
            agent=scenario.agent.type,
            model=plan.model_name,
            status="running",
            input=scenario.input,
            started_at=time.time(),
            seed_hash=digest,
            messages=self.messages,
            counters=self.counters.to_json(),
            options={
                "seed_source": plan.seed_source,
                "approvals": plan.approvals.handler,
                "task": plan.task,
                "budgets": plan.budgets.model_dump(exclude_none=True),
                **(
                    {"state_source": plan.source.source.identity()}
                    if plan.source is not None
                    else {}
                ),
            },
            **self.lineage,
        )
        self.store.add_checkpoint(self.run_id, -1, digest, "start")
        if plan.version is not None:  # computed at planning (agentbox.versions)
            v = plan.version
            self.store.record_run_version(self.run_id, v.fingerprint, v.parts, v.label)

    def _agent_body(self) -> RunResult:
        """Drive the agent and record how it ended (on the agent thread)."""
        outcome: BaseException | None = None
        try:
            output = self._drive()
            self.prefix.leave_if_done()
        except BaseException as exc:  # sorted out below, once no deadline can interfere
            outcome, output = exc, None
        if isinstance(outcome, Abandoned):
            raise outcome
        self.guard.begin_ending()  # from here on the end is recorded by this thread alone
        if self.guard.stop is not None:  # the agent swallowed (or wrapped) what ended the run
            outcome = self.guard.stop
        return self.end.after_agent(outcome, output)

    def _drive(self) -> str | None:
        ctx = AgentContext(self)
        if self._agent is not None:  # driven from outside: no agent code runs here
            return self._agent(ctx)
        with activated(ctx):  # gated functions (agentbox.adapters.gated) find their run
            if self.plan.scenario.mcp_servers:
                from agentbox.mcp.proxy import proxied  # the mcp SDK: only when used

                with proxied(self):
                    return self._drive_agent(ctx)
            return self._drive_agent(ctx)

    def _drive_agent(self, ctx: AgentContext) -> str | None:
        scenario = self.plan.scenario
        with egress_guard(ctx):  # no connection leaves the process but allowed ones
            if scenario.agent.type == "python":
                assert scenario.agent.entry is not None
                search = [scenario.path.parent] if scenario.path else []
                search.append(self.plan.settings.root)
                fn = load_entry(scenario.agent.entry, search)
                result = fn(ctx)
                return None if result is None else render_result(result)
            return run_llm_loop(ctx, scenario.agent.max_steps)
