"""The tool gate: every tool call an agent makes, from arguments to recorded result.

:meth:`ToolGate.call` serves the call from the recorded prefix when one is being replayed
(:meth:`ToolGate.serve`), else passes it through the gate -- budgets -> validate ->
policy -> recommend mode -> block / hold (:class:`~agentbox.runner.approval.ApprovalGate`)
-> execute -- and records one ``tool`` step. A write's intent (tool, args, decision) is
committed before it executes and its result and RFC 6902 patch after
(:meth:`ToolGate.execute`). A tool that raises ``ToolError`` or crashes gives the agent an
error result; one raising a BaseException fails the run
(:class:`~agentbox.runner.signals.Fatal`).
"""

from __future__ import annotations

import json
import time
import traceback
from typing import TYPE_CHECKING, Any

from agentbox.agents.context import ToolResult, render_result
from agentbox.errors import EndRun, ToolError
from agentbox.runner.signals import Abandoned, Fatal, describe, finite

if TYPE_CHECKING:
    from agentbox.runner.core import Runner
    from agentbox.store import StepRow

__all__ = ["ToolGate"]


class ToolGate:
    """Tool calls of one run."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def call(self, name: str, raw_args: Any, call_id: str | None) -> ToolResult:
        """Serve or gate one tool call (the caller holds the run: ``Runner.tool_call``)."""
        runner, prefix = self._runner, self._runner.prefix
        prefix.skip_markers()
        if prefix.active:
            served = self.serve(name)
            if served is not None:
                return served
        prefix.leave_if_done()
        log = runner.log
        call_id = call_id or f"call_{log.next_idx}"
        runner.check_limits(next_is_tool=True)
        log.counters.tool_calls += 1
        data: dict[str, Any] = {"tool": name, "call_id": call_id, "args": raw_args}
        if runner.edited_results and runner.edited_results[0][0] == name:  # fork --tool-result
            return self.edited_result(name, data)
        plan = runner.plan
        spec = plan.tool(name)
        if spec is None:
            known = ", ".join(plan.sandbox.tools)
            return self.invalid(name, data, [f"unknown tool {name!r}; tools: {known}"])
        args, errors = spec.validate(raw_args)
        if args is None:
            return self.invalid(name, data, errors)
        data.update(args=args, effect=spec.effect, valid=True)
        decision = plan.policy.check(name, args)
        data["decision"] = decision.to_json()
        if plan.mode == "recommend" and spec.effect == "write":
            content = (
                f"Recorded as a recommendation; not executed in recommend mode. "
                f"Policy verdict: {decision.verdict} ({decision.reason})."
            )
            runner.recommendations.append(
                {"tool": name, "args": args, "decision": decision.to_json()}
            )
            return self.finish(log.new_step("tool", name, data=data), "recommended", content)
        if decision.verdict == "block":
            log.counters.blocks += 1
            content = f"Error: blocked by policy ({decision.rule}): {decision.reason}"
            return self.finish(log.new_step("tool", name, data=data), "blocked", content)
        if decision.verdict == "hold":
            return runner.approvals.hold(name, args, call_id, decision, data)
        return self.execute(name, args, data)

    def edited_result(self, name: str, data: dict[str, Any]) -> ToolResult:
        """Answer a call with a result given at a fork, without running the tool."""
        runner = self._runner
        _, content = runner.edited_results.pop(0)
        data["edited"] = True
        try:
            value: Any = json.loads(content)
            data["value_is_json"] = True
        except json.JSONDecodeError:
            value = content
        return self.finish(runner.log.new_step("tool", name, data=data), "ok", content, value)

    def serve(self, name: str) -> ToolResult | None:
        """Answer a tool call from the prefix; None when the call must go live."""
        prefix = self._runner.prefix
        if prefix.head.kind == "approval":
            hold = prefix.take("approval", name)
            # a parked hold, or a decided one whose call the recording does not hold (a
            # fork at that call): apply its decision (from the store) and go live
            if hold.status == "pending" or not prefix.active:
                return self._resume_hold(name, hold)
            prefix.replay(hold)
        step = prefix.take("tool", name)
        if step.status == "pending":  # intent committed, result never recorded
            return self.incomplete_write(step)
        prefix.replay(step)
        result = step.data.get("result", "")
        value = (
            json.loads(result)
            if step.data.get("value_is_json")
            else (result if step.status == "ok" else None)
        )
        return ToolResult(step.status, result, value, step.data.get("call_id", ""))

    def _resume_hold(self, name: str, hold: StepRow) -> ToolResult:
        """Go live at a recorded hold: decide it (again) and act on the decision."""
        runner = self._runner
        runner.prefix.replay(hold)
        runner.prefix.leave_if_done()
        spec = runner.plan.tool(name)
        data = {
            "tool": name,
            "call_id": hold.data.get("call_id", f"call_{hold.idx}"),
            "args": hold.data["args"],
            "effect": spec.effect if spec else "write",
            "valid": True,
            "decision": hold.data["decision"],
        }
        if runner.edited_results and runner.edited_results[0][0] == name:
            # fork --tool-result at the call after a decided hold: nothing runs
            counters = runner.log.counters
            if hold.status in ("approved", "edited"):
                counters.approvals += 1
            elif hold.status == "denied":
                counters.denials += 1
            data["approval_id"] = hold.data["approval_id"]
            return self.edited_result(name, data)
        return runner.approvals.decide(hold, data)

    def incomplete_write(self, step: StepRow) -> ToolResult:
        """A write whose intent was committed but whose result never was (``incomplete``:
        ``retry`` runs it again, ``skip`` tells the agent its outcome is unknown)."""
        runner = self._runner
        runner.log.next_idx = step.idx + 1
        if runner.incomplete == "retry":
            runner.log.next_idx = step.idx
            runner.prefix.leave_if_done()
            runner.log.drop(step.idx)
            return self.execute(step.name or "", step.data["args"], dict(step.data))
        content = (
            f"Error: the outcome of this {step.name} call is unknown (the run was "
            "interrupted while it executed); check the state before retrying"
        )
        step.status = "abandoned"
        self.finish(step, "abandoned", content, update=True)
        return ToolResult("abandoned", content, None, step.data.get("call_id", ""))

    def invalid(self, name: str, data: dict[str, Any], errors: list[str]) -> ToolResult:
        """Record a call with an unknown tool or invalid arguments."""
        self._runner.log.counters.invalid_tool_calls += 1
        data.update(args=finite(data["args"]), valid=False, validation_errors=errors)
        content = f"Error: invalid call to {name}: " + "; ".join(errors)
        return self.finish(self._runner.log.new_step("tool", name, data=data), "invalid", content)

    def finish(
        self, step: StepRow, status: str, content: str, value: Any = None, *, update: bool = False
    ) -> ToolResult:
        """Record a tool step's outcome (``update``: fill in its committed intent row) and
        return what the agent sees."""
        step.status = status
        step.data["result"] = content
        step.message = {"role": "tool", "tool_call_id": step.data["call_id"], "content": content}
        counters = self._runner.log.counters
        if status in ("error", "crashed", "invalid"):
            counters.tool_error_streak += 1
        elif status in ("ok", "recommended"):
            counters.tool_error_streak = 0
        self._runner.record(step, update=update)
        return ToolResult(status, content, value, step.data["call_id"])

    def execute(self, name: str, args: dict[str, Any], data: dict[str, Any]) -> ToolResult:
        """Run the tool (bounded by its timeout) and record the result.

        Raises:
            EndRun: the tool ends the run (after its step is recorded).
            Fatal: the tool raised a BaseException (after its step is recorded).
        """
        runner = self._runner
        spec = runner.plan.tool(name)
        assert spec is not None
        step = runner.log.new_step("tool", name, data=data, status="pending")
        intent = spec.effect == "write"
        if intent:  # commit the intent before the side effect
            runner.log.commit_intent(step)
        started = time.perf_counter()
        value: Any = None
        ending: EndRun | None = None
        fatal: Fatal | None = None
        limit, setting = runner.limits.tool_limit(name)
        runner.in_flight = (step, intent, started)
        try:
            with runner.guard.blocking("tool", name, limit, setting):
                value = spec.fn(runner.state, **args)
            status, content = "ok", render_result(value)
        except Abandoned:
            raise
        except EndRun as end:
            ending, value = end, end.result
            status, content = "ok", render_result(value)
            data["ends_run"] = True
        except ToolError as exc:
            runner.log.counters.tool_errors += 1
            status, content = "error", f"Error: {exc}"
        except Exception as exc:
            runner.log.counters.tool_errors += 1
            status, content = (
                "crashed",
                f"Error: tool {name} failed unexpectedly ({type(exc).__name__})",
            )
            data["traceback"] = traceback.format_exc(limit=8)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... from the tool: fatal
            runner.log.counters.tool_errors += 1
            status, content = "crashed", f"Error: tool {name} raised {describe(exc)}"
            data["traceback"] = traceback.format_exc(limit=8)
            fatal = Fatal(exc, f"tool {name}", data["traceback"])
        runner.in_flight = None
        if status == "ok" and not isinstance(value, str):
            data["value_is_json"] = True
        step.duration_s = time.perf_counter() - started
        step.patch = runner.state.drain_patch() or None
        result = self.finish(
            step, status, content, value if status == "ok" else None, update=intent
        )
        if ending is not None:
            raise ending
        if fatal is not None:
            raise fatal
        return result
