"""Commands on stored runs: approvals, approve, deny, resume, fork, replay, diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentbox.cli.base import (
    JsonOpt,
    StoreOpt,
    _console,
    _open_store,
    _settings,
    command,
    fail,
    to_json,
    user_output_to_stderr,
)
from agentbox.cli.commands import make_approver, report_result, step_observer

if TYPE_CHECKING:
    from agentbox.store import StepRow


def escape(text: str) -> str:
    """rich markup escaping, imported when a command prints (rich: ~30 ms at start-up)."""
    from rich.markup import escape as markup_escape

    return markup_escape(text)


QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Print only the summary (and any call held for approval)."),
]


@command("approvals")
def approvals_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Include decided approvals.")] = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List approvals waiting for a decision, across runs.

    Examples:

      agentbox approvals

      agentbox approvals --all --json
    """
    from rich.table import Table

    from agentbox.cli.render import call_text, short

    trace_store = _open_store(_settings(), store)
    rows = trace_store.approvals(status=None if all_ else "pending")
    if as_json:
        print(to_json([r.__dict__ for r in rows]))
        return
    console = _console()
    if not rows:
        console.print("no pending approvals" if not all_ else "no approvals")
        return
    from rich.text import Text

    from agentbox.statuses import style

    # Fixed columns keep their width; the call takes what is left (the status column
    # must survive an 80-column terminal, so `by` goes first below 100 columns).
    wide = console.width >= 100
    rule_w, by_w = 14, 12
    fixed = 11 + 10 + 4 + 8 + rule_w + (by_w if wide else 0) + (7 if wide else 6)
    call_w = max(12, min(60, console.width - fixed))
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    columns = ("approval", "run", "step", "call", "rule", "status", *(("by",) if wide else ()))
    for col in columns:
        table.add_column(col, no_wrap=True)
    for r in rows:
        table.add_row(
            r.id,
            r.run_id,
            str(r.step),
            Text(short(call_text(r.tool, r.args), call_w)),
            Text(short(r.rule or "-", rule_w)),
            Text(r.status, style=style(r.status)),
            *((short(r.decided_by or "-", by_w),) if wide else ()),
        )
    console.print(table)


def _decide(
    approval_id: str,
    approve: bool,
    edit: list[str],
    reason: str | None,
    store: Path | None,
    by: str | None,
) -> None:
    # start-up cost: approvals loads the policy and the store
    from agentbox.approvals import check_edit, parse_edits, user_name
    from agentbox.lifecycle import plan_for_run

    settings = _settings()
    trace_store = _open_store(settings, store)
    row = trace_store.get_approval(approval_id)
    if row.status != "pending":
        fail(f"approval {row.id} was already {row.status} by {row.decided_by}")
    edited: dict[str, Any] | None = None
    if edit:
        try:
            edited = {**row.args, **parse_edits(edit)}
        except ValueError as exc:
            fail(str(exc), "use --edit key=value, e.g. --edit amount_usd=180")
        plan = plan_for_run(trace_store, trace_store.get_run(row.run_id), settings)
        spec = plan.tool(row.tool)
        if spec is None:
            fail(f"tool {row.tool} no longer exists in sandbox {plan.sandbox.name}")
        check = check_edit(spec, plan.policy, row.tool, edited)
        if not check.ok:
            what = "" if check.blocked else f"invalid for {row.tool}: "
            fail(f"edited arguments are {what}" + "; ".join(check.errors))
        edited = check.args

    who = by or user_name()
    status = "approved" if approve else "denied"
    if not trace_store.decide_approval(row.id, status, by=who, reason=reason, edited_args=edited):
        fail(f"approval {row.id} was decided by someone else meanwhile")
    run = trace_store.get_run(row.run_id)
    console = _console()
    console.print(f"{status} {row.id} ({row.tool}) for run {run.id} as {who}", markup=False)
    if run.status == "awaiting_approval" and not run.live:
        console.print(f"the run is parked: continue it with  agentbox resume {run.id}")


EditOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--edit", help="Change an argument before approving: key=value (JSON value). Repeatable."
    ),
]
ReasonOpt = Annotated[
    str | None,
    typer.Option("--reason", help="Why; stored in the trace and shown to the agent on deny."),
]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who decides (default: your user name).")]


@command("approve")
def approve_cmd(
    approval_id: Annotated[
        str, typer.Argument(help="Approval id (or unique prefix).", show_default=False)
    ],
    edit: EditOpt = None,
    reason: ReasonOpt = None,
    by: ByOpt = None,
    store: StoreOpt = None,
) -> None:
    """Approve a held tool call, optionally with edited arguments.

    Edited arguments are validated against the tool's schema and re-checked by the policy.
    A run waiting in another process continues within a second; a parked run continues
    with `agentbox resume`.

    Examples:

      agentbox approve ap_3f2a

      agentbox approve ap_3f2a --edit amount_usd=180 --reason "partial refund"
    """
    _decide(approval_id, True, edit or [], reason, store, by)


@command("deny")
def deny_cmd(
    approval_id: Annotated[
        str, typer.Argument(help="Approval id (or unique prefix).", show_default=False)
    ],
    reason: ReasonOpt = None,
    by: ByOpt = None,
    store: StoreOpt = None,
) -> None:
    """Deny a held tool call; the agent gets the reason as the tool's result.

    Examples:

      agentbox deny ap_3f2a --reason "needs photos of the damage"
    """
    _decide(approval_id, False, [], reason, store, by)


@command("resume")
def resume_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id (or unique prefix).", show_default=False)],
    incomplete: Annotated[
        str | None,
        typer.Option(
            "--incomplete",
            help="A write that started but never recorded its result: `retry` it or `skip` it.",
        ),
    ] = None,
    approve: Annotated[
        bool,
        typer.Option(
            "--approve", help="Approve held calls, including the one the run is parked at."
        ),
    ] = False,
    deny: Annotated[
        bool,
        typer.Option("--deny", help="Deny held calls, including the one the run is parked at."),
    ] = False,
    detach: Annotated[
        bool, typer.Option("--detach", help="Park again at the next held call.")
    ] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Continue a parked or interrupted run from its last checkpoint.

    Recorded steps are not re-executed; a decided approval is applied; a write whose result
    was never recorded is reported and only repeated with --incomplete retry.

    A run parked on an approval nobody has decided (say, by `run --detach`) waits for an
    explicit decision: the scenario's `approvals: approve/deny/fail` does not decide it.
    Resume refuses (exit 2, naming the approval) unless you decide it first with
    `agentbox approve`/`deny`, pass --approve/--deny here, or the scenario's handler asks
    a person (`prompt` at a terminal, `wait` for `agentbox approve` from elsewhere).

    Examples:

      agentbox resume 3fa2

      agentbox approve ap_3f2a && agentbox resume 3fa2

      agentbox resume 3fa2 --incomplete skip

      agentbox resume 3fa2 -q
    """
    import sys

    from agentbox.lifecycle import (
        check_resumable,
        plan_for_run,
        refuse_undecided,
        resume_run,
        undecided_hold,
    )

    if incomplete not in (None, "retry", "skip"):
        fail("--incomplete must be retry or skip")
    settings = _settings()
    trace_store = _open_store(settings, store)
    run = trace_store.get_run(run_id)
    check_resumable(trace_store, run, incomplete)  # type: ignore[arg-type]  # errors before output
    handler = "approve" if approve else "deny" if deny else None
    plan = plan_for_run(trace_store, run, settings)
    spec = plan.approvals.model_copy(update={"handler": handler}) if handler else plan.approvals
    hold = undecided_hold(trace_store, run)
    if hold is not None:  # only a person (or an explicit flag) decides a parked hold
        asks = spec.handler == "wait" or (
            spec.handler == "prompt" and sys.stdin.isatty() and not as_json
        )
        if detach or not (handler or asks):
            raise refuse_undecided(run, hold)
    console = _console()
    approver = make_approver(
        spec, trace_store, console, detach=detach, interactive=not as_json, plan=plan
    )
    if not (as_json or quiet):
        console.print(
            f"[bold]resuming run {run.id}[/] · {escape(run.scenario)} · after step "
            f"{trace_store.step_count(run.id) - 1}"
        )
    try:
        with user_output_to_stderr(as_json):  # a printing tool must not break the JSON
            result = resume_run(
                trace_store,
                run.id,
                settings,
                approver=approver,
                incomplete=incomplete,  # type: ignore[arg-type]
                on_step=step_observer(console, as_json=as_json, quiet=quiet),
            )
    except KeyboardInterrupt:
        from agentbox.cli.control_cmds import interrupted

        interrupted(trace_store, run.id, store)
    report_result(console, trace_store, result, run.mode, as_json=as_json, quiet=quiet)


@command("fork")
def fork_cmd(
    run_id: Annotated[
        str, typer.Argument(help="Run to fork (id or unique prefix).", show_default=False)
    ],
    at: Annotated[
        int,
        typer.Option("--at", help="Step to fork at: steps before it are reused, not re-executed."),
    ],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Edit the state at the fork: PATH=VALUE, e.g. orders.ord_5531.status=shipped (JSON value). Repeatable.",
        ),
    ] = None,
    state_file: Annotated[
        Path | None,
        typer.Option("--state-file", help="Replace the whole state with this file or folder."),
    ] = None,
    tool_result: Annotated[
        str | None,
        typer.Option(
            "--tool-result",
            help="Replace the result of the tool call at --at (it is not executed).",
        ),
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", help="Add a user message before the next model call.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Continue with another model.")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Continue under the policy in this YAML file.")
    ] = None,
    approve: Annotated[bool, typer.Option("--approve", help="Approve held calls.")] = False,
    deny: Annotated[bool, typer.Option("--deny", help="Deny held calls.")] = False,
    live_state: Annotated[
        bool,
        typer.Option(
            "--live-state",
            help="Read the parent's database again (a new snapshot) instead of what it recorded.",
        ),
    ] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Start a new run from step N of a stored run, with edits applied at N.

    Steps before N are copied from the parent exactly (model calls are not repeated); the
    new run records its parent and fork step.

    Examples:

      agentbox fork 3fa2 --at 3 --set orders.ord_5531.total_usd=150

      agentbox fork 3fa2 --at 4 --tool-result '{"error": "timeout"}'

      agentbox fork 3fa2 --at 2 --model openai/gpt-4o-mini --message "Be brief."

      agentbox fork 3fa2 --at 3 --live-state

      agentbox fork 3fa2 --at 4 --tool-result '{"status": "delivered"}' -q
    """
    from agentbox.approvals import parse_edits  # start-up cost (policy, store)
    from agentbox.lifecycle import ForkEdits, fork_run

    try:
        sets = parse_edits(set_ or [])
    except ValueError as exc:
        fail(str(exc), "use --set collection.key.field=value")
    settings = _settings()
    trace_store = _open_store(settings, store)
    parent = trace_store.get_run(run_id)
    handler = "approve" if approve else "deny" if deny else None
    console = _console()
    edits = ForkEdits(sets, state_file, tool_result, message, model, policy, live_state or None)
    last = trace_store.step_count(parent.id) - 1
    if not 0 <= at <= last:
        fail(f"run {parent.id} has steps 0..{last}; cannot fork at {at}")
    if not (as_json or quiet):
        console.print(f"[bold]forking run {parent.id} at step {at}[/] · {escape(parent.scenario)}")
    from agentbox.lifecycle import plan_for_run

    plan = plan_for_run(trace_store, parent, settings)
    spec = plan.approvals.model_copy(update={"handler": handler}) if handler else plan.approvals
    approver = make_approver(spec, trace_store, console, interactive=not as_json, plan=plan)
    forked: list[str] = []

    def on_step(step: StepRow) -> None:
        if not forked:
            forked.append(step.run_id)
        if printer is not None:  # --json prints nothing per step
            printer(step)

    printer = step_observer(console, as_json=as_json, quiet=quiet)
    try:
        with user_output_to_stderr(as_json):  # a printing tool must not break the JSON
            result = fork_run(
                trace_store, parent.id, at, settings, edits, approver=approver, on_step=on_step
            )
    except KeyboardInterrupt:
        from agentbox.cli.control_cmds import interrupted

        if not forked:
            _console(stderr=True).print("\ninterrupted before the fork recorded a step")
            raise typer.Exit(130) from None
        interrupted(trace_store, forked[0], store)
    if live_state:  # say how the live snapshot differs from the one the parent read
        old, new = (
            (r.options.get("state_source") or {}).get("snapshot")
            for r in (parent, trace_store.get_run(result.run_id))
        )
        same = "the same snapshot" if old == new else "a newer snapshot"
        (_console(stderr=True) if as_json else console).print(
            f"live state: {same} ({new}; the parent read {old})", soft_wrap=True
        )
    report_result(console, trace_store, result, parent.mode, as_json=as_json, quiet=quiet)


@command("replay")
def replay_cmd(
    run_id: Annotated[
        str, typer.Argument(help="Run to replay (id or unique prefix).", show_default=False)
    ],
    on_miss: Annotated[
        str,
        typer.Option(
            "--on-miss",
            help="strict: a changed model request fails the replay; live: ask the real model from the first miss on.",
        ),
    ] = "strict",
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            hidden=True,
            help="Deprecated: --on-miss (strict | live-on-miss).",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="On a cassette miss, show the whole request (default: the changed messages only).",
        ),
    ] = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Re-run a stored run from its cassette (no model access) and compare step by step.

    Model responses come from the recording; tools run for real on the recorded seed; the
    scenario is read from its file as it is now. Exit 0 when the step lists are identical.
    A cassette miss shows the changed lines of the changed messages (-v: whole requests).

    Examples:

      agentbox replay 3fa2

      agentbox replay 3fa2 --on-miss live

      agentbox replay 3fa2 -v
    """
    from agentbox.lifecycle import replay_run

    if mode is not None:  # the old name, kept working (it clashed with `run --mode`)
        _console(stderr=True).print(
            "[yellow]warning:[/] replay --mode is deprecated; use --on-miss strict|live"
        )
        on_miss = {"live-on-miss": "live"}.get(mode, mode)
    if on_miss not in ("strict", "live"):
        fail(f"--on-miss must be strict or live (got {on_miss!r})")
    mode = "live-on-miss" if on_miss == "live" else "strict"
    settings = _settings()
    trace_store = _open_store(settings, store)
    rep = replay_run(trace_store, run_id, settings, mode=mode)
    run = trace_store.get_run(rep.result.run_id)
    if as_json:
        print(
            to_json(
                {
                    "replay_run_id": run.id,
                    "replay_of": run.replay_of,
                    "identical": rep.identical,
                    "status": run.status,
                    "reason": run.reason,
                    "differences": rep.differences,
                    "miss_full": rep.miss_full,
                }
            )
        )
        raise typer.Exit(0 if rep.identical else 1)
    console = _console()
    from rich.markup import escape

    if rep.identical:
        console.print(
            f"[green]identical[/]: replay {run.id} of {run.replay_of} reproduced "
            f"{trace_store.step_count(run.id)} steps"
        )
        raise typer.Exit(0)
    console.print(f"[red]replay {run.id} of {run.replay_of} differs[/] (status {run.status})")
    if verbose and rep.miss_full:
        console.print(escape(rep.miss_full), soft_wrap=True)
    elif run.reason:
        console.print(escape(run.reason), soft_wrap=True)
    for line in rep.differences[:20]:
        console.print("  " + escape(line))
    raise typer.Exit(1)


def _version_json(trace_store: Any, a: str, b: str) -> dict[str, Any]:
    """The two runs' agent versions and what changed between them (``diff --json``)."""
    from agentbox.versions import version_changes

    va, vb = trace_store.run_version(a), trace_store.run_version(b)
    return {
        "a": va.fingerprint if va else None,
        "b": vb.fingerprint if vb else None,
        "changes": [c.to_json() for c in version_changes(va.parts, vb.parts)]
        if va and vb and va.fingerprint != vb.fingerprint
        else [],
    }


@command("diff")
def diff_cmd(
    run_a: Annotated[str, typer.Argument(help="First run.", show_default=False)],
    run_b: Annotated[str, typer.Argument(help="Second run.", show_default=False)],
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Compare two runs: first divergent step, tool calls, final state, cost and tokens.

    Examples:

      agentbox diff 3fa2 9c41
    """
    from rich.markup import escape

    from agentbox.cli.render import call_text, changes_table
    from agentbox.lifecycle import compare_steps, final_state_diff

    trace_store = _open_store(_settings(), store)
    a, b = trace_store.get_run(run_a), trace_store.get_run(run_b)
    sa, sb = trace_store.steps(a.id), trace_store.steps(b.id)
    differences = compare_steps(sa, sb)
    changes = final_state_diff(trace_store, a, b)
    calls_a = [call_text(s.name, s.data.get("args")) for s in sa if s.kind == "tool"]
    calls_b = [call_text(s.name, s.data.get("args")) for s in sb if s.kind == "tool"]
    if as_json:
        print(
            to_json(
                {
                    "a": a.id,
                    "b": b.id,
                    "differences": differences,
                    "tool_calls": {"a": calls_a, "b": calls_b},
                    "state": [
                        {"collection": c, "key": k, "a": x, "b": y} for c, k, x, y in changes
                    ],
                    "counters": {"a": a.counters, "b": b.counters},
                    "version": _version_json(trace_store, a.id, b.id),
                }
            )
        )
        return
    console = _console()
    console.print(
        f"[bold]{a.id}[/] ({escape(a.scenario)}, {a.status}) vs "
        f"[bold]{b.id}[/] ({escape(b.scenario)}, {b.status})"
    )
    console.print(
        "first divergence: " + (escape(differences[0]) if differences else "none — same steps")
    )
    if differences and differences[0].partition(": ")[2].startswith("fork of "):
        after = differences[1] if len(differences) > 1 else "none — same steps"
        console.print("after the fork: " + escape(after))
    import difflib

    for line in difflib.unified_diff(calls_a, calls_b, "a", "b", lineterm="", n=0):
        if not line.startswith(("---", "+++", "@@")):
            console.print("  " + escape(line))
    if changes:
        console.print(changes_table(changes, "final state: a → b"))
    from agentbox.cli.compare_cmds import print_version_changes

    print_version_changes(trace_store.run_version(a.id), trace_store.run_version(b.id))
    for key in ("steps", "tool_calls", "input_tokens", "output_tokens", "cost_usd"):
        va, vb = a.counters.get(key, 0), b.counters.get(key, 0)
        mark = "" if va == vb else "  [yellow]≠[/]"
        console.print(f"  {key:<14} {json.dumps(va):>10} {json.dumps(vb):>10}{mark}")
