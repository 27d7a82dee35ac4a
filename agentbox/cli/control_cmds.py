"""The kill switch (``agentbox stop``) and what ``run``/``resume`` print on Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from agentbox.cli.base import StoreOpt, _console, _open_store, _settings, command, fail


def who() -> str:
    """``user@host``: recorded as who stopped a run."""
    from agentbox.approvals import user_name

    user = user_name()
    import socket  # only when a decision is recorded

    return f"{user}@{socket.gethostname()}"


@command("stop")
def stop_cmd(
    run_id: Annotated[
        str | None,
        typer.Argument(help="Run to stop (id or unique prefix).", show_default=False),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Stop every unfinished run.")] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why; recorded on the run with who stopped it.")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Stop a run (or every unfinished run): the kill switch.

    A run executing in another process halts at its next step boundary (before its next
    model or tool call, or while it waits for an approval); a tool call already running
    finishes first. A parked run (awaiting approval) or one whose process died is stopped
    at once and its pending approvals are closed. Either way the run ends with status
    `stopped`, recording who (user@host) and why (--reason); it cannot be resumed, only
    forked. Stopping a run that already finished changes nothing: it says so and exits 0
    (so `stop --all` can be repeated safely). Exit 2 for an unknown run.

    Examples:

      agentbox stop 3fa2 --reason "runaway loop"

      agentbox stop --all --reason "incident 42: halt every agent"
    """
    from agentbox.lifecycle import stop_run

    if (run_id is None) == (not all_):
        fail("name one run or pass --all", "e.g. agentbox stop 3fa2, or agentbox stop --all")
    trace_store = _open_store(_settings(), store)
    console = _console()
    if all_:
        runs = [r for r in trace_store.list_runs(limit=None) if not r.finished]
        if not runs:
            console.print("no unfinished runs: nothing to stop")
            return
    else:
        assert run_id is not None
        runs = [trace_store.get_run(run_id)]
    by = who()
    for run in runs:
        outcome = stop_run(trace_store, run.id, by=by, reason=reason)
        now = trace_store.get_run(run.id)
        if outcome == "finished":
            console.print(f"run {now.id} already {now.status}: nothing to stop")
        elif outcome == "stopped":
            console.print(f"stopped run {now.id} ({run.display_status} until now) as {by}")
        else:
            console.print(
                f"asked run {now.id} to stop as {by}: its process halts it at its next "
                "step boundary"
            )


def interrupted(trace_store: Any, run_id: str, store: Path | None) -> NoReturn:
    """Ctrl-C during ``run``/``resume``: say which run is left and how to go on; exit 130."""
    from rich.markup import escape

    from agentbox.lifecycle import incomplete_writes, undecided_hold

    err = _console(stderr=True)
    run = trace_store.get_run(run_id)
    where = f" --store {store}" if store is not None else ""
    resume = f"agentbox resume {run.id}{where}"
    steps = trace_store.step_count(run.id)
    err.print(f"\ninterrupted: run {run.id} is not finished ({steps} steps recorded)")
    if incomplete_writes(trace_store.steps(run.id)):
        resume += " --incomplete retry   (or --incomplete skip)"
    hold = undecided_hold(trace_store, run)
    if hold is not None:
        err.print(
            f"  decide:  agentbox approve {hold.id}{where}   |   agentbox deny {hold.id}{where}"
        )
    err.print(f"  resume:  {escape(resume)}", soft_wrap=True)
    raise typer.Exit(130)
