"""How a run ends: the last steps it records and the result it returns.

Whichever thread ends the run records it here: the agent's thread when the agent returns,
raises or is halted (:meth:`RunEnd.after_agent`), or the calling thread when it takes
the run over at a deadline or an interrupt (:meth:`RunEnd.take_over`). A stop is recorded
the same way on both (a ``policy`` step named after the status, ``cause: interrupt``).
Then the expectations are checked (an LLM judge bounded by ``timeouts.model_s``), the
run's undecided holds closed and its row finished (:meth:`RunEnd.finish`).
"""

from __future__ import annotations

import time
import traceback
from typing import TYPE_CHECKING, Any

from agentbox import llm_judge  # looked up per call: tests replace llm_judge.judge
from agentbox.agents.context import render_result
from agentbox.checkpoints import state_at
from agentbox.errors import AgentboxError, EndRun, ModelError, RunHalted
from agentbox.evals import RunOutcome, check_expectations
from agentbox.http.guard import host_traffic
from agentbox.runner.result import RunResult
from agentbox.runner.signals import Fatal, Parked, describe
from agentbox.watchdog import CallFailed, CallTimedOut, Expired, bounded_call

if TYPE_CHECKING:
    from agentbox.runner.core import Runner
    from agentbox.scenario import JudgeExpectation

__all__ = ["RunEnd"]


class RunEnd:
    """The end of one run."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def after_agent(self, outcome: BaseException | None, output: str | None) -> RunResult:
        """Record how the agent ended (on its thread, which alone records from here on).

        ``outcome``: what it raised (or what ended the run and it swallowed), else None.
        """
        runner = self._runner
        if isinstance(outcome, Parked):
            return self.parked(outcome.approval_id)
        status, reason = "completed", None
        if isinstance(outcome, EndRun):
            output = outcome.output if outcome.output is not None else render_result(outcome.result)
        elif isinstance(outcome, RunHalted):
            status, reason = outcome.status, outcome.reason
            data: dict[str, Any] = {"reason": outcome.reason}
            cause = getattr(outcome, "cause", None)
            if cause is not None:
                data["cause"] = cause
            name = getattr(outcome, "step_name", "halt")
            self.policy_step(name, status, data)
        elif outcome is not None:
            status, reason = "failed", self.record_error(outcome)
        runner.prefix.abandon()
        runner.record(
            runner.new_step(
                "final", status, status=status, data={"output": output, "reason": reason}
            )
        )
        return self.finish(status, reason, output)

    def policy_step(self, name: str, status: str, data: dict[str, Any]) -> None:
        """Record the ``policy`` step that ends a halted, stopped or timed-out run."""
        runner = self._runner
        runner.prefix.abandon()
        runner.record(runner.new_step("policy", name, status=status, data=data))

    def parked(self, approval_id: str) -> RunResult:
        """Leave the run waiting in the store for approval ``approval_id``."""
        runner = self._runner
        runner.log.close_source()
        runner.store.update_run(
            runner.run_id,
            status="awaiting_approval",
            pid=None,
            counters=runner.log.counters.to_json(),
        )
        return RunResult(
            runner.run_id,
            "awaiting_approval",
            f"waiting for approval {approval_id}",
            None,
            runner.log.counters,
            [],
            False,
            runner.state.changes(),
            runner.recommendations,
            approval_id,
        )

    def take_over(self, expired: Expired) -> RunResult:
        """End the run on the calling thread (holding the gate): timeout or interrupt.

        A tool still running keeps the old state object: the state is rebuilt from the
        store without its writes, and its step gets the run's status.
        """
        runner = self._runner
        runner.prefix.abandon()
        reason, status = expired.reason, expired.status
        if runner.in_flight is not None:
            step, intent, started = runner.in_flight
            runner.in_flight = None
            run = runner.store.get_run(runner.run_id)
            runner.state = state_at(runner.store, run, runner.log.next_idx - 1)
            step.duration_s = time.perf_counter() - started
            step.patch = None
            step.data[status] = True
            runner.tools.finish(step, status, f"Error: {reason}", update=intent)
        self.policy_step(status, status, {"reason": reason, "cause": expired.kind})
        runner.record(
            runner.new_step("final", status, status=status, data={"output": None, "reason": reason})
        )
        return self.finish(status, reason, None)

    def record_error(self, error: BaseException) -> str:
        """Record an ``error`` step for what ended the run; returns the run's reason."""
        runner = self._runner
        runner.prefix.abandon()
        if isinstance(error, AgentboxError):
            name, reason = type(error).__name__, error.message
            data = {"error": error.message, "hint": error.hint}
        elif isinstance(error, Fatal):  # a tool raised SystemExit & co.
            name, reason = type(error.error).__name__, error.reason
            data = {"error": reason, "traceback": error.trace}
        else:  # the user's agent code crashed, exited or was interrupted
            name, reason = type(error).__name__, describe(error)
            if not isinstance(error, Exception):
                reason += " (raised by the agent's code)"
            trace = "".join(traceback.format_exception(error, limit=12))
            data = {"error": reason, "traceback": trace}
        runner.record(runner.new_step("error", name, status="failed", data=data))
        return reason

    def finish(self, status: str, reason: str | None, output: str | None) -> RunResult:
        """Check the expectations, close undecided holds and store the run's end."""
        runner = self._runner
        counters = runner.log.counters
        if counters.holds:  # a hold nobody decided is closed with the run
            runner.store.close_approvals(
                runner.run_id, f"run {status}" + (f": {reason}" if reason else "")
            )
        outcome = RunOutcome(
            status=status,
            output=output,
            counters=counters,
            steps=runner.steps(),
            state=runner.state,
            sandbox=runner.plan.sandbox,
        )
        expect = runner.plan.scenario.expect
        results = check_expectations(expect, outcome, judge=self._judge)
        runner.log.close_source()
        passed = all(r.passed for r in results) if expect is not None else status == "completed"
        runner.store.update_run(
            runner.run_id,
            status=status,
            reason=reason,
            output=output,
            ended_at=time.time(),
            counters=counters.to_json(),
            expectations=[r.to_json() for r in results],
            passed=int(passed),
        )
        return RunResult(
            runner.run_id,
            status,
            reason,
            output,
            counters,
            results,
            passed,
            runner.state.changes(),
            runner.recommendations,
        )

    def _judge(self, spec: JudgeExpectation, output: str) -> tuple[bool, str, dict[str, Any]]:
        """Grade with the LLM judge, bounded by ``timeouts.model_s``; failures fail it.

        Raises:
            ModelError: the judge failed, raised anything, or did not answer in time.
        """
        plan = self._runner.plan
        model = spec.model or plan.model_name
        with host_traffic():  # the judge's model traffic passes the egress guard
            try:
                return bounded_call(
                    lambda: llm_judge.judge(spec.rubric, output, model, **spec.params),
                    self._runner.limits.timeouts.model_s,
                )
            except CallTimedOut as exc:
                raise ModelError(f"the judge {exc} (policy.timeouts.model_s)") from None
            except CallFailed as failed:
                if isinstance(failed.error, AgentboxError):
                    raise failed.error from None
                raise ModelError(f"the judge raised {describe(failed.error)}") from None
