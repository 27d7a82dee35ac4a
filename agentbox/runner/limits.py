"""Budgets and limits of one run: what is checked at every step boundary, and how long
each call may take.

At a step boundary (before a model call, a tool call or a recorded step) the run halts
when ``agentbox stop`` asked it to (:meth:`Limits.stop_requested`), when a budget is
spent (steps, tool calls, tokens, USD, ``max_seconds``) or when the circuit breaker trips.
The per-call limits (``policy.timeouts``) and the run's deadline are read by the watcher
(:mod:`agentbox.watchdog`).
"""

from __future__ import annotations

import fnmatch
import time
from typing import TYPE_CHECKING

from agentbox.errors import RunHalted
from agentbox.policy import check_budgets, time_budget_reason
from agentbox.runner.signals import Tripped

if TYPE_CHECKING:
    from agentbox.planning import RunPlan
    from agentbox.runner.steps import StepLog

__all__ = ["Limits"]

STOP_POLL_S = 0.05
"""How often, at most, a step boundary reads the store for a stop request (seconds)."""


class Limits:
    """The budgets, circuit breaker, stop requests and time limits of one run.

    Args:
        plan: the run's plan (its budgets and ``policy``).
        log: the run's step log (its counters and clock).
    """

    def __init__(self, plan: RunPlan, log: StepLog) -> None:
        self._plan = plan
        self._log = log
        self.timeouts = plan.policy.spec.timeouts
        self._stop_checked = float("-inf")  # perf_counter of the last stop-request check

    def stop_requested(self) -> str | None:
        """Why ``agentbox stop`` asked this run to stop, else None (the store is read at
        most every :data:`STOP_POLL_S`)."""
        now = time.perf_counter()
        if now - self._stop_checked < STOP_POLL_S:
            return None
        self._stop_checked = now
        request = self._log.store.stop_request(self._log.run_id)
        return None if request is None else request.describe()

    def check(self, *, next_is_tool: bool) -> None:
        """Halt when a budget is spent or the circuit breaker trips.

        Raises:
            RunHalted: a budget (status ``halted``, or ``timeout`` for ``max_seconds``).
            Tripped: the circuit breaker.
        """
        self._log.tick()
        halt = check_budgets(self._plan.budgets, self._log.counters, next_is_tool=next_is_tool)
        if halt:
            raise RunHalted(*halt)
        self.trip_breaker("")

    def trip_breaker(self, last: str) -> None:
        """Halt when ``policy.circuit_breaker`` says the run keeps failing or being blocked.

        ``last`` is appended to the reason (``"; the last: TOOL STATUS"``).
        """
        breaker, c = self._plan.policy.spec.circuit_breaker, self._log.counters
        errors, blocks = breaker.max_consecutive_tool_errors, breaker.max_blocked_calls
        if errors is not None and c.tool_error_streak >= errors:
            raise Tripped(
                "halted",
                f"circuit breaker: {c.tool_error_streak} tool calls in a row failed "
                f"(policy.circuit_breaker.max_consecutive_tool_errors={errors}){last}",
            )
        if blocks is not None and c.blocks >= blocks:
            raise Tripped(
                "halted",
                f"circuit breaker: {c.blocks} calls were blocked by the policy "
                f"(policy.circuit_breaker.max_blocked_calls={blocks}){last}",
            )

    def tool_limit(self, name: str) -> tuple[float | None, str]:
        """Seconds tool ``name`` may run and the setting that says so."""
        for pattern, seconds in self.timeouts.tools.items():
            if fnmatch.fnmatchcase(name, pattern):
                return seconds, f"timeouts.tools[{pattern!r}]"
        return self.timeouts.tool_s, "timeouts.tool_s"

    def run_deadline(self) -> float | None:
        """``perf_counter`` time the run must end by (``max_seconds``), else None."""
        limit = self._plan.budgets.max_seconds
        return None if limit is None else self._log.started + limit

    def run_limit(self) -> str:
        """The reason for a run past its ``max_seconds``."""
        self._log.tick()
        limit = self._plan.budgets.max_seconds
        assert limit is not None  # the watcher asks only when there is a limit
        return time_budget_reason(self._log.counters.elapsed_s, limit)
