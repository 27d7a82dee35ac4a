"""What :meth:`Runner.run` returns, and the small types its callers pass in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agentbox.evals import ExpectationResult
from agentbox.policy import Counters
from agentbox.store import StepRow

__all__ = ["Incomplete", "RunResult", "StepObserver"]

StepObserver = Callable[[StepRow], None]
"""Called with every step after it is committed (the runner never prints)."""

Incomplete = Literal["retry", "skip"]
"""What a resume does with a write whose intent was committed but whose result was not."""


@dataclass
class RunResult:
    """How a run ended (or parked).

    Attributes:
        run_id, status (``completed``/``halted``/``failed``/``timeout``/``stopped``/
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
