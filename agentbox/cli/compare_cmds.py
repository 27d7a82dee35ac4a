"""Agent versions and suite runs: ``compare``, ``runs --suites``, version lines for ``show``.

Thin: the comparison is :mod:`agentbox.suites.compare`; this module resolves arguments,
prints tables, writes ``--junit`` / ``--md`` files and picks the exit code (1: a gate
was breached).
"""

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
    emit,
    fail,
    to_json,
    writable_file,
)

if TYPE_CHECKING:
    from rich.table import Table

    from agentbox.store import SuiteRunRow, TraceStore, VersionRow
    from agentbox.suites.compare import Comparison
    from agentbox.versions import VersionChange


def version_line(version: VersionRow) -> str:
    """``agent version 3fa2c1d09e7b (v2-shorter-prompt) · model scripted`` (rich markup)."""
    from rich.markup import escape

    label = f" ({escape(version.label)})" if version.label else ""
    model = version.parts.get("model")
    tools = version.parts.get("tools")
    bits = [f"model {escape(str(model))}"] if model else []
    if isinstance(tools, list):
        bits.append(f"{len(tools)} tool(s)")
    return (
        f"[dim]agent version[/] [bold]{version.fingerprint}[/]{label} [dim]· {' · '.join(bits)}[/]"
    )


def print_version_changes(a: VersionRow | None, b: VersionRow | None) -> list[VersionChange]:
    """Print what changed between two runs' agent versions (for ``agentbox diff``);
    returns the changes ([] when the same or unknown)."""
    from rich.markup import escape

    from agentbox.versions import version_changes

    console = _console()
    if a is None or b is None:
        console.print("[dim]agent version: not recorded for one of the runs[/]")
        return []
    if a.fingerprint == b.fingerprint:
        console.print(f"agent version: same ({a.fingerprint})")
        return []
    changes = version_changes(a.parts, b.parts)
    console.print(f"agent version: [bold]{a.fingerprint}[/] → [bold]{b.fingerprint}[/]")
    for change in changes:
        console.print(f"  [yellow]{escape(change.summary)}[/]")
        for line in change.diff[:60]:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            console.print(f"    [{style}]{escape(line)}[/]", soft_wrap=True)
    return changes


def _suite_json(r: SuiteRunRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "suite": r.suite,
        "label": r.label,
        "fingerprint": r.fingerprint,
        "live": r.live,
        "model": r.model,
        "k": r.k,
        "cases": r.cases,
        "passed_cases": r.passed_cases,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "totals": r.totals,
    }


def print_suite_runs(trace_store: TraceStore, limit: int, as_json: bool) -> None:
    """``agentbox runs --suites``: the latest suite runs, newest first."""
    import datetime as dt

    from rich.table import Table
    from rich.text import Text

    rows = trace_store.list_suite_runs(limit=limit)
    if as_json:
        emit(to_json([_suite_json(r) for r in rows]))
        return
    console = _console()
    if not rows:
        console.print(
            f"no suite runs in {trace_store.path} yet — try: agentbox test suites/NAME --label baseline"
        )
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    fixed = {"suite run": 10, "version": 12, "passed": 6, "label": 15, "mode": 17, "started": 11}
    for col in ("suite run", "passed", "label", "version", "mode", "suite", "started"):
        table.add_column(col, no_wrap=True, overflow="ellipsis", min_width=fixed.get(col))
    for r in rows:
        when = dt.datetime.fromtimestamp(r.started_at).strftime("%m-%d %H:%M")
        style = "green" if r.passed_cases == r.cases else "red"
        mode = ("live" + (f" {r.model}" if r.model else "") if r.live else "replay") + f" k={r.k}"
        table.add_row(
            r.id,
            Text(f"{r.passed_cases}/{r.cases}", style=style),
            Text(r.label or "-"),
            r.fingerprint or "-",
            Text(mode),
            Text(r.suite),
            when,
        )
    console.print(table)


def _metrics_table(c: Comparison) -> Table:
    from rich.table import Table

    from agentbox.suites.compare import fmt_metric

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("metric", "A", "B", "Δ"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for m in c.metrics:
        delta = "" if m.delta is None else fmt_metric(m.spec, m.delta)
        if m.delta is not None and m.delta > 0:
            delta = "+" + delta
        style = "red" if m.worse else "green" if m.delta and m.spec.better else ""
        table.add_row(
            m.spec.title,
            fmt_metric(m.spec, m.a),
            fmt_metric(m.spec, m.b),
            f"[{style}]{delta}[/]" if style else delta,
        )
    return table


def print_comparison(c: Comparison) -> None:
    """The comparison as tables: sides, flips (worst first), metrics, noise, gates."""
    from rich.markup import escape

    from agentbox.suites.compare import FLIP_ORDER

    console = _console()
    for side, run in (("A", c.a), ("B", c.b)):
        label = f" [bold]{escape(run.label)}[/]" if run.label else ""
        mode = f"live {run.model or ''}".strip() if run.live else "replay"
        console.print(
            f"{side} suite run {run.id}{label} · {escape(run.suite)} · k={run.k} · {escape(mode)}"
            f" · version {run.fingerprint or '-'} · {run.passed_cases}/{run.cases} cases passed"
        )
    if c.a.suite != c.b.suite or c.only_a or c.only_b:
        console.print(
            f"[yellow]compared the {len(c.cases)} case(s) both ran[/]"
            + (f"; only in A: {escape(', '.join(c.only_a))}" if c.only_a else "")
            + (f"; only in B: {escape(', '.join(c.only_b))}" if c.only_b else "")
        )
    console.print()
    styles = {"broken": "red", "fixed": "green", "still failing": "yellow"}
    console.print(" · ".join(f"{len(c.flips(k))} {k}" for k in FLIP_ORDER))
    width = max((len(case.key) for case in c.cases), default=0)
    for case in c.cases:
        if case.kind == "still passing":
            continue
        rates = f"{case.a_rate * 100:.0f}% → {case.b_rate * 100:.0f}%"
        console.print(
            f"  [{styles[case.kind]}]{case.kind:<13}[/] {escape(case.key.ljust(width))}  [dim]{rates}  "
            f"runs {case.a_run or '-'} → {case.b_run or '-'}[/]"
        )
    console.print()
    console.print(_metrics_table(c))
    console.print()
    console.print(f"pass-rate difference: {escape(c.noise.summary())}")
    for g in c.gates:
        mark = "[red]FAIL[/]" if g.breached else "[green]ok[/]"
        console.print(f"gate {escape(g.given)}: {mark} ({escape(g.reason)})")


def _write(path: Path, text: str, what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {what} {path}: {exc.strerror or exc}", "choose another path")


@command("compare")
def compare_cmd(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Suite runs A (before) and B (after): ids, unique prefixes or labels. With --baseline, one (B) or none (the latest suite run).",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="A is the latest earlier suite run of B's suite."),
    ] = False,
    fail_on_regression: Annotated[
        str | None,
        typer.Option(
            "--fail-on-regression",
            help="Exit 1 when more than this share of the compared cases broke, or B's pass rate is lower than A's by more than this many points (e.g. 1%).",
        ),
    ] = None,
    max_regression: Annotated[
        list[str] | None,
        typer.Option(
            "--max-regression",
            help="METRIC=LIMIT: exit 1 when B is worse by more (rates in points, others relative with %, e.g. cost_per_success=10%). Repeatable.",
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML (cases and gates) here.")
    ] = None,
    md: Annotated[
        Path | None,
        typer.Option(
            "--md", help="Write a Markdown summary (a pull-request comment) here; - prints it."
        ),
    ] = None,
    tui: Annotated[
        bool, typer.Option("--tui", help="Open the comparison in the terminal UI.")
    ] = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Compare two suite runs: flips per case, metrics side by side, noise, gates.

    Cases are matched by their path inside the suite; cases only one side ran are listed
    and left out. The pass-rate difference is judged with an exact sign test over paired
    cases when both sides ran -k 3 or more. Metrics for --max-regression: pass_rate,
    pass_k, validity, success, post_conditions, approval_rate, block_rate, tokens,
    cost_per_run, cost_per_success, latency_p50, latency_p95, broken_cases. Exit 1 when
    a gate is breached, 2 on bad input (unknown suite run or label).

    Examples:

      agentbox compare baseline v2-shorter-prompt

      agentbox compare --baseline --fail-on-regression 1%

      agentbox compare 3fa2 9c41 --max-regression cost_per_success=10% --md -

      agentbox compare --baseline 9c41 --junit build/compare.xml --json

      agentbox compare v1 v2 --tui
    """
    from agentbox.suites.compare import compare_suite_runs, parse_gate, regression_gates
    from agentbox.suites.suite_runs import baseline_of, resolve_suite_run

    refs = list(runs or [])
    if baseline and len(refs) > 1:
        fail("--baseline takes at most one suite run (B)", "agentbox compare --baseline B")
    if not baseline and len(refs) != 2:
        fail(
            "compare needs two suite runs (A B), or --baseline [B]",
            "`agentbox runs --suites` lists them; e.g. agentbox compare --baseline",
        )
    for path, what in ((junit, "--junit"), (md, "--md")):
        if path is not None and str(path) != "-":
            writable_file(path, what)
    for item in max_regression or []:
        if "=" not in item:
            fail(f"--max-regression {item!r}: expected METRIC=LIMIT", "e.g. cost_per_run=10%")
    gates = regression_gates(fail_on_regression) if fail_on_regression else []
    gates += [parse_gate(g) for g in max_regression or []]
    trace_store = _open_store(_settings(), store)
    if baseline:
        if refs:
            b = resolve_suite_run(trace_store, refs[0])
        else:
            latest = trace_store.list_suite_runs(limit=1)
            if not latest:
                fail(
                    f"no suite runs in {trace_store.path} yet",
                    "agentbox test suites/NAME --label v1",
                )
            b = latest[0]
        a = baseline_of(trace_store, b)
    else:
        a, b = resolve_suite_run(trace_store, refs[0]), resolve_suite_run(trace_store, refs[1])
    if tui:
        from agentbox.tui.app import AgentboxApp  # textual: ~0.3 s, only for --tui

        AgentboxApp(trace_store, _settings(), compare=(a.id, b.id)).run()
        return
    comparison = compare_suite_runs(trace_store, a, b, gates)
    if junit is not None:
        _write(junit, comparison.to_junit(), "--junit")
    if md is not None:
        if str(md) == "-":
            emit(comparison.to_markdown())
        else:
            _write(md, comparison.to_markdown(), "--md")
    if as_json:
        emit(to_json(comparison.to_json()))
    elif md is None or str(md) != "-":
        print_comparison(comparison)
    raise typer.Exit(1 if comparison.regressed else 0)


@command("deltas")
def deltas_cmd(
    suite_run: Annotated[
        str | None,
        typer.Argument(
            help="Suite run id, prefix or label (default: the latest suite run).",
            show_default=False,
        ),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="YAML/JSON file of what humans did per case: [{case: NAME, actions: [{TOOL: {ARG: VALUE}}]}] (default: each case's expect.tool_calls).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Shadow deltas: the actions a recommend/shadow suite run proposed against a reference.

    Per tool: reference and proposed actions, agreed, missing, extra and argument
    mismatches (which arguments); per case the same as lists; overall the agreement rate
    (agreed / (agreed + mismatched + missing + extra)).

    Examples:

      agentbox test suites/triage --label draft && agentbox deltas draft --reference humans.yaml

      agentbox deltas --json
    """
    from rich.markup import escape
    from rich.table import Table

    from agentbox.suites.deltas import load_reference, suite_deltas
    from agentbox.suites.suite_runs import resolve_suite_run

    entries = load_reference(reference) if reference is not None else None
    trace_store = _open_store(_settings(), store)
    if suite_run is None:
        latest = trace_store.list_suite_runs(limit=1)
        if not latest:
            fail(f"no suite runs in {trace_store.path} yet", "agentbox test suites/NAME first")
        run = latest[0]
    else:
        run = resolve_suite_run(trace_store, suite_run)
    deltas = suite_deltas(trace_store, run, entries)
    if as_json:
        emit(to_json(deltas.to_json()))
        return
    console = _console()
    rate = deltas.agreement_rate
    console.print(
        f"suite run {run.id} · {escape(run.suite)} · {len(deltas.cases)} run(s) compared · "
        f"agreement [bold]{'-' if rate is None else f'{rate * 100:.1f}%'}[/]"
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("tool", "reference", "proposed", "agreed", "missing", "extra", "mismatched"):
        table.add_column(col, justify="left" if col in ("tool", "mismatched") else "right")
    for name, t in sorted(deltas.tools.items()):
        args = ", ".join(f"{k}×{n}" for k, n in t.mismatched_args.most_common())
        table.add_row(
            escape(name),
            str(t.reference),
            str(t.proposed),
            str(t.agreed),
            str(t.missing),
            str(t.extra),
            f"{t.mismatched}" + (f" ({escape(args)})" if args else ""),
        )
    console.print(table)
    for case in deltas.cases:
        if not (case.missing or case.extra or case.mismatched):
            continue
        console.print(f"[bold]{escape(case.case)}[/] [dim]run {case.run_id} · vs {case.source}[/]")
        for tool, wanted in case.missing:
            console.print(
                f"  [red]missing[/]  {escape(tool)} {escape(json.dumps(wanted, default=str))}",
                soft_wrap=True,
            )
        for tool, made in case.extra:
            console.print(
                f"  [yellow]extra[/]    {escape(tool)} {escape(json.dumps(made, default=str))}",
                soft_wrap=True,
            )
        for (tool, want), (_, got), keys in case.mismatched:
            diffs = "; ".join(f"{k}: {want.get(k)!r} ≠ {got.get(k)!r}" for k in keys)
            console.print(f"  [magenta]args[/]     {escape(tool)}: {escape(diffs)}", soft_wrap=True)
