"""The scenario settings a project can default in ``.agentbox.toml``: budgets and the
approval handler.

They live apart from :mod:`agentbox.scenario` (which re-exports them) so reading the
settings, which every command does, builds neither the scenario models nor imports YAML:
``agentbox show`` and ``agentbox runs`` need neither (~50 ms of start-up).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ApprovalHandler = Literal["prompt", "approve", "deny", "fail", "wait"]
"""How held calls are decided: see :class:`agentbox.scenario.ApprovalsSpec`."""


class Budgets(BaseModel):
    """Limits that halt the run when exceeded. Absent means unlimited."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int | None = Field(None, ge=1)
    """Most trace steps (model turns, tool calls, approvals) in the run."""
    max_tool_calls: int | None = Field(None, ge=0)
    """Most tool calls (valid or not)."""
    max_tokens: int | None = Field(None, ge=0)
    """Most tokens (input + output) over all model calls."""
    max_cost_usd: float | None = Field(None, ge=0)
    """Most model cost in USD (unknown prices do not count toward it)."""
    max_seconds: float | None = Field(None, gt=0)
    """Most wall-clock seconds for the run."""
