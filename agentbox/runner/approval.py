"""The approval gate: a held (yellow) tool call is recorded, decided and acted on.

:meth:`ApprovalGate.hold` records an ``approval`` step (status ``pending``) and the
approval row, shows the run as waiting, and asks for a decision (:meth:`decide`): one
already made while the run was parked (``agentbox approve``/``deny``), else the
approver's -- which may park the run (:class:`~agentbox.runner.signals.Parked`) or fail
it. Edited arguments are checked like the original call (:func:`~agentbox.approvals.
check_edit`); secret arguments the store never held cannot be approved. The decision is
stored on the approval step, then the call is denied (a ``tool`` step the agent sees) or
executed by the tool gate.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any, NoReturn

from agentbox.approvals import ApprovalDecision, ApprovalRequest, check_edit
from agentbox.errors import RunHalted
from agentbox.policy import Decision
from agentbox.redact import redacted_paths
from agentbox.runner.signals import Interrupted, Parked

if TYPE_CHECKING:
    from agentbox.agents.context import ToolResult
    from agentbox.runner.core import Runner
    from agentbox.store import StepRow

__all__ = ["ApprovalGate"]


class ApprovalGate:
    """Holds, decisions and their records for one run."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def hold(
        self,
        name: str,
        args: dict[str, Any],
        call_id: str,
        decision: Decision,
        data: dict[str, Any],
    ) -> ToolResult:
        """Record a held call and act on its decision (``data``: the tool step's data)."""
        runner, log = self._runner, self._runner.log
        log.counters.holds += 1
        hold = log.new_step(
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
        runner.store.update_run(
            runner.run_id, status="awaiting_approval", counters=log.counters.to_json()
        )
        runner.store.add_approval(
            hold.data["approval_id"],
            runner.run_id,
            hold.idx,
            name,
            args,
            decision.rule,
            decision.reason,
        )
        runner.record(hold)
        return self.decide(hold, data)

    def decide(self, hold: StepRow, data: dict[str, Any]) -> ToolResult:
        """Get a decision for a held call (``hold``: its approval step) and act on it.

        Raises:
            Parked: the approver parked the run.
            RunHalted: the hold failed the run (or ``agentbox stop`` came meanwhile).
        """
        runner, counters = self._runner, self._runner.log.counters
        name, args = hold.data["tool"], hold.data["args"]
        decision = Decision(**hold.data["decision"])
        verdict = self._verdict(hold, decision)
        if verdict.verdict == "fail":
            self._fail(hold, verdict, decision)
        verdict, final_args, final_decision = self._settle(name, args, decision, verdict)
        status = self._store_decision(hold, verdict, final_args)
        data.update(
            args=final_args, decision=final_decision.to_json(), approval_id=hold.data["approval_id"]
        )
        if status == "denied":
            counters.denials += 1
            why = verdict.reason or "no reason given"
            return runner.tools.finish(
                runner.log.new_step("tool", name, data=data),
                "denied",
                f"Error: denied by approver ({verdict.by}): {why}",
            )
        counters.approvals += 1
        runner.prefix.leave_if_done()  # a case's fork edit due right after this decision
        if runner.edited_results and runner.edited_results[0][0] == name:
            return runner.tools.edited_result(name, data)
        return runner.tools.execute(name, final_args, data)

    def _verdict(self, hold: StepRow, decision: Decision) -> ApprovalDecision:
        """The decision made while the run was parked, else the approver's."""
        runner = self._runner
        approval_id = hold.data["approval_id"]
        stored = runner.store.get_approval(approval_id)
        if stored.status != "pending":  # decided by someone while the run was parked
            return ApprovalDecision(
                "approve" if stored.status == "approved" else "deny",
                args=stored.edited_args,
                reason=stored.decision_reason or "",
                by=stored.decided_by or "unknown",
            )
        runner.store.update_run(
            runner.run_id, status="awaiting_approval", counters=runner.log.counters.to_json()
        )
        name, args = hold.data["tool"], hold.data["args"]
        request = ApprovalRequest(approval_id, runner.run_id, hold.idx, name, args, decision)
        waited = time.perf_counter()
        try:
            with runner.guard.blocking("approval", name, None, ""):
                verdict = runner.approver(request)
        except RunHalted as halt:  # `agentbox stop` reached the approver: one kind of stop
            if halt.status != "stopped" or isinstance(halt, Interrupted):
                raise
            raise Interrupted(halt.status, halt.reason) from None
        runner.log.started += time.perf_counter() - waited  # waiting is not run time
        if verdict.verdict == "park":
            raise Parked(approval_id)
        runner.store.update_run(runner.run_id, status="running")
        return verdict

    def _fail(self, hold: StepRow, verdict: ApprovalDecision, decision: Decision) -> NoReturn:
        """Mark the hold ``failed`` and halt the run."""
        hold.status, hold.data = "failed", {**hold.data, "reason": verdict.reason}
        self._runner.log.amend(hold, status=hold.status, data=hold.data)
        raise RunHalted(
            "halted",
            f"{hold.data['tool']} held by rule {decision.rule!r} ({decision.reason}); "
            f"{verdict.reason or 'not approved'}",
        )

    def _settle(
        self, name: str, args: dict[str, Any], decision: Decision, verdict: ApprovalDecision
    ) -> tuple[ApprovalDecision, dict[str, Any], Decision]:
        """``(verdict, arguments, decision)`` once edited arguments are checked: invalid or
        blocked edits, and secrets the store never held, turn an approval into a denial."""
        final_args, final_decision = args, decision
        if verdict.verdict == "approve" and verdict.args is not None:
            plan = self._runner.plan
            check = check_edit(plan.tool(name), plan.policy, name, verdict.args)
            if check.args is None:
                verdict = ApprovalDecision(
                    "deny",
                    reason="edited arguments invalid: " + "; ".join(check.errors),
                    by=verdict.by,
                )
            else:
                final_args = check.args
                recheck = check.recheck
                assert recheck is not None
                if check.blocked:
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
        return verdict, final_args, final_decision

    def _store_decision(
        self, hold: StepRow, verdict: ApprovalDecision, final_args: dict[str, Any]
    ) -> str:
        """Store the decision on the approval row and step; returns the step's status
        (``approved``, ``edited`` or ``denied``)."""
        args = hold.data["args"]
        status = "approved" if verdict.verdict == "approve" else "denied"
        edited_args = final_args if final_args != args else None
        if status == "approved" and edited_args is not None:
            status = "edited"
        self._runner.store.decide_approval(
            hold.data["approval_id"],
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
        self._runner.log.amend(hold, emit=True, status=status, data=hold.data)
        return status
