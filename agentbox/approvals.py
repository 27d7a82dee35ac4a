"""Approval requests and decisions for held (yellow) tool calls.

The runner asks an :data:`Approver` for every held call. Non-interactive approvers
(``approve``, ``deny``, ``fail``) live here; the CLI supplies an interactive one and the
``wait`` handler polls the store for a decision made by another process.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agentbox.errors import RunHalted
from agentbox.policy import Decision
from agentbox.store import TraceStore

ApprovalVerdict = Literal["approve", "deny", "fail", "park"]
"""What an approver decides about a held call (the policy's allow/hold/block is
:data:`agentbox.events.PolicyVerdict`)."""


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
            the reason), ``fail`` (halt the run) or ``park`` (leave the run waiting in the
            store for ``agentbox approve``/``deny`` and ``agentbox resume``).
        args: replacement arguments for edit-and-approve, else None.
        reason: free text stored in the trace and shown to the agent on deny.
        by: who decided (a user name, ``ci``, ``timeout``).
    """

    verdict: ApprovalVerdict
    args: dict[str, Any] | None = None
    reason: str = ""
    by: str = "ci"
    extra: dict[str, Any] = field(default_factory=dict)


Approver = Callable[[ApprovalRequest], ApprovalDecision]


def fixed_approver(verdict: ApprovalVerdict, by: str = "ci") -> Approver:
    """An approver that always gives ``verdict`` (``--approve``/``--deny``/``--fail-on-hold``)."""

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        reason = {
            "approve": "auto-approved",
            "deny": "auto-denied",
            "fail": "run set to fail on hold",
            "park": "parked",
        }[verdict]
        return ApprovalDecision(verdict, reason=reason, by=by)

    return decide


def store_waiter(
    store: TraceStore,
    *,
    poll_s: float = 0.2,
    timeout_s: float | None = None,
    on_timeout: Literal["deny", "fail"] = "deny",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    cancelled: Callable[[], bool] | None = None,
) -> Approver:
    """Wait for a decision made by another process (``agentbox approve``, the TUI).

    Polls the approval record every ``poll_s`` seconds; after ``timeout_s`` seconds the
    call is denied (or the run fails), as the scenario's ``approvals.on_timeout`` says.
    When ``cancelled()`` turns true (say, the TUI is closing) the run parks instead, to be
    continued by ``agentbox resume``.

    Raises:
        RunHalted: ``agentbox stop`` asked the run to stop while it waited (status
            ``stopped``).
    """

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        deadline = None if timeout_s is None else clock() + timeout_s
        while True:
            stop = store.stop_request(request.run_id)
            if stop is not None:
                raise RunHalted("stopped", stop.describe())
            row = store.get_approval(request.approval_id)
            if row.status != "pending":
                verdict: ApprovalVerdict = "approve" if row.status == "approved" else "deny"
                return ApprovalDecision(
                    verdict,
                    args=row.edited_args,
                    reason=row.decision_reason or "",
                    by=row.decided_by or "?",
                )
            if cancelled is not None and cancelled():
                return ApprovalDecision("park", reason="stopped waiting", by="agentbox")
            if deadline is not None and clock() >= deadline:
                reason = f"no decision within {timeout_s:g} s"
                if on_timeout == "deny":
                    return ApprovalDecision("deny", reason=reason, by="timeout")
                return ApprovalDecision("fail", reason=reason, by="timeout")
            sleep(poll_s)

    return decide


def user_name(fallback: str = "unknown") -> str:
    """Who is deciding or stopping, as recorded in the trace: the login name, else
    ``$USER``, else ``fallback`` (a container may have no passwd entry)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or fallback
