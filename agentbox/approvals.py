"""Approval requests and decisions for held (yellow) tool calls.

The runner asks an :data:`Approver` for every held call. Non-interactive approvers
(``approve``, ``deny``, ``fail``) live here; the CLI supplies an interactive one and the
``wait`` handler polls the store for a decision made by another process.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from agentbox.errors import RunHalted
from agentbox.policy import Decision
from agentbox.store import StepRow, TraceStore

if TYPE_CHECKING:
    from agentbox.policy import Policy
    from agentbox.sandbox.tools import ToolSpec
    from agentbox.scenario import ApprovalsSpec

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


@dataclass(frozen=True)
class EditCheck:
    """Edited arguments of a held call, checked as the runner will use them.

    Attributes:
        args: the schema-validated (normalised) arguments, None when invalid.
        errors: one sentence per problem ([] when ``args`` may be used).
        recheck: the policy's verdict on ``args`` (None when invalid).
    """

    args: dict[str, Any] | None
    errors: list[str]
    recheck: Decision | None = None

    @property
    def blocked(self) -> bool:
        """Whether the policy blocks the edited arguments."""
        return self.recheck is not None and self.recheck.verdict == "block"

    @property
    def ok(self) -> bool:
        """Whether the edited arguments may be used."""
        return self.args is not None and not self.blocked


def check_edit(spec: ToolSpec | None, policy: Policy, tool: str, raw: dict[str, Any]) -> EditCheck:
    """Validate edited arguments for ``tool`` (schema, then policy): the one check used by
    the runner, ``agentbox approve --edit``, the terminal prompt and the TUI.

    Args:
        spec: the tool (None: the sandbox has no such tool any more).
        policy: the run's policy; ``raw``: the edited arguments (all of them).
    """
    if spec is None:
        return EditCheck(None, [f"the sandbox has no tool {tool!r}"])
    args, errors = spec.validate(raw)
    if args is None:
        return EditCheck(None, list(errors))
    recheck = policy.check(tool, args)
    if recheck.verdict == "block":
        return EditCheck(args, [f"blocked by policy ({recheck.rule}): {recheck.reason}"], recheck)
    return EditCheck(args, [], recheck)


@dataclass(frozen=True)
class RecordedHold:
    """How one held call was decided in a recording: the held ``tool`` and its decision."""

    tool: str
    decision: ApprovalDecision


_VERDICTS: dict[str, ApprovalVerdict] = {
    "approved": "approve",
    "edited": "approve",
    "denied": "deny",
}


def recorded_holds(steps: list[StepRow]) -> list[RecordedHold]:
    """The decisions a run's ``approval`` steps got, in order (``approved``/``edited`` ->
    approve with the edited arguments, ``denied`` -> deny, anything else -> fail)."""
    out = []
    for step in steps:
        if step.kind != "approval":
            continue
        d = step.data
        verdict = _VERDICTS.get(step.status, "fail")
        args = d.get("edited_args") if step.status == "edited" else None
        by = d.get("decided_by") or "replay"
        decision = ApprovalDecision(verdict, args=args, reason=d.get("reason") or "", by=by)
        out.append(RecordedHold(d.get("tool", step.name or ""), decision))
    return out


def replay_approver(holds: list[RecordedHold], fallback: Approver | None = None) -> Approver:
    """Decide held calls with recorded decisions, in order (a replay, a suite case).

    When the recording has no decision left (or the next one is for another tool), the
    ``fallback`` decides (``--live``); without one the hold fails the run, naming the call.
    """
    queue = list(holds)

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        if queue and queue[0].tool == request.tool:
            return queue.pop(0).decision
        if fallback is not None:
            return fallback(request)
        why = (
            f"the recording has a decision for {queue[0].tool}, not {request.tool}"
            if queue
            else "the recording has no decision for this hold"
        )
        rule = request.decision.rule
        return ApprovalDecision(
            "fail", reason=f"{why} ({request.tool} held by rule {rule!r})", by="replay"
        )

    return decide


def parse_edits(items: list[str]) -> dict[str, Any]:
    """``['amount_usd=180', 'note="x"']`` -> ``{'amount_usd': 180, 'note': 'x'}`` (values
    are JSON when they parse as JSON, else strings).

    Raises:
        ValueError: an item is not ``key=value``.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def stop_aware(ask: Approver, store: TraceStore) -> Approver:
    """``ask``, then halt the run if ``agentbox stop`` came while it waited.

    Raises:
        RunHalted: status ``stopped``.
    """

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        decision = ask(request)
        stop = store.stop_request(request.run_id)
        if stop is not None:
            raise RunHalted("stopped", stop.describe())
        return decision

    return decide


def _no_terminal(request: ApprovalRequest) -> ApprovalDecision:
    return ApprovalDecision(
        "fail",
        reason="no terminal to ask for approval; pass --approve, "
        "--deny or --detach, or set `approvals:` in the scenario",
    )


def approver_for(
    spec: ApprovalsSpec,
    store: TraceStore,
    *,
    detach: bool = False,
    ask: Callable[[], Approver] | None = None,
) -> Approver:
    """The approver a run gets from its ``approvals:`` section and how it was started.

    Args:
        spec: the run's approvals (``handler``, ``timeout_s``, ``on_timeout``).
        store: where ``wait`` polls for decisions and stop requests are read.
        detach: park every hold (``--detach``).
        ask: makes the approver that asks a person (the ``prompt`` handler), or None
            when nobody can be asked (no terminal, ``--json``): such holds fail the run.
    """
    if detach:
        return fixed_approver("park")
    handler = spec.handler
    if handler == "wait":
        return store_waiter(store, timeout_s=spec.timeout_s, on_timeout=spec.on_timeout)
    if handler in ("approve", "deny", "fail"):
        return fixed_approver(handler)
    if ask is not None:
        return stop_aware(ask(), store)
    return _no_terminal
