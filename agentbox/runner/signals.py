"""What ends a run early, as raised through the agent's code, and small shared helpers.

Every signal here is a BaseException so an agent's ``except Exception`` cannot swallow it;
the runner keeps the first one it raised (:class:`~agentbox.runner.guard.AgentThread`'s
sticky stop) and raises it again at every later call.
"""

from __future__ import annotations

import math
from typing import Any

from agentbox.errors import AgentboxError, RunHalted

__all__ = ["Abandoned", "Diverged", "Fatal", "Interrupted", "Parked", "Tripped"]


class Parked(BaseException):
    """The approver parked a held call: the run waits in the store for a decision."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(approval_id)
        self.approval_id = approval_id


class Tripped(RunHalted):
    """The policy's circuit breaker halted the run."""

    step_name = "circuit_breaker"


class Interrupted(RunHalted):
    """The run was asked to stop (``agentbox stop``, :meth:`Runner.interrupt`).

    Recorded exactly like a stop the watcher takes over (a ``policy`` step named after the
    status with ``cause: interrupt``), whichever thread saw it first.
    """

    cause = "interrupt"

    @property
    def step_name(self) -> str:
        """The policy step is named after the status (``stopped``)."""
        return self.status


class Abandoned(BaseException):
    """Raised on an agent thread the runner stopped waiting for (timeout, Ctrl-C)."""


class Fatal(BaseException):
    """A tool raised a BaseException (SystemExit, KeyboardInterrupt...): the run fails.

    Raised again at every later call into the runner, so an agent swallowing it cannot
    carry on.
    """

    def __init__(self, error: BaseException, where: str, trace: str) -> None:
        super().__init__(f"{describe(error)} (raised by {where})")
        self.error = error
        self.reason = str(self)
        self.trace = trace


class Diverged(AgentboxError):
    """The agent made a different call than the recording it is being replayed against."""


def describe(error: BaseException) -> str:
    """``Type: message`` (or just ``Type``) for a run's reason."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def finite(value: Any) -> Any:
    """``value`` with NaN/infinite floats replaced by their names (the trace stays JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # 'nan', 'inf', '-inf'
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
