"""Approval requests and decisions for held (yellow) tool calls.

The runner asks an :data:`Approver` for every held call. Non-interactive approvers
(``approve``, ``deny``, ``fail``) live here; the CLI supplies an interactive one and the
``wait`` handler polls the store for a decision made by another process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agentbox.policy import Decision

Verdict = Literal["approve", "deny", "fail"]


@dataclass(frozen=True)
class ApprovalRequest:
    """A held tool call waiting for a decision.

    Attributes:
        approval_id: id of the stored approval record (``ap_...``).
        run_id: the run that is waiting.
        step: the approval step's index.
        tool: tool name; ``args``: validated arguments; ``decision``: the hold.
    """

    approval_id: str
    run_id: str
    step: int
    tool: str
    args: dict[str, Any]
    decision: Decision


@dataclass(frozen=True)
class ApprovalDecision:
    """What the approver decided.

    Attributes:
        verdict: ``approve`` (optionally with edited ``args``), ``deny`` (the agent sees
            the reason) or ``fail`` (halt the run, leaving the approval pending).
        args: replacement arguments for edit-and-approve, else None.
        reason: free text stored in the trace and shown to the agent on deny.
        by: who decided (a user name, ``ci``, ``timeout``).
    """

    verdict: Verdict
    args: dict[str, Any] | None = None
    reason: str = ""
    by: str = "ci"
    extra: dict[str, Any] = field(default_factory=dict)


Approver = Callable[[ApprovalRequest], ApprovalDecision]


def fixed_approver(verdict: Verdict, by: str = "ci") -> Approver:
    """An approver that always gives ``verdict`` (``--approve``/``--deny``/``--fail-on-hold``)."""

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        reason = {"approve": "auto-approved", "deny": "auto-denied",
                  "fail": "run set to fail on hold"}[verdict]
        return ApprovalDecision(verdict, reason=reason, by=by)

    return decide
