"""The run/inspect commands: run, runs, show, schema, init."""

from __future__ import annotations

import sys
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
    emit,
    fail,
    to_json,
    user_output_to_stderr,
    watch_and_rerun,
)
from agentbox.cli.trace_cmds import finish_live_export, live_export, observers
from agentbox.errors import AgentboxError

if TYPE_CHECKING:
    from agentbox.approvals import ApprovalDecision, ApprovalRequest, Approver
    from agentbox.runner import RunResult
    from agentbox.store import RunRow, StepRow


def _interactive_approver(console: Any, validate: Any = None) -> Any:
    """Ask y/n/edit on the terminal. ``validate(tool, args) -> [errors]`` checks edits."""
    import shlex

    from rich.markup import escape
    from rich.prompt import Prompt

    from agentbox.approvals import ApprovalDecision, parse_edits, user_name
    from agentbox.cli.render import call_text

    user = user_name()

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        d = request.decision
        console.print(
            f"[magenta]⏸ approval needed[/] {escape(call_text(request.tool, request.args))}"
        )
        console.print(f"  rule [bold]{escape(str(d.rule))}[/]: {escape(str(d.reason))}")
        while True:
            answer = Prompt.ask(
                "  approve? (y = yes, n = no, e = edit the arguments)",
                choices=["y", "n", "e"],
                default="n",
                console=console,
            )
            if answer == "y":
                return ApprovalDecision("approve", reason="approved at the prompt", by=user)
            if answer == "n":
                reason = Prompt.ask("  reason", default="denied at the prompt", console=console)
                return ApprovalDecision("deny", reason=reason, by=user)
            text = Prompt.ask(
                "  edits as key=value (JSON values; quote values with spaces)", console=console
            )
            try:
                edits = parse_edits(shlex.split(text))
            except ValueError as exc:
                console.print(f"  [red]{escape(str(exc))}[/]")
                continue
            errors = validate(request.tool, {**request.args, **edits}) if validate else []
            if errors:
                console.print(f"  [red]{escape('; '.join(errors))}[/] — try again")
                continue
            return ApprovalDecision(
                "approve",
                args={**request.args, **edits},
                reason=f"approved with edits {edits}",
                by=user,
            )

    return decide


def _result_json(run: RunRow, result: RunResult | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run_id": run.id,
        "scenario": run.scenario,
        "status": run.status,
        "reason": run.reason,
        "passed": run.passed,
        "mode": run.mode,
        "model": run.model,
        "output": run.output,
        "counters": run.counters,
        "expectations": run.expectations,
    }
    if result is not None:
        data["changes"] = [
            {"collection": c, "key": k, "before": b, "after": a} for c, k, b, a in result.changes
        ]
        data["recommendations"] = result.recommendations
        data["pending_approval"] = result.pending_approval
    return data


@command("run")
def run_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    mode: Annotated[
        str | None, typer.Option(help="execute | shadow | recommend (overrides the scenario).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Model: `scripted` or a litellm string such as openai/gpt-4o-mini."),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="State snapshot (folder or JSON/YAML file) or database URL (sqlite:///x.db, postgresql://...); required for shadow mode unless the scenario names one.",
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Replace the sandbox's seed data folder.")
    ] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve every held (yellow) call.")
    ] = False,
    deny: Annotated[
        bool, typer.Option("--deny", help="Deny every held call (the agent sees the denial).")
    ] = False,
    fail_on_hold: Annotated[
        bool, typer.Option("--fail-on-hold", help="Halt the run at the first held call.")
    ] = False,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Park the run at the first held call; decide with `agentbox approve`, continue with `agentbox resume`.",
        ),
    ] = False,
    task: Annotated[
        int | None,
        typer.Option("--task", help="Task index, for sandboxes with a task set (e.g. tau_retail)."),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(
            "--label", help="Name this agent version (e.g. v2-shorter-prompt); see `agentbox show`."
        ),
    ] = None,
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Run again whenever the scenario or a sandbox file changes."),
    ] = False,
    otlp: Annotated[
        str | None,
        typer.Option(
            "--otlp",
            help="Also send the run's spans to this collector while it runs (otlp+http://HOST:PORT; default: `otlp` in .agentbox.toml). Never slows or fails the run.",
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Run a scenario: the agent against the sandbox, gated by the policy, traced to the store.

    Prints each step as it happens (reasoning apart from actions, policy verdicts, results)
    and a summary. Exit 0 when the run meets the scenario's expectations, 1 when not, 2 on
    bad input.

    Examples:

      agentbox run scenarios/refund-clean.yaml

      agentbox run scenarios/refund-over-limit.yaml --approve

      agentbox run scenarios/refund-clean.yaml --mode recommend --json

      agentbox run scenarios/shadow-address.yaml --state snapshots/prod.json

      agentbox run sandboxes/tau_retail/task.yaml --task 17

      agentbox run scenarios/refund-clean.yaml --watch
    """
    from rich.markup import escape

    from agentbox.models import LiteLLMModel
    from agentbox.runner import Runner, RunOptions, plan_run

    if sum([approve, deny, fail_on_hold, detach]) > 1:
        fail("choose one of --approve, --deny, --fail-on-hold, --detach")
    if mode is not None and mode not in ("execute", "shadow", "recommend"):
        fail(f"--mode must be one of execute, shadow, recommend (got {mode!r})")
    handler = "approve" if approve else "deny" if deny else "fail" if fail_on_hold else None
    settings = _settings()

    def once() -> None:
        options = RunOptions(
            mode=mode,  # type: ignore[arg-type]  # checked above
            model=model,
            state_path=state,
            data_path=data,
            approvals=handler,
            task=task,
            label=label,
        )
        plan = plan_run(scenario, settings, options)
        for warning in getattr(plan.source.source, "warnings", []) if plan.source else []:
            _console(stderr=True).print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
        if isinstance(plan.model, LiteLLMModel):
            plan.model.check_ready()
        console = _console()
        trace_store = _open_store(settings, store)
        approver = make_approver(
            plan.approvals, trace_store, console, detach=detach, interactive=not as_json, plan=plan
        )
        live = not as_json and not quiet
        spans = live_export(settings, otlp, trace_store)  # None unless --otlp / `otlp` is set
        runner = Runner(
            plan,
            trace_store,
            approver=approver,
            on_step=observers(step_observer(console, as_json=as_json, quiet=quiet), spans),
        )
        if live:
            console.print(
                f"[bold]run {runner.run_id}[/] · {escape(plan.scenario.name)} · sandbox "
                f"{escape(plan.sandbox.name)} · mode {plan.mode} · "
                f"{plan.scenario.agent.type}/{escape(str(plan.model_name))}"
            )
        try:
            with user_output_to_stderr(as_json):  # a printing tool must not break the JSON
                result = runner.run()
        except KeyboardInterrupt:
            from agentbox.cli.control_cmds import interrupted

            interrupted(trace_store, runner.run_id, store)
        finish_live_export(spans, trace_store, runner.run_id)
        report_result(console, trace_store, result, plan.mode, as_json=as_json, quiet=quiet)

    if not watch:
        once()
        return

    def again() -> None:
        try:
            once()
        except typer.Exit:
            pass
        except AgentboxError as exc:  # keep watching: the next save may fix it
            _console(stderr=True).print(f"[red]error:[/] {escape(exc.message)}", soft_wrap=True)

    again()
    watch_and_rerun([scenario.resolve().parent, settings.sandboxes_path], again)


def report_result(
    console: Any,
    trace_store: Any,
    result: RunResult,
    mode: str,
    *,
    as_json: bool,
    quiet: bool = False,
) -> None:
    """Print a finished (or parked) run's summary and exit with its code."""
    from rich.markup import escape

    from agentbox.cli.render import changes_table, run_header, summary_table

    run = trace_store.get_run(result.run_id)
    if as_json:
        steps = {"steps": [s.__dict__ for s in trace_store.steps(run.id)]}
        print(to_json(_result_json(run, result) | steps))
    elif result.status == "awaiting_approval":
        console.print(
            f"\n[magenta]⏸ run {run.id} is parked, waiting for approval "
            f"{result.pending_approval}[/]"
        )
        console.print(
            f"  decide:  agentbox approve {result.pending_approval}   |   "
            f"agentbox deny {result.pending_approval} --reason ..."
        )
        console.print(f"  then:    agentbox resume {run.id}")
    else:
        if quiet:
            console.print(run_header(run))
        console.print()
        console.print(summary_table(run))
        if result.output:
            console.print(f"[bold]output[/]      {escape(result.output)}")
        if result.changes:
            title = "shadow diff (source untouched)" if mode == "shadow" else "state changes"
            console.print(changes_table(result.changes, title))
        if result.recommendations:
            from agentbox.cli.render import call_text

            console.print("[bold]recommended actions (not executed)[/]")
            for rec in result.recommendations:
                d = rec["decision"]
                rule = f" · {d['rule']}" if d["rule"] else ""
                console.print(
                    f"  → {escape(call_text(rec['tool'], rec['args']))}  [dim]policy: "
                    f"{escape(str(d['verdict']) + rule)}[/]"
                )
        _print_expectations(console, run)
        console.print(f"[dim]trace: agentbox show {run.id}[/]")
    parked = result.status == "awaiting_approval"
    raise typer.Exit(0 if result.passed or parked else 1)


def live_printer(console: Any) -> Any:
    """Print steps as they happen; if stdout goes away (``| head``) the run goes on quietly.

    rich's default on a broken pipe is ``SystemExit(1)``, which would abandon the run
    mid-way; here the console just falls silent and the run finishes and is stored.
    """
    import os

    from agentbox.cli.render import print_step

    def silence() -> None:
        console.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # python would fail again at exit

    console.on_broken_pipe = silence
    shown_pending: set[int] = set()

    def show(step: Any) -> None:
        # a decided approval prints only its decision when its hold was already shown
        # (a live hold); a copied one (fork prefix, resume) prints in full
        if step.kind == "approval" and step.status == "pending":
            shown_pending.add(step.idx)
        print_step(console, step, live=step.kind != "approval" or step.idx in shown_pending)

    return show


def held_printer(console: Any) -> Any:
    """A step observer for -q runs: prints only a call held for approval (its
    approval id and the commands that decide it), so a run waiting on `approvals: wait`
    never waits silently."""

    def show(step: StepRow) -> None:
        if step.kind != "approval" or step.status != "pending":
            return
        approval = step.data.get("approval_id")
        console.print(
            f"⏸ step {step.idx}: {_escape(str(step.name))} held, waiting for approval "
            f"{approval}  (agentbox approve {approval}  |  agentbox deny {approval} --reason ...)",
            soft_wrap=True,
        )

    return show


def step_observer(console: Any, *, as_json: bool, quiet: bool) -> Any:
    """What a run/resume/fork prints per step: every step, only held calls (-q), or
    nothing (--json: the output is one JSON document, whose pending_approval names it)."""
    if as_json:
        return None
    return held_printer(console) if quiet else live_printer(console)


def _escape(text: str) -> str:
    from rich.markup import escape  # rich: ~30 ms at start-up, only when printing

    return escape(text)


def make_approver(
    spec: Any,
    trace_store: Any,
    console: Any,
    *,
    detach: bool = False,
    interactive: bool = True,
    plan: Any = None,
) -> Approver:
    """The approver for a run (:func:`agentbox.approvals.approver_for`), asking at this
    terminal when the handler is ``prompt`` and there is one.

    With ``plan``, arguments edited at the prompt are checked (schema and policy) before
    they are accepted.
    """
    from agentbox.approvals import approver_for

    def validate(tool: str, args: dict[str, Any]) -> list[str]:
        if plan is None:
            return []
        from agentbox.approvals import check_edit

        return check_edit(plan.tool(tool), plan.policy, tool, args).errors

    asks = sys.stdin.isatty() and interactive
    ask = (lambda: _interactive_approver(console, validate)) if asks else None
    return approver_for(spec, trace_store, detach=detach, ask=ask)


def _print_expectations(console: Any, run: RunRow) -> None:
    from rich.markup import escape

    if not run.expectations:
        verdict = (
            "[green]passed[/]"
            if run.passed
            else "[red]failed[/] (no expectations; run did not complete)"
        )
        console.print(f"[bold]result[/]      {verdict}")
        return
    failed = [e for e in run.expectations if not e["passed"]]
    word = "[green]passed[/]" if not failed else "[red]failed[/]"
    console.print(
        f"[bold]expectations[/] {word} ({len(run.expectations) - len(failed)}/{len(run.expectations)})"
    )
    for e in run.expectations:
        mark = "[green]✓[/]" if e["passed"] else "[red]✗[/]"
        if not e["passed"] or len(run.expectations) <= 8:
            console.print(f"  {mark} {escape(e['name'])}: [dim]{escape(e['detail'])}[/]")


@command("runs")
def runs_cmd(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to show.")] = 20,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only runs with this status, as `runs` shows it: running, awaiting, "
            "unfinished, completed, halted, failed, stopped, timeout (stored names such as "
            "awaiting_approval work too)."
        ),
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Text in the run id, scenario or model.")
    ] = None,
    suites: Annotated[
        bool, typer.Option("--suites", help="List suite runs (`agentbox test` invocations).")
    ] = False,
    origin: Annotated[
        list[str] | None,
        typer.Option(
            "--origin",
            help="Only runs started this way: run, test, replay, fork, import. Repeatable.",
        ),
    ] = None,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all", "-a", help="Include the runs of `agentbox test` (hidden by default)."
        ),
    ] = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List stored runs, newest first; the runs `agentbox test` makes are hidden unless
    --all or --origin test.

    After a run id, ↺ marks a replay (of a run, or of a suite case by `agentbox test`)
    and ⑂ a fork of another run.

    Examples:

      agentbox runs

      agentbox runs --all

      agentbox runs --origin fork --origin replay

      agentbox runs --status halted -n 50

      agentbox runs --status awaiting

      agentbox runs --search refund --json

      agentbox runs --suites
    """
    if suites:
        from agentbox.cli.compare_cmds import print_suite_runs

        print_suite_runs(_open_store(_settings(), store), limit, as_json)
        return
    from agentbox.cli.render import runs_table
    from agentbox.statuses import parse_run_status, status_words

    if status is not None:
        wanted = parse_run_status(status)
        if wanted is None:
            fail(f"--status must be one of {status_words()} (got {status!r})")
        status = wanted
    from agentbox.store import ORIGINS

    bad = [o for o in origin or [] if o not in ORIGINS]
    if bad:
        fail(f"--origin must be one of {', '.join(ORIGINS)} (got {bad[0]!r})")
    origins = origin or (None if show_all else [o for o in ORIGINS if o != "test"])
    trace_store = _open_store(_settings(), store)
    runs = trace_store.list_runs(limit=limit, status=status, text=search, origins=origins)
    if as_json:
        print(
            to_json(
                [
                    _result_json(r)
                    | {"started_at": r.started_at, "ended_at": r.ended_at, "origin": r.origin}
                    for r in runs
                ]
            )
        )
        return
    console = _console()
    filtered = bool(status or search or origin)
    if not runs:
        if filtered:
            console.print(f"no runs match (of {trace_store.count_runs()} in {trace_store.path})")
        elif trace_store.count_runs():
            console.print("no runs besides those of `agentbox test` — see them with --all")
        else:
            console.print(
                f"no runs in {trace_store.path} yet — try: agentbox run scenarios/refund-clean.yaml"
            )
        return
    console.print(runs_table(runs, console.width))
    legend = [
        text
        for mark, text in (("↺", "↺ replay"), ("⑂", "⑂ fork"))
        if any(r.replay_of if mark == "↺" else r.parent_id for r in runs)
    ]
    total = trace_store.count_runs(status=status, text=search, origins=origins)
    notes = []
    if legend:
        notes.append(" · ".join(legend))
    if total > len(runs):
        what = "matching runs" if filtered else "runs"
        notes.append(f"{len(runs)} of {total} {what}; --limit for more")
    if origins is not None and not origin:
        hidden = trace_store.count_runs(status=status, text=search, origins=["test"])
        if hidden:
            notes.append(f"{hidden} test run(s) hidden; --all shows them")
    if notes:
        console.print(f"[dim]{' · '.join(notes)}[/]")


@command("show")
def show_cmd(
    run_id: Annotated[
        str, typer.Argument(help="Run id or a unique prefix of it.", show_default=False)
    ],
    step: Annotated[
        int | None, typer.Option("--step", help="Show only this step (with its full data).")
    ] = None,
    state: Annotated[
        bool,
        typer.Option(
            "--state", help="Print the state after --step N (without --step: after the last step)."
        ),
    ] = False,
    diff_from: Annotated[
        int | None,
        typer.Option(
            "--diff",
            help="The state changes from after step M to after --step N (without --step: the last step; -1: the start).",
        ),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            help="With --state or --diff: only this part of the state, e.g. orders.ord_5531 or orders.ord_5531.status (also the TUI's State tab with --tui).",
        ),
    ] = None,
    tui: Annotated[bool, typer.Option("--tui", help="Open the run in the terminal UI.")] = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Print a stored run step by step, with its summary and expectations.

    Examples:

      agentbox show 3fa2

      agentbox show 3fa2 --step 3 --json

      agentbox show 3fa2 --step 3 --state --path orders.ord_5531

      agentbox show 3fa2 --state                # after the last step

      agentbox show 3fa2 --step 6 --diff 2 --path orders

      agentbox show 3fa2 --tui
    """
    from rich.markup import escape

    from agentbox.cli.render import print_step, run_header, summary_table

    settings = _settings()
    trace_store = _open_store(settings, store)
    run = trace_store.get_run(run_id)
    if tui:
        from agentbox.tui.app import AgentboxApp  # textual: ~0.3 s, only for --tui

        AgentboxApp(trace_store, settings, run_id=run.id, state_path=path).run()
        return
    if path is not None and not (state or diff_from is not None):
        fail("--path filters --state or --diff", "e.g. agentbox show RUN --state --path orders")
    if step is None and (state or diff_from is not None):
        step = trace_store.step_count(run.id) - 1  # --state / --diff without --step: the last step
        if step < 0:
            fail(f"run {run.id} has no steps yet", "wait for it, then show its state")
    if step is not None:
        steps = trace_store.steps(run.id, step, step + 1)
        if not steps:
            fail(
                f"run {run.id} has no step {step}",
                f"it has {trace_store.step_count(run.id)} steps (0-based)",
            )
        if diff_from is not None:
            from agentbox.cli.render import changes_table
            from agentbox.lifecycle import state_diff

            changes = state_diff(trace_store, run, diff_from, step)
            if path is not None:
                from agentbox.paths import parse_path

                parts = [str(p) for p in parse_path(path)[:2]]  # a collection, or a record
                changes = [c for c in changes if list(c[: len(parts)]) == parts]
            if as_json:
                print(
                    to_json(
                        [
                            {"collection": c, "key": k, "before": b, "after": a}
                            for c, k, b, a in changes
                        ]
                    )
                )
            elif changes:
                _console().print(
                    changes_table(changes, f"state changes, step {diff_from} → {step}")
                )
            else:
                _console().print(f"no state changes between step {diff_from} and step {step}")
            return
        if state:
            from agentbox.checkpoints import pick, state_at

            after = state_at(trace_store, run, step)
            print(to_json(after.snapshot() if path is None else pick(after, path)))
            return
        print(to_json(steps[0].__dict__))
        return
    steps = trace_store.steps(run.id)
    if not run.finished and steps and steps[-1].counters:
        run.counters = steps[-1].counters  # the run row's totals may lag a running run
    shadow: list[Any] = []
    if run.mode == "shadow" and steps:  # the shadow diff, per table and row
        from agentbox.lifecycle import state_diff

        shadow = state_diff(trace_store, run, -1, steps[-1].idx)
    if as_json:
        extra: dict[str, Any] = {"steps": [s.__dict__ for s in steps]}
        version = trace_store.run_version(run.id)
        if version is not None:
            extra["version"] = {"fingerprint": version.fingerprint, "label": version.label}
        if steps:  # the final state diff, as `run --json` gives it
            from agentbox.lifecycle import state_diff

            final = shadow or state_diff(trace_store, run, -1, steps[-1].idx)
            extra["changes"] = [
                {"collection": c, "key": k, "before": b, "after": a} for c, k, b, a in final
            ]
        if run.mode == "shadow":
            from agentbox.sandbox.sources.shadow_diff import by_table

            extra["shadow_diff"] = by_table(shadow, run.options.get("state_source"))
        print(to_json(_result_json(run) | extra))
        return
    console = _console()
    console.print(run_header(run))
    from agentbox.cli.compare_cmds import version_line

    version = trace_store.run_version(run.id)
    if version is not None:
        console.print(version_line(version))
    console.print(f"[dim]input:[/] {escape(run.input or '')}")
    for s in steps:
        print_step(console, s)
    console.print()
    console.print(summary_table(run))
    if run.output:
        console.print(f"[bold]output[/]      {escape(run.output)}")
    if shadow:
        from agentbox.cli.render import changes_table

        console.print(changes_table(shadow, "shadow diff (source untouched)"))
        console.print(f"[dim]per row: agentbox shadow-diff {run.id} (--sql for statements)[/]")
    _print_expectations(console, run)


@command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of scenario files (for editor validation).

    Examples:

      agentbox schema > scenario.schema.json
    """
    from agentbox.scenario import scenario_json_schema

    emit(to_json(scenario_json_schema()))


@command("init")
def init_cmd(
    name: Annotated[str, typer.Argument(help="Sandbox name (a folder under sandboxes/).")] = "demo",
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Scaffold a sandbox, a scenario that runs offline, and .agentbox.toml if missing.

    Examples:

      agentbox init billing && agentbox run scenarios/billing-example.yaml
    """
    from agentbox.scaffold import scaffold

    settings = _settings()
    try:
        written = scaffold(settings.root, name, settings, force=force)
    except OSError as exc:
        where = exc.filename or settings.root
        fail(
            f"cannot write {where}: {exc.strerror or exc}",
            "run `agentbox init` in a folder you can write to",
        )
    console = _console()
    for path in written:
        console.print(f"wrote {path}")
    console.print(f"next: agentbox run {settings.scenarios}/{name}-example.yaml")
