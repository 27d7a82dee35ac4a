"""The runner: drives one agent through one plan and records every step.

``Runner.run`` stores the run row and a checkpoint of its starting state (by content
hash), hands the agent an :class:`AgentContext`, and records what happens:

- every model call is an ``llm`` step (response, reasoning, tool calls, tokens, cost,
  latency, and the request stored as a delta against the previous one);
- every tool call passes the gate -- validate -> budgets -> policy -> approval -> mode ->
  execute -- and becomes one ``tool`` step; a hold adds an ``approval`` step before it;
- budget halts are ``policy`` steps, crashes ``error`` steps, and the end a ``final`` step.

The agent runs on its own daemon thread while the calling thread watches the clock
(:mod:`agentbox.watchdog`): a tool or model call that outlives ``policy.timeouts``, a
python agent whose own code runs too long between calls, or a run past ``max_seconds``
ends the run with status ``timeout`` -- even when the code never returns. From then on
the abandoned thread cannot record anything (every way into the runner checks), and a
tool still running writes into a state object nobody reads any more: the run's state is
rebuilt from the store without it. Anything user code raises -- ``SystemExit``, a
``KeyboardInterrupt`` raised by a tool, any BaseException -- becomes an ``error`` step
and the run fails; a real Ctrl-C reaches the calling thread and propagates.

Each step is committed before the next side effect; a write's intent (tool, args,
decision) is committed before it executes and its result and RFC 6902 patch after.

A runner may start with a recorded *prefix* (resume, fork): the agent is re-run from the
start, and while the prefix lasts its model calls and tool calls are answered from the
recording without re-executing anything (state is rebuilt from the recorded patches).
When the prefix is exhausted the run goes live. The runner never prints: observers
receive each :class:`StepRow` as it is stored.
"""

from __future__ import annotations

import contextvars
import dataclasses
import fnmatch
import json
import math
import os
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from agentbox.agents.context import AgentContext, ToolResult, activated, render_result
from agentbox.agents.llm import run_llm_loop
from agentbox.agents.python import load_entry
from agentbox.approvals import ApprovalDecision, ApprovalRequest, Approver, fixed_approver
from agentbox.cassette import RequestHasher, compact_request, response_from
from agentbox.checkpoints import state_at
from agentbox.errors import AgentboxError, EndRun, ModelError, RunHalted, ToolError
from agentbox.evals import ExpectationResult, RunOutcome, check_expectations
from agentbox.http.guard import egress_guard, host_traffic
from agentbox.models import Message, ModelResponse
from agentbox.planning import (
    RunOptions,
    RunPlan,
    plan_from_scenario,
    plan_run,
    resolve_sandbox_path,
)
from agentbox.policy import Counters, Decision, check_budgets, time_budget_reason
from agentbox.redact import RedactedWrites, redacted_paths
from agentbox.sandbox.loader import state_hash
from agentbox.sandbox.state import State
from agentbox.scenario import JudgeExpectation
from agentbox.store import StepRow, TraceStore
from agentbox.watchdog import CallFailed, CallTimedOut, Expired, Watch, bounded_call

__all__ = [
    "RunOptions",
    "RunPlan",
    "RunResult",
    "Runner",
    "plan_from_scenario",
    "plan_run",
    "resolve_sandbox_path",
]

StepObserver = Callable[[StepRow], None]
Incomplete = Literal["retry", "skip"]


@dataclass
class RunResult:
    """How a run ended (or parked).

    Attributes:
        run_id, status (``completed``/``halted``/``failed``/``timeout``/
            ``awaiting_approval``),
        reason, output.
        counters: totals (steps, tool calls, tokens, cost USD, seconds).
        expectations: each checked expectation; ``passed``: the scenario's verdict.
        changes: ``(collection, key, before, after)`` per changed record.
        recommendations: proposed write actions (recommend mode).
        pending_approval: the approval id a parked run waits for.
    """

    run_id: str
    status: str
    reason: str | None
    output: str | None
    counters: Counters
    expectations: list[ExpectationResult]
    passed: bool
    changes: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    pending_approval: str | None = None


class _Parked(BaseException):
    def __init__(self, approval_id: str) -> None:
        super().__init__(approval_id)
        self.approval_id = approval_id


class _Tripped(RunHalted):
    """The policy's circuit breaker halted the run."""

    step_name = "circuit_breaker"


class _Abandoned(BaseException):
    """Raised on an agent thread the runner stopped waiting for (timeout, Ctrl-C)."""


class _Fatal(BaseException):
    """A tool raised a BaseException (SystemExit, KeyboardInterrupt...): the run fails.

    Raised again at every later call into the runner, so an agent swallowing it cannot
    carry on.
    """

    def __init__(self, error: BaseException, where: str, trace: str) -> None:
        super().__init__(f"{_describe(error)} (raised by {where})")
        self.error = error
        self.reason = str(self)
        self.trace = trace


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _finite(value: Any) -> Any:
    """``value`` with NaN/infinite floats replaced by their names (the trace stays JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # 'nan', 'inf', '-inf'
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class Diverged(AgentboxError):
    """The agent made a different call than the recording it is being replayed against."""


_SEED_HASHES: dict[int, tuple[Any, str]] = {}


def seed_digest(seed: dict[str, Any]) -> str:
    """Content hash of a seed, cached per seed object (seeds are shared and read-only)."""
    cached = _SEED_HASHES.get(id(seed))
    if cached is not None and cached[0] is seed:
        return cached[1]
    digest = state_hash(seed)
    _SEED_HASHES[id(seed)] = (seed, digest)
    return digest


class Runner:
    """Run one plan against a store.

    Args:
        plan: from :func:`plan_run`.
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
    ) -> None:
        self.plan = plan
        self.redactor = plan.settings.redactor()
        # every write of this run passes the redactor: no secret reaches the file
        self.store = cast(TraceStore, RedactedWrites(store, self.redactor))
        self.on_step = on_step
        handler = plan.approvals.handler
        self.approver = approver or fixed_approver(
            handler if handler in ("approve", "deny") else "fail"
        )
        self.resuming = run_id is not None
        self.run_id = run_id or secrets.token_hex(5)
        self.counters = Counters()
        self.state = State(plan.seed)
        self.next_idx = 0
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
        self.injected: list[Message] = []
        """Messages appended to the next live model request (``fork --message``)."""
        self.edited_results: list[tuple[str, str]] = []
        """``(tool, result)`` answering the next live calls of ``tool`` without running it."""
        self._prefix = list(prefix or [])
        self._copy_prefix = copy_prefix
        self._lineage = lineage or {}
        self._incomplete = incomplete
        self._after_prefix = after_prefix
        self._hasher = RequestHasher(self.redactor)
        self._steps: dict[int, StepRow] = {}  # every step of this run, as stored
        self._started = 0.0
        self._row_refreshed = time.perf_counter()
        self._recommendations: list[dict[str, Any]] = []
        self._reads_saved = 0.0  # when the source's read set was last stored
        # ---- watching the agent thread (see the module docstring)
        timeouts = plan.policy.spec.timeouts
        self._timeouts = timeouts
        self._gate = threading.RLock()  # held by whoever may change the run right now
        self._abandoned = False  # the agent thread may not record anything any more
        self._taken_by: int | None = None  # the thread that took the run over
        self._ending = False  # the agent thread is recording the end: no more deadlines
        self._stop: BaseException | None = None  # what ended the run, re-raised if swallowed
        self._in_flight: tuple[StepRow, bool, float] | None = None  # step, intent, started
        self._watch = Watch(timeouts.agent_s, self._run_deadline, self._run_limit)

    # ---- bookkeeping ---------------------------------------------------------------
    def _tick(self) -> None:
        self.counters.elapsed_s = time.perf_counter() - self._started

    def _emit(self, step: StepRow) -> None:
        if self.on_step is not None:
            self.on_step(step)

    def _save_reads(self, *, now: bool = True) -> None:
        """Store what the run read from its database source so far (the seed of replays).

        The read set only grows, so the latest one serves every step: it replaces the
        run's start checkpoint and seed hash. Saving costs time in proportion to the
        read set, so with ``now=False`` (steps without a state patch) it is saved at most
        once a second; a step with a patch, and the end of the run, always save (a patch
        must find its records in the stored seed).
        """
        source = self.plan.source
        if source is None or not source.dirty:
            return
        clock = time.perf_counter()
        if not now and clock - self._reads_saved < 1.0:
            return
        self._reads_saved = clock
        reads = source.read_set()
        digest = state_hash(reads)
        self.store.put_blob(digest, reads)
        self.store.update_run(self.run_id, seed_hash=digest)
        self.store.add_checkpoint(self.run_id, -1, digest, "start (read set)")

    def _close_source(self) -> None:
        if self.plan.source is not None:
            self._save_reads()
            self.plan.source.source.close()

    def _record(self, step: StepRow) -> StepRow:
        with self._gate:
            self._check_live(stop=False)
            self._save_reads(now=bool(step.patch))
            self.counters.steps += 1
            self._tick()
            step.counters = self.counters.to_json()
            self.store.add_step(step)
            self._steps[step.idx] = step
            self._refresh_run_row(step.counters)
            self._emit(step)
        return step

    def _refresh_run_row(self, counters: dict[str, Any]) -> None:
        """Keep the run row's totals fresh for live views (at most twice a second)."""
        now = time.perf_counter()
        if now - self._row_refreshed >= 0.5:
            self._row_refreshed = now
            self.store.update_run(self.run_id, counters=counters)

    def _new_step(self, kind: str, name: str | None = None, **fields: Any) -> StepRow:
        step = StepRow(self.run_id, self.next_idx, kind, name, started_at=time.time(), **fields)
        self.next_idx += 1
        return step

    _stop_checked = float("-inf")  # perf_counter of the last stop-request check

    def _halt_if_stopped(self) -> None:
        """Halt here when ``agentbox stop`` asked (the store is read at most every 50 ms)."""
        now = time.perf_counter()
        if now - self._stop_checked >= 0.05:
            self._stop_checked = now
            request = self.store.stop_request(self.run_id)
            if request is not None:
                raise RunHalted("stopped", request.describe())

    def _halt_if_over_budget(self, *, next_is_tool: bool) -> None:
        self._check_live()
        self._halt_if_stopped()  # a step boundary: `agentbox stop` takes effect here
        self._tick()
        halt = check_budgets(self.plan.budgets, self.counters, next_is_tool=next_is_tool)
        try:
            if halt:
                raise RunHalted(*halt)
            self._trip_breaker("")
        except RunHalted as stop:  # also reached outside _entry (AgentContext.record_step)
            self._stop = self._stop or stop
            raise

    def _trip_breaker(self, last: str) -> None:
        """Halt when ``policy.circuit_breaker`` says the run keeps failing or being blocked."""
        breaker, c = self.plan.policy.spec.circuit_breaker, self.counters
        errors, blocks = breaker.max_consecutive_tool_errors, breaker.max_blocked_calls
        if errors is not None and c.tool_error_streak >= errors:
            raise _Tripped(
                "halted",
                f"circuit breaker: {c.tool_error_streak} tool calls in a row failed "
                f"(policy.circuit_breaker.max_consecutive_tool_errors={errors}){last}",
            )
        if blocks is not None and c.blocks >= blocks:
            raise _Tripped(
                "halted",
                f"circuit breaker: {c.blocks} calls were blocked by the policy "
                f"(policy.circuit_breaker.max_blocked_calls={blocks}){last}",
            )

    # ---- the agent thread and its watcher ------------------------------------------
    def _check_live(self, *, stop: bool = True) -> None:
        """Stop an abandoned agent thread, or an agent that swallowed what ended its run
        (a halt, a park, a fatal tool error, a hand-off) and called again."""
        if self._abandoned and threading.get_ident() != self._taken_by:
            raise _Abandoned()
        if stop and self._stop is not None:
            raise self._stop

    @contextmanager
    def _entry(self) -> Iterator[None]:
        """The agent calls into the runner: hold the gate, check, and restart its clock."""
        with self._gate:
            self._check_live()
            try:
                yield
            except (RunHalted, EndRun, _Parked, _Fatal) as stop:
                self._stop = self._stop or stop
                raise
            finally:
                self._watch.touch()

    @contextmanager
    def _blocking(
        self, kind: str, name: str, limit_s: float | None, setting: str
    ) -> Iterator[None]:
        """Release the gate around a call that may hang (a tool, the model, an approver).

        ``kind`` ``approval`` pauses every deadline instead of starting one. On return the
        gate is taken back; if the run was taken over meanwhile, the thread stops here.
        """
        if kind == "approval":
            self._watch.pause()
        else:
            self._watch.enter(kind, name, limit_s, setting)
        saved = self._gate._release_save()  # type: ignore[attr-defined]  # fully (RLock)
        try:
            yield
        finally:
            self._gate._acquire_restore(saved)  # type: ignore[attr-defined]
            if kind == "approval":
                self._watch.resume()
            else:
                self._watch.leave()
            if self._abandoned:
                raise _Abandoned()

    def _tool_limit(self, name: str) -> tuple[float | None, str]:
        """Seconds ``name`` may run and the setting that says so."""
        for pattern, seconds in self._timeouts.tools.items():
            if fnmatch.fnmatchcase(name, pattern):
                return seconds, f"timeouts.tools[{pattern!r}]"
        return self._timeouts.tool_s, "timeouts.tool_s"

    def _run_deadline(self) -> float | None:
        limit = self.plan.budgets.max_seconds
        return None if limit is None else self._started + limit

    def _run_limit(self) -> str:
        self._tick()
        limit = self.plan.budgets.max_seconds
        assert limit is not None  # the watcher asks only when there is a limit
        return time_budget_reason(self.counters.elapsed_s, limit)

    # ---- the recorded prefix -------------------------------------------------------
    def _replayed(self, step: StepRow) -> None:
        """Account for a prefix step: state, counters, position, and copy it if forking."""
        if step.patch:
            self.state.apply_patch(step.patch)
            self.state.drain_patch()
        if step.counters:
            self.counters = Counters(**step.counters)
            self._started = time.perf_counter() - self.counters.elapsed_s
        self.next_idx = step.idx + 1
        if step.kind == "tool" and step.status == "recommended":
            self._recommendations.append(
                {
                    "tool": step.name,
                    "args": step.data.get("args"),
                    "decision": step.data.get("decision"),
                }
            )
        if self._copy_prefix:
            step = dataclasses.replace(step, run_id=self.run_id)
            self.store.add_step(step)
            self._emit(step)
        self._steps[step.idx] = step

    def _skip_markers(self) -> None:
        """Replay the fork markers at the head of the prefix (a fork being resumed)."""
        while self._prefix and self._prefix[0].kind == "fork":
            marker = self._prefix.pop(0)
            point = self.store.checkpoint_before(marker.run_id, marker.idx)
            if point is not None and point[0] == marker.idx:  # fork --state-file
                self.state = State(self.store.get_blob(point[1]))
                if self._copy_prefix:
                    self.store.add_checkpoint(self.run_id, marker.idx, point[1], "copied")
            message = marker.data.get("edits", {}).get("message")
            if message:
                self.injected.append({"role": "user", "content": message})
            self._replayed(marker)

    def _inject(self, messages: list[Message]) -> None:
        """Append pending ``fork --message`` turns to the agent's conversation, once."""
        if self.injected:
            messages.extend(self.injected)
            self.injected = []

    def _abandon_prefix(self) -> None:
        """Stop serving the recording; new steps go after everything already stored."""
        if self._prefix:
            self.next_idx = max(self.next_idx, self._prefix[-1].idx + 1)
            self._prefix = []

    def _take(self, kind: str, name: str | None) -> StepRow:
        step = self._prefix.pop(0)
        if step.kind != kind or (name is not None and step.name != name):
            raise Diverged(
                f"the agent diverged from the recording at step {step.idx}: recorded "
                f"{step.kind} {step.name}, now {kind} {name}",
                "the agent, scenario or tools changed; fork the run instead of resuming it",
            )
        return step

    def _leave_prefix_if_done(self) -> None:
        if not self._prefix and self._after_prefix is not None:
            hook, self._after_prefix = self._after_prefix, None
            if hook(self) is False:  # not its step yet: ask again at the next call
                self._after_prefix = hook

    # ---- the two things an agent can do -------------------------------------------
    def model_call(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelResponse:
        """Ask the model (budget-checked, at most ``timeouts.model_s``); record an ``llm`` step."""
        with self._entry():
            return self._model_call(messages, tools)

    def _model_call(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelResponse:
        self._skip_markers()
        if self._prefix:
            self._inject(messages)  # a resumed fork: its recorded requests held the message
            step = self._take("llm", None)
            self._replayed(step)
            self._hasher.hash(messages, tools)  # keep the request chain in step
            return response_from(step)
        self._leave_prefix_if_done()
        self._inject(messages)
        self._halt_if_over_budget(next_is_tool=False)
        request = compact_request(messages, tools, self._hasher)
        started = time.perf_counter()
        with (
            self._blocking("model", "", self._timeouts.model_s, "timeouts.model_s"),
            host_traffic(),  # agentbox's own model traffic passes the egress guard
        ):
            response = self.plan.model.complete(messages, tools, self.counters.model_calls)
        latency = response.latency_s or (time.perf_counter() - started)
        c = self.counters
        c.model_calls += 1
        c.input_tokens += response.input_tokens
        c.output_tokens += response.output_tokens
        if response.cost_usd is None:
            c.cost_unknown += 1
        else:
            c.cost_usd += response.cost_usd
        step = self._new_step(
            "llm",
            response.model or self.plan.model_name,
            duration_s=latency,
            data={"response": response.to_json(), "request": request},
            message=response.message(),
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            cost_usd=response.cost_usd,
        )
        self._record(step)
        return response

    def tool_call(self, name: str, raw_args: Any, call_id: str | None) -> ToolResult:
        """Pass one tool call through the gate and record it (see the module docstring)."""
        with self._entry():
            result = self._tool_call(name, raw_args, call_id)
            self._trip_breaker(f"; the last: {name} {result.status}")
            return result

    def _tool_call(self, name: str, raw_args: Any, call_id: str | None) -> ToolResult:
        self._skip_markers()
        if self._prefix:
            served = self._serve_tool(name)
            if served is not None:
                return served
        self._leave_prefix_if_done()
        call_id = call_id or f"call_{self.next_idx}"
        self._halt_if_over_budget(next_is_tool=True)
        self.counters.tool_calls += 1
        data: dict[str, Any] = {"tool": name, "call_id": call_id, "args": raw_args}
        if self.edited_results and self.edited_results[0][0] == name:  # fork --tool-result
            return self._edited_result(name, data)
        spec = self.plan.tool(name)
        if spec is None:
            known = ", ".join(self.plan.sandbox.tools)
            return self._invalid(name, data, [f"unknown tool {name!r}; tools: {known}"])
        args, errors = spec.validate(raw_args)
        if args is None:
            return self._invalid(name, data, errors)
        data.update(args=args, effect=spec.effect, valid=True)
        decision = self.plan.policy.check(name, args)
        data["decision"] = decision.to_json()
        if self.plan.mode == "recommend" and spec.effect == "write":
            content = (
                f"Recorded as a recommendation; not executed in recommend mode. "
                f"Policy verdict: {decision.verdict} ({decision.reason})."
            )
            self._recommendations.append(
                {"tool": name, "args": args, "decision": decision.to_json()}
            )
            return self._finish_tool(
                self._new_step("tool", name, data=data), "recommended", content
            )
        if decision.verdict == "block":
            self.counters.blocks += 1
            content = f"Error: blocked by policy ({decision.rule}): {decision.reason}"
            return self._finish_tool(self._new_step("tool", name, data=data), "blocked", content)
        if decision.verdict == "hold":
            self.counters.holds += 1
            hold = self._new_step(
                "approval",
                name,
                status="pending",
                data={
                    "approval_id": "ap_" + secrets.token_hex(4),
                    "tool": name,
                    "args": args,
                    "call_id": call_id,
                    "decision": decision.to_json(),
                },
            )
            # the run shows as waiting before anyone can see (and decide) its approval
            self.store.update_run(
                self.run_id, status="awaiting_approval", counters=self.counters.to_json()
            )
            self.store.add_approval(
                hold.data["approval_id"],
                self.run_id,
                hold.idx,
                name,
                args,
                decision.rule,
                decision.reason,
            )
            self._record(hold)
            return self._decide_hold(hold, data)
        return self._execute(name, args, data)

    def _edited_result(self, name: str, data: dict[str, Any]) -> ToolResult:
        """Answer a call with a result given at a fork, without running the tool."""
        _, content = self.edited_results.pop(0)
        data["edited"] = True
        try:
            value: Any = json.loads(content)
            data["value_is_json"] = True
        except json.JSONDecodeError:
            value = content
        return self._finish_tool(self._new_step("tool", name, data=data), "ok", content, value)

    def _serve_tool(self, name: str) -> ToolResult | None:
        """Answer a tool call from the prefix; None when the call must go live."""
        head = self._prefix[0]
        if head.kind == "approval":
            hold = self._take("approval", name)
            # a parked hold, or a decided one whose call the recording does not hold (a
            # fork at that call): apply its decision (from the store) and go live
            if hold.status == "pending" or not self._prefix:
                self._replayed(hold)
                self._leave_prefix_if_done()
                spec = self.plan.tool(name)
                data = {
                    "tool": name,
                    "call_id": hold.data.get("call_id", f"call_{hold.idx}"),
                    "args": hold.data["args"],
                    "effect": spec.effect if spec else "write",
                    "valid": True,
                    "decision": hold.data["decision"],
                }
                if self.edited_results and self.edited_results[0][0] == name:
                    # fork --tool-result at the call after a decided hold: nothing runs
                    if hold.status in ("approved", "edited"):
                        self.counters.approvals += 1
                    elif hold.status == "denied":
                        self.counters.denials += 1
                    data["approval_id"] = hold.data["approval_id"]
                    return self._edited_result(name, data)
                return self._decide_hold(hold, data)
            self._replayed(hold)
        step = self._take("tool", name)
        if step.status == "pending":  # intent committed, result never recorded
            return self._incomplete_write(step)
        self._replayed(step)
        result = step.data.get("result", "")
        value = (
            json.loads(result)
            if step.data.get("value_is_json")
            else (result if step.status == "ok" else None)
        )
        return ToolResult(step.status, result, value, step.data.get("call_id", ""))

    def _incomplete_write(self, step: StepRow) -> ToolResult:
        self.next_idx = step.idx + 1
        if self._incomplete == "retry":
            self.next_idx = step.idx
            self._leave_prefix_if_done()
            self.store.delete_step(self.run_id, step.idx)
            self._steps.pop(step.idx, None)
            return self._execute(step.name or "", step.data["args"], dict(step.data))
        content = (
            f"Error: the outcome of this {step.name} call is unknown (the run was "
            "interrupted while it executed); check the state before retrying"
        )
        step.status = "abandoned"
        self._finish_tool(step, "abandoned", content, update=True)
        return ToolResult("abandoned", content, None, step.data.get("call_id", ""))

    # ---- gate parts ----------------------------------------------------------------
    def _invalid(self, name: str, data: dict[str, Any], errors: list[str]) -> ToolResult:
        self.counters.invalid_tool_calls += 1
        data.update(args=_finite(data["args"]), valid=False, validation_errors=errors)
        content = f"Error: invalid call to {name}: " + "; ".join(errors)
        return self._finish_tool(self._new_step("tool", name, data=data), "invalid", content)

    def _finish_tool(
        self, step: StepRow, status: str, content: str, value: Any = None, *, update: bool = False
    ) -> ToolResult:
        step.status = status
        step.data["result"] = content
        step.message = {"role": "tool", "tool_call_id": step.data["call_id"], "content": content}
        if status in ("error", "crashed", "invalid"):
            self.counters.tool_error_streak += 1
        elif status in ("ok", "recommended"):
            self.counters.tool_error_streak = 0
        if update:  # the intent row exists: fill in the outcome
            self.counters.steps += 1
            self._tick()
            step.counters = self.counters.to_json()
            self.store.update_step(
                self.run_id,
                step.idx,
                status=status,
                data=step.data,
                patch=step.patch,
                message=step.message,
                duration_s=step.duration_s,
                counters=step.counters,
            )
            self._steps[step.idx] = step
            self._emit(step)
        else:
            self._record(step)
        return ToolResult(status, content, value, step.data["call_id"])

    def _decide_hold(self, hold: StepRow, data: dict[str, Any]) -> ToolResult:
        """Get a decision for a held call and act on it."""
        name, args = hold.data["tool"], hold.data["args"]
        decision = Decision(**hold.data["decision"])
        approval_id = hold.data["approval_id"]
        stored = self.store.get_approval(approval_id)
        if stored.status != "pending":  # decided by someone while the run was parked
            verdict = ApprovalDecision(
                "approve" if stored.status == "approved" else "deny",
                args=stored.edited_args,
                reason=stored.decision_reason or "",
                by=stored.decided_by or "unknown",
            )
        else:
            self.store.update_run(
                self.run_id, status="awaiting_approval", counters=self.counters.to_json()
            )
            waited = time.perf_counter()
            with self._blocking("approval", name, None, ""):
                verdict = self.approver(
                    ApprovalRequest(approval_id, self.run_id, hold.idx, name, args, decision)
                )
            self._started += time.perf_counter() - waited  # waiting is not run time
            if verdict.verdict == "park":
                raise _Parked(approval_id)
            self.store.update_run(self.run_id, status="running")
        if verdict.verdict == "fail":
            hold.status, hold.data = "failed", {**hold.data, "reason": verdict.reason}
            self.store.update_step(self.run_id, hold.idx, status=hold.status, data=hold.data)
            self._steps[hold.idx] = hold
            raise RunHalted(
                "halted",
                f"{name} held by rule {decision.rule!r} ({decision.reason}); "
                f"{verdict.reason or 'not approved'}",
            )
        final_args, final_decision = args, decision
        if verdict.verdict == "approve" and verdict.args is not None:
            spec = self.plan.tool(name)
            assert spec is not None
            edited, errors = spec.validate(verdict.args)
            if edited is None:
                verdict = ApprovalDecision(
                    "deny", reason="edited arguments invalid: " + "; ".join(errors), by=verdict.by
                )
            else:
                final_args = edited
                recheck = self.plan.policy.check(name, edited)
                if recheck.verdict == "block":
                    verdict = ApprovalDecision(
                        "deny",
                        reason=f"edited arguments blocked by policy "
                        f"({recheck.rule}): {recheck.reason}",
                        by=verdict.by,
                    )
                final_decision = recheck if recheck.verdict != "allow" else decision
        lost = redacted_paths(final_args) if verdict.verdict == "approve" else []
        if lost:  # resumed from the store, which never held the secret
            verdict = ApprovalDecision(
                "deny",
                reason=f"{', '.join(lost)}: secret arguments the trace does not keep; run "
                "the scenario again (or approve a parked call with --edit giving their values)",
                by=verdict.by,
            )
        status = "approved" if verdict.verdict == "approve" else "denied"
        edited_args = final_args if final_args != args else None
        if status == "approved" and edited_args is not None:
            status = "edited"
        self.store.decide_approval(
            approval_id,
            "approved" if status != "denied" else "denied",
            by=verdict.by,
            reason=verdict.reason,
            edited_args=edited_args,
        )
        hold.data.update(
            decided_by=verdict.by,
            reason=verdict.reason,
            edited_args=edited_args,
            decided_at=time.time(),
        )
        hold.status = status
        self.store.update_step(self.run_id, hold.idx, status=status, data=hold.data)
        self._steps[hold.idx] = hold
        self._emit(hold)
        data.update(args=final_args, decision=final_decision.to_json(), approval_id=approval_id)
        if status == "denied":
            self.counters.denials += 1
            why = verdict.reason or "no reason given"
            return self._finish_tool(
                self._new_step("tool", name, data=data),
                "denied",
                f"Error: denied by approver ({verdict.by}): {why}",
            )
        self.counters.approvals += 1
        self._leave_prefix_if_done()  # a case's fork edit due right after this decision
        if self.edited_results and self.edited_results[0][0] == name:
            return self._edited_result(name, data)
        return self._execute(name, final_args, data)

    def _execute(self, name: str, args: dict[str, Any], data: dict[str, Any]) -> ToolResult:
        spec = self.plan.tool(name)
        assert spec is not None
        step = self._new_step("tool", name, data=data, status="pending")
        intent = spec.effect == "write"
        if intent:  # commit the intent before the side effect
            self.store.add_step(step)
            self._steps[step.idx] = step
        started = time.perf_counter()
        value: Any = None
        ending: EndRun | None = None
        fatal: _Fatal | None = None
        limit, setting = self._tool_limit(name)
        self._in_flight = (step, intent, started)
        try:
            with self._blocking("tool", name, limit, setting):
                value = spec.fn(self.state, **args)
            status, content = "ok", render_result(value)
        except _Abandoned:
            raise
        except EndRun as end:
            ending, value = end, end.result
            status, content = "ok", render_result(value)
            data["ends_run"] = True
        except ToolError as exc:
            self.counters.tool_errors += 1
            status, content = "error", f"Error: {exc}"
        except Exception as exc:
            self.counters.tool_errors += 1
            status, content = (
                "crashed",
                f"Error: tool {name} failed unexpectedly ({type(exc).__name__})",
            )
            data["traceback"] = traceback.format_exc(limit=8)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... from the tool: fatal
            self.counters.tool_errors += 1
            status, content = "crashed", f"Error: tool {name} raised {_describe(exc)}"
            data["traceback"] = traceback.format_exc(limit=8)
            fatal = _Fatal(exc, f"tool {name}", data["traceback"])
        self._in_flight = None
        if status == "ok" and not isinstance(value, str):
            data["value_is_json"] = True
        step.duration_s = time.perf_counter() - started
        step.patch = self.state.drain_patch() or None
        self._save_reads(now=bool(step.patch))
        result = self._finish_tool(
            step, status, content, value if status == "ok" else None, update=intent
        )
        if ending is not None:
            raise ending
        if fatal is not None:
            raise fatal
        return result

    # ---- the run -------------------------------------------------------------------
    def run(self) -> RunResult:
        """Execute the plan to the end (or until it parks) and return how it went."""
        plan, scenario = self.plan, self.plan.scenario
        self._started = time.perf_counter()
        if self.resuming:
            self.store.update_run(self.run_id, status="running", pid=os.getpid(), ended_at=None)
        else:
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
                **self._lineage,
            )
            self.store.add_checkpoint(self.run_id, -1, digest, "start")
            if plan.version is not None:  # computed at planning (agentbox.versions)
                v = plan.version
                self.store.record_run_version(self.run_id, v.fingerprint, v.parts, v.label)
        return self._watch_agent()

    def _watch_agent(self) -> RunResult:
        """Run the agent on a daemon thread; end the run here if it outlives a deadline."""
        box: dict[str, Any] = {}

        def agent_thread() -> None:
            try:
                box["result"] = self._agent_body()
            except _Abandoned:
                pass  # the caller took the run over; nothing here counts any more
            except BaseException as exc:  # an agentbox error: re-raised by the caller
                box["error"] = exc
            finally:
                self._watch.finish()

        context = contextvars.copy_context()  # the agent sees the caller's context variables
        thread = threading.Thread(
            target=context.run,
            args=(agent_thread,),
            name=f"agentbox-agent-{self.run_id}",
            daemon=True,
        )
        thread.start()
        while True:
            try:
                expired = self._watch.wait()
            except BaseException:  # a real Ctrl-C: the agent thread must stop recording
                with self._gate:
                    self._abandoned, self._taken_by = True, threading.get_ident()
                raise
            if expired is None:
                thread.join()  # it is past its last step: returns at once
                break
            with self._gate:  # the agent thread is outside the runner or in a call
                expired = self._watch.expired() if not self._ending else None
                if expired is None:
                    continue  # it finished or moved on meanwhile
                self._abandoned, self._taken_by = True, threading.get_ident()
                return self._take_over(expired)
        if "error" in box:
            raise box["error"]
        result: RunResult = box["result"]
        return result

    def interrupt(self, status: str, reason: str) -> None:
        """End the run now with ``status`` (e.g. ``stopped``); callable from any thread.

        The calling thread of :meth:`run` takes the run over at once -- during a tool or
        model call or an approval wait too -- and records a ``policy`` step named
        ``status`` with ``reason``; a tool still running gets that status as well. Ignored
        once the run is recording its end.
        """
        self._watch.interrupt(status, reason)

    def _take_over(self, expired: Expired) -> RunResult:
        """End the run on the calling thread (holding the gate): timeout or interrupt."""
        self._abandon_prefix()
        reason, status = expired.reason, expired.status
        if self._in_flight is not None:  # a tool still runs: it keeps the old state object
            step, intent, started = self._in_flight
            self._in_flight = None
            run = self.store.get_run(self.run_id)
            self.state = state_at(self.store, run, self.next_idx - 1)  # without its writes
            step.duration_s = time.perf_counter() - started
            step.patch = None
            step.data[status] = True
            self._finish_tool(step, status, f"Error: {reason}", update=intent)
        self._record(
            self._new_step(
                "policy", status, status=status, data={"reason": reason, "cause": expired.kind}
            )
        )
        self._record(
            self._new_step("final", status, status=status, data={"output": None, "reason": reason})
        )
        return self._finish(status, reason, None)

    def _agent_body(self) -> RunResult:
        """Drive the agent and record how it ended (on the agent thread)."""
        outcome: BaseException | None = None
        try:
            output = self._drive()
            self._leave_prefix_if_done()
        except BaseException as exc:  # sorted out below, once no deadline can interfere
            outcome, output = exc, None
        if isinstance(outcome, _Abandoned):
            raise outcome
        with self._gate:  # from here on the end is recorded by this thread alone
            self._check_live(stop=False)
            self._ending = True
            self._watch.ending()
        if self._stop is not None:  # the agent swallowed (or wrapped) what ended the run
            outcome = self._stop
        if isinstance(outcome, _Parked):
            self._close_source()
            self.store.update_run(
                self.run_id, status="awaiting_approval", pid=None, counters=self.counters.to_json()
            )
            return RunResult(
                self.run_id,
                "awaiting_approval",
                f"waiting for approval {outcome.approval_id}",
                None,
                self.counters,
                [],
                False,
                self.state.changes(),
                self._recommendations,
                outcome.approval_id,
            )
        status, reason = "completed", None
        if isinstance(outcome, EndRun):
            output = outcome.output if outcome.output is not None else render_result(outcome.result)
        elif isinstance(outcome, RunHalted):
            self._abandon_prefix()
            status, reason = outcome.status, outcome.reason
            self._record(
                self._new_step(
                    "policy",
                    getattr(outcome, "step_name", "halt"),
                    status=outcome.status,
                    data={"reason": outcome.reason},
                )
            )
        elif outcome is not None:
            status, reason = "failed", self._record_error(outcome)
        self._abandon_prefix()
        self._record(
            self._new_step(
                "final", status, status=status, data={"output": output, "reason": reason}
            )
        )
        return self._finish(status, reason, output)

    def _record_error(self, error: BaseException) -> str:
        """Record an ``error`` step for what ended the run; returns the run's reason."""
        self._abandon_prefix()
        if isinstance(error, AgentboxError):
            name, reason = type(error).__name__, error.message
            data = {"error": error.message, "hint": error.hint}
        elif isinstance(error, _Fatal):  # a tool raised SystemExit & co.
            name, reason = type(error.error).__name__, error.reason
            data = {"error": reason, "traceback": error.trace}
        else:  # the user's agent code crashed, exited or was interrupted
            name, reason = type(error).__name__, _describe(error)
            if not isinstance(error, Exception):
                reason += " (raised by the agent's code)"
            trace = "".join(traceback.format_exception(error, limit=12))
            data = {"error": reason, "traceback": trace}
        self._record(self._new_step("error", name, status="failed", data=data))
        return reason

    def _drive(self) -> str | None:
        ctx = AgentContext(self)
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

    def steps(self) -> list[StepRow]:
        """This run's steps in order (from memory when it holds them all)."""
        if len(self._steps) == self.next_idx:
            return [self._steps[i] for i in range(self.next_idx)]
        return self.store.steps(self.run_id)

    def _judge(self, spec: JudgeExpectation, output: str) -> tuple[bool, str, dict[str, Any]]:
        """Grade with the LLM judge, bounded by ``timeouts.model_s``; failures fail it.

        Raises:
            ModelError: the judge failed, raised anything, or did not answer in time.
        """
        from agentbox.suites.judge import judge  # the judge may import litellm

        model = spec.model or self.plan.model_name
        with host_traffic():  # the judge's model traffic passes the egress guard
            try:
                return bounded_call(
                    lambda: judge(spec.rubric, output, model, **spec.params), self._timeouts.model_s
                )
            except CallTimedOut as exc:
                raise ModelError(f"the judge {exc} (policy.timeouts.model_s)") from None
            except CallFailed as failed:
                if isinstance(failed.error, AgentboxError):
                    raise failed.error from None
                raise ModelError(f"the judge raised {_describe(failed.error)}") from None

    def _finish(self, status: str, reason: str | None, output: str | None) -> RunResult:
        if self.counters.holds:  # a hold nobody decided is closed with the run
            self.store.close_approvals(
                self.run_id, f"run {status}" + (f": {reason}" if reason else "")
            )
        outcome = RunOutcome(
            status=status,
            output=output,
            counters=self.counters,
            steps=self.steps(),
            state=self.state,
            sandbox=self.plan.sandbox,
        )
        expect = self.plan.scenario.expect
        results = check_expectations(expect, outcome, judge=self._judge)
        self._close_source()
        passed = all(r.passed for r in results) if expect is not None else status == "completed"
        self.store.update_run(
            self.run_id,
            status=status,
            reason=reason,
            output=output,
            ended_at=time.time(),
            counters=self.counters.to_json(),
            expectations=[r.to_json() for r in results],
            passed=int(passed),
        )
        return RunResult(
            self.run_id,
            status,
            reason,
            output,
            self.counters,
            results,
            passed,
            self.state.changes(),
            self._recommendations,
        )
