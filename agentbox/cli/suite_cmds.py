"""Regression suites: export, test, report."""

from __future__ import annotations

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
    watch_and_rerun,
    writable_file,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from agentbox.store import SuiteRunRow
    from agentbox.suites.metrics import RunMetrics, SuiteMetrics
    from agentbox.suites.replay import CaseResult


# ---- formatting --------------------------------------------------------------------
def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _usd(value: float | None, unknown: int = 0) -> str:
    """``$0.0012``, or ``unknown`` when any price was (:func:`agentbox.steplook.usd`)."""
    from agentbox.steplook import usd  # start-up cost: loaded with the suite's results

    return usd(value, unknown, places=4, short=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.2f} ms"


def metrics_table(suite: SuiteMetrics) -> Table:
    """Pooled metrics of a set of runs (the summary of `test` and `report`)."""
    from rich.table import Table

    t = suite.total
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("runs", f"{len(suite.runs)} ({suite.passed} passed)")
    if suite.k > 1:
        table.add_row(f"pass^{suite.k}", _pct(suite.pass_k))
    table.add_row(
        "tool-call validity",
        f"{_pct(t.validity_rate)} ({t.tool_calls - t.invalid_tool_calls}/{t.tool_calls})",
    )
    table.add_row("tool-call success", f"{_pct(t.success_rate)} ({t.succeeded}/{t.executed})")
    table.add_row(
        "expectations", f"{_pct(t.expectation_rate)} ({t.expectations_passed}/{t.expectations})"
    )
    table.add_row("approval rate", f"{_pct(t.approval_rate)} ({t.approvals}/{t.holds} held)")
    table.add_row("policy blocks", str(t.blocks))
    table.add_row("tokens", f"{t.tokens} ({t.input_tokens} in / {t.output_tokens} out)")
    unknown = f" ({t.cost_unknown} model call(s) with unknown price)" if t.cost_unknown else ""
    per_success = (
        "n/a (no run passed)"
        if t.cost_usd is not None and not suite.passed
        else _usd(suite.cost_per_success)
    )
    table.add_row("cost", f"{_usd(t.cost_usd)}{unknown}")
    table.add_row("cost per run", _usd(suite.cost_per_run))
    table.add_row("per successful outcome", per_success)
    table.add_row("step latency", f"p50 {_ms(t.p(0.5))} · p95 {_ms(t.p(0.95))}")
    return table


def runs_metrics_table(rows: list[tuple[str, str, str, RunMetrics]]) -> Table:
    """One row of metrics per run: ``(run id, name, status, metrics)``."""
    from rich.table import Table
    from rich.text import Text

    from agentbox.cli.render import STATUS_STYLE

    table = Table(
        box=None,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
        caption="valid: tool-call validity · ok: tool-call success · exp: expectations "
        "passed · appr: holds approved · p50/p95: step latency (ms)",
        caption_justify="left",
    )
    for col in (
        "run",
        "scenario",
        "result",
        "valid",
        "ok",
        "exp",
        "appr",
        "blocks",
        "tokens",
        "cost",
        "p50/p95",
    ):
        table.add_column(
            col,
            no_wrap=col != "scenario",
            overflow="ellipsis",
            max_width=18 if col == "scenario" else None,
            justify="left" if col in ("run", "scenario", "result") else "right",
        )
    for run_id, name, status, m in rows:
        result = "passed" if m.passed else status if status != "completed" else "failed"
        style = (
            "green"
            if m.passed
            else STATUS_STYLE.get(status, "red")
            if status != "completed"
            else "red"
        )
        p50, p95 = m.p(0.5), m.p(0.95)
        latency = "-" if p50 is None or p95 is None else f"{p50 * 1000:.2f}/{p95 * 1000:.2f}"
        table.add_row(
            run_id,
            Text(name),
            Text(result, style=style),
            _pct(m.validity_rate, 0),
            _pct(m.success_rate, 0),
            _pct(m.expectation_rate, 0),
            _pct(m.approval_rate, 0),
            str(m.blocks),
            str(m.tokens),
            _usd(m.cost_usd, m.cost_unknown),
            latency,
        )
    return table


# ---- export ------------------------------------------------------------------------
@command("export")
def export_cmd(
    run_id: Annotated[
        str, typer.Argument(help="Run to export (id or unique prefix).", show_default=False)
    ],
    suite: Annotated[
        Path | None,
        typer.Option(
            "--suite",
            help="Suite folder to write the case into, e.g. suites/retail (default: `suite` in .agentbox.toml, else suites/regressions).",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Case name (file NAME.yaml). Default: the scenario name (with the run id when that file exists).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Overwrite an existing case file (without it: show the diff, exit 2)."
        ),
    ] = False,
    judge: Annotated[
        list[str] | None,
        typer.Option(
            "--judge",
            help="Add an llm_judge expectation with this rubric; the verdict is asked now and recorded. Repeatable.",
        ),
    ] = None,
    judge_model: Annotated[
        str | None,
        typer.Option("--judge-model", help="litellm model for --judge (default: the run's model)."),
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="Imported runs: run the recorded tool calls against this sandbox (its tools must have the recorded names) instead of serving the recorded results.",
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Turn a finished run into a regression case: one self-contained YAML file.

    The case inlines the scenario, the recorded model calls (cassette), the approval
    decisions and expectations derived from the run (status, tool calls in order, holds,
    blocks, approvals, the state diff, a cost ceiling) merged with the scenario's own. A
    fork's edits (state, tool result, message) go into the case and are re-applied when
    it replays. An existing case file is never replaced silently: without --force the
    export prints the diff it would make and exits 2.

    Examples:

      agentbox export 3fa2

      agentbox export 3fa2 --suite suites/retail

      agentbox export 3fa2 --suite suites/retail --name big-refund-held --force

      agentbox export 3fa2 --suite suites/retail --judge "The reply names the refund amount."

      agentbox export b273 --suite suites/prod --against retail
    """
    from agentbox.suites.case import JudgeSpec, load_case, prune_sidecars
    from agentbox.suites.derive import expectation_count
    from agentbox.suites.export import CaseExists, export_run
    from agentbox.suites.replay import display_path

    settings = _settings()
    if suite is None:
        suite = settings.suite_path
    if suite.exists() and not suite.is_dir():
        fail(
            f"--suite {suite} is a file, not a folder",
            "give the suite's folder, e.g. suites/retail",
        )
    writable_file(suite / "case.yaml", "--suite")
    trace_store = _open_store(settings, store)
    judges = [JudgeSpec(rubric=r, model=judge_model) for r in judge or []]
    run = trace_store.get_run(run_id)
    console = _console()
    from rich.markup import escape

    if run.passed is False:
        failed = [e["name"] for e in run.expectations or [] if not e["passed"]]
        console.print(
            f"[yellow]warning:[/] run {run.id} did not meet its scenario's expectations "
            f"({escape(', '.join(failed) or run.status)}); the case keeps them and will fail until "
            "you edit its `expect:`"
        )
    target = suite / f"{name}.yaml" if name else None
    before = target.read_text(encoding="utf-8") if target is not None and target.exists() else None
    try:
        extra = {"against": against} if against else {}  # imported runs only (docs/traces.md)
        path = export_run(
            trace_store,
            run_id,
            suite,
            name,
            settings=settings,
            judges=judges or None,
            force=force,
            **extra,
        )
    except CaseExists as exc:
        for line in exc.diff.splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
            console.print(f"[{style}]{escape(line)}[/]" if style else escape(line), soft_wrap=True)
        fail(exc.message, exc.hint)
    except OSError as exc:
        fail(f"cannot write the case into {suite}: {exc.strerror or exc}", "choose another folder")
    case = load_case(path)
    after = path.read_text(encoding="utf-8")
    verb = "wrote" if before is None else "unchanged" if before == after else "overwrote"
    console.print(
        f"{verb} {display_path(path)}: {len(case.cassette.calls)} model call(s), "
        f"{len(case.file.decisions)} approval decision(s), "
        f"{expectation_count(case.scenario.expect) + len(case.judges)} expectation(s)"
    )
    try:
        pruned = prune_sidecars(path.parent)
    except OSError as exc:
        fail(
            f"cannot prune stale sidecars in {path.parent}: {exc.strerror or exc}",
            "check the folder's permissions",
        )
    if pruned:
        console.print(
            f"removed {len(pruned)} stale sidecar(s) of deleted cases: "
            + ", ".join(escape(display_path(p)) for p in pruned),
            soft_wrap=True,
        )
    console.print(f"[dim]replay: agentbox test {display_path(path.parent)}[/]")


# ---- test --------------------------------------------------------------------------
def _print_results(
    console: Console, results: list[CaseResult], repeat: int, verbose: bool = False
) -> None:
    from rich.markup import escape

    by_file: dict[int, list[CaseResult]] = {}
    for r in results:
        by_file.setdefault(r.index, []).append(r)
    for runs in by_file.values():
        first = runs[0]
        failed = [r for r in runs if not r.passed]
        rep = f" {len(runs) - len(failed)}/{len(runs)}" if repeat > 1 else ""
        where = f"[dim]{escape(first.path)}[/]"
        if not failed:
            console.print(
                f"[green]PASS[/]{rep} {escape(first.name)}  {where}  [dim]run {first.run_id}[/]"
            )
            continue
        agent_failed = [r for r in failed if not r.simulator_error]
        bad = (agent_failed or failed)[0]
        word = "[red]FAIL[/]" if agent_failed else "[magenta]SIMERR[/]"
        console.print(f"{word}{rep} {escape(first.name)}  {where}  [dim]run {bad.run_id or '-'}[/]")
        for line in bad.explain(verbose):
            for part in line.splitlines()[: None if verbose else 60]:
                console.print("     " + escape(part), soft_wrap=True)


def _result_json(r: CaseResult) -> dict[str, Any]:
    return {
        "path": r.path,
        "name": r.name,
        "kind": r.kind,
        "repeat": r.repeat,
        "passed": r.passed,
        "status": r.status,
        "run_id": r.run_id,
        "reason": r.reason,
        "miss": r.miss,
        "miss_full": r.miss_full,
        "failures": r.failures,
        "metrics": r.metrics.to_json(),
        "seconds": r.seconds,
    }


def _print_json(value: Any) -> None:
    """Print ``to_json(value)`` and a newline, encoded and written in ~64 KB pieces.

    The report of a large suite is never one string: for 5,000 cases joining the pretty
    encoder's pieces took ~30 MB at once (the peak of the whole command); written as it is
    encoded, the output is the same, byte for byte.
    """
    import json
    import sys

    from agentbox.cli.base import _finite

    encoder = json.JSONEncoder(indent=2, default=str, allow_nan=False)
    pieces: list[str] = []
    size = 0
    for piece in encoder.iterencode(_finite(value)):
        pieces.append(piece)
        size += len(piece)
        if size >= 1 << 16:
            sys.stdout.write("".join(pieces))
            pieces, size = [], 0
    pieces.append("\n")
    sys.stdout.write("".join(pieces))


def _test_once(
    paths: list[Path],
    store_path: Path,
    *,
    live: bool,
    repeat: int,
    jobs: int,
    junit: Path | None,
    as_json: bool,
    quiet: bool,
    model: str | None = None,
    label: str | None = None,
    verbose: bool = False,
) -> int:
    import time

    from agentbox.suites.junit import junit_xml
    from agentbox.suites.replay import discover, run_cases, summarize, worker_count

    settings = _settings()
    files = discover(paths)
    if not files:
        fail(
            "no case or scenario files under " + ", ".join(str(p) for p in paths),
            "export a run first: agentbox export RUN_ID --suite suites/NAME",
        )
    console = _console()
    progress: Any = None  # a bar on a terminal only (rich.progress: ~15 ms to import)
    if not as_json and console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        progress = Progress(
            TextColumn("[bold]testing[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        task = progress.add_task("cases", total=len(files) * repeat, failed=0)
    failed = 0

    def advance(result: CaseResult) -> None:
        nonlocal failed
        failed += not result.passed
        if progress is not None:
            progress.update(task, advance=1, failed=failed)

    started = time.perf_counter()
    started_at = time.time()
    try:
        with user_output_to_stderr(as_json):  # printing agents must not break the JSON
            results = run_cases(
                files,
                store_path,
                settings,
                live=live,
                repeat=repeat,
                jobs=worker_count(jobs),
                on_result=advance,
                on_start=progress.start if progress is not None else None,
                model=model,
                label=label,
            )
    finally:
        if progress is not None:
            progress.stop()
    seconds = time.perf_counter() - started
    summary = summarize(results, repeat)
    suite_run = _record(paths, files, store_path, results, repeat, live, model, label, started_at)
    if junit is not None:
        try:
            junit.parent.mkdir(parents=True, exist_ok=True)
            junit.write_text(junit_xml(results, repeat), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write --junit {junit}: {exc.strerror or exc}", "choose another path")
    ok = all(r.passed or r.simulator_error for r in results)  # the simulator's fault
    simulator_errors = sum(1 for r in results if r.simulator_error)
    # a case that could not even start (malformed file, unknown sandbox) is bad input:
    # exit 2 as every command does, after the other cases ran and were reported
    code = 0 if ok else 2 if any(r.run_id is None and r.status == "error" for r in results) else 1
    if as_json:
        _print_json(
            {
                "passed": ok,
                "simulator_errors": simulator_errors,
                "suite_run": suite_run.id,
                "fingerprint": suite_run.fingerprint,
                "label": suite_run.label,
                "seconds": seconds,
                "summary": summary.to_json(),
                "results": [_result_json(r) for r in results],
            }
        )
        return code
    if quiet:
        _print_results(console, [r for r in results if not r.passed], repeat, verbose)
    else:
        _print_results(console, results, repeat, verbose)
    cases = len(files)
    failing = len({r.index for r in results if not r.passed and not r.simulator_error})
    simulated = len(
        {r.index for r in results if r.simulator_error}
        - {r.index for r in results if not r.passed and not r.simulator_error}
    )
    console.print()
    word = "[green]passed[/]" if ok else "[red]failed[/]"
    sims = (
        f", {simulated} simulator error{'s' if simulated != 1 else ''} (not the agent's)"
        if simulated
        else ""
    )
    console.print(
        f"[bold]{cases - failing - simulated} passed, {failing} failed{sims}[/] ({word}) · "
        f"{len(results)} run(s) "
        f"in {seconds:.2f} s ({len(results) / seconds if seconds else 0:.0f} runs/s)"
    )
    console.print(metrics_table(summary))
    if junit is not None:
        console.print(f"[dim]JUnit XML: {junit}[/]")
    label_text = f" ({suite_run.label})" if suite_run.label else ""
    console.print(
        f"[dim]suite run {suite_run.id}{label_text}, agent version {suite_run.fingerprint or '-'}"
        f" · compare: agentbox compare --baseline {suite_run.id}[/]"
    )
    return code


def _record(
    paths: list[Path],
    files: list[Path],
    store_path: Path,
    results: list[CaseResult],
    repeat: int,
    live: bool,
    model: str | None,
    label: str | None,
    started_at: float,
) -> SuiteRunRow:
    """Store this `test` invocation as a suite run."""
    import time

    from agentbox.store import TraceStore
    from agentbox.suites.suite_runs import case_keys, record_suite_run, suite_name

    trace_store = TraceStore(store_path)
    try:
        return record_suite_run(
            trace_store,
            suite=suite_name(paths),
            keys=case_keys(paths, files),
            results=results,
            k=repeat,
            live=live,
            model=model,
            label=label,
            started_at=started_at,
            ended_at=time.time(),
        )
    finally:
        trace_store.close()


@command("test")
def test_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Suite folders, case files or scenario files (default: suites/ and the scenarios folder).",
            show_default=False,
        ),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Ask the recorded model again instead of the cassette.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="With --live: ask this model (`scripted` or a litellm string) instead of the recorded one; the recorded tool world stays.",
        ),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            help="Name the agent version under test (e.g. v2-shorter-prompt); `agentbox compare` accepts it.",
        ),
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            "-k",
            min=1,
            help="Run each case K times; reports pass^k (cases passing all K).",
        ),
    ] = 1,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, help="Parallel worker processes (0: one per CPU).")
    ] = 1,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML to this file.")
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Run again whenever a case, scenario or sandbox file changes."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="List only failing cases.")] = False,
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
    """Replay regression cases and run scenarios; report pass/fail, reasons and metrics.

    Case files replay offline from their cassette and recorded approval decisions; plain
    scenario files just run. Each failure names the broken expectations or shows the
    cassette-miss diff (the changed lines of the changed messages; -v for whole requests).
    Exit 0 when everything passed, 1 when a case failed, 2 when a file could not be
    loaded (malformed, unknown sandbox: the other cases still run and are reported).

    Examples:

      agentbox test

      agentbox test suites/retail -j 4 --junit build/agentbox.xml

      agentbox test suites/retail --repeat 5 --live

      agentbox test suites/retail --live --model openai/gpt-4o-mini --label v2 -k 3

      agentbox test suites/ --watch
    """
    if model is not None and not live:
        fail(
            "--model needs --live (a replay answers from the recorded cassette)",
            f"agentbox test ... --live --model {model}",
        )
    settings = _settings()
    from agentbox.suites.case import sidecar_case
    from agentbox.suites.replay import default_paths

    targets = list(paths or default_paths(settings))
    if not targets:
        fail(
            "nothing to test: no suites/ or scenarios folder here",
            "pass a suite folder or case file",
        )
    for target in targets:
        case_file = sidecar_case(target)
        if case_file is not None:
            fail(
                f"{target} is the parsed sidecar of {case_file.name}, not a case",
                f"pass the case's YAML: agentbox test {case_file}"
                if case_file.exists()
                else f"{case_file} is gone; the next export into its folder deletes the sidecar",
            )
    if junit is not None:
        writable_file(junit, "--junit")  # before the suite runs, not after
    store_path = store or settings.store_path
    code = _test_once(
        targets,
        store_path,
        live=live,
        repeat=repeat,
        jobs=jobs,
        junit=junit,
        as_json=as_json,
        quiet=quiet,
        model=model,
        label=label,
        verbose=verbose,
    )
    if not watch:
        raise typer.Exit(code)
    watch_and_rerun(
        [*targets, settings.sandboxes_path],
        lambda: _test_once(
            targets,
            store_path,
            live=live,
            repeat=repeat,
            jobs=jobs,
            junit=junit,
            as_json=as_json,
            quiet=quiet,
            model=model,
            label=label,
            verbose=verbose,
        ),
    )


# ---- report ------------------------------------------------------------------------
@command("report")
def report_cmd(
    run_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Runs to report (ids or prefixes).", show_default=False),
    ] = None,
    suite: Annotated[
        Path | None,
        typer.Option(
            "--suite", help="Report the latest run of every case/scenario under this folder."
        ),
    ] = None,
    last: Annotated[
        int, typer.Option("--last", "-n", help="Without ids or --suite: the latest N runs.")
    ] = 20,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Metrics per run and pooled: tool-call validity and success, expectation pass rate,
    approval rate, policy blocks, tokens, cost per run and per successful outcome (unknown
    prices shown as unknown, never $0), step latency p50/p95.

    Examples:

      agentbox report 3fa2 9c41

      agentbox report --suite suites/retail

      agentbox report -n 50 --json
    """
    from agentbox.suites.metrics import SuiteMetrics, metrics_for_run

    settings = _settings()
    trace_store = _open_store(settings, store)
    if run_ids:
        runs = [trace_store.get_run(r) for r in run_ids]
    elif suite is not None:
        runs = _suite_runs(trace_store, suite)
        if not runs:
            fail(
                f"no stored runs of the cases under {suite}",
                f"run them first: agentbox test {suite}",
            )
    else:
        runs = trace_store.list_runs(limit=last)
        if not runs:
            fail(f"no runs in {trace_store.path} yet", "agentbox test, or agentbox run SCENARIO")
    rows = [(r.id, r.scenario, r.display_status, metrics_for_run(trace_store, r)) for r in runs]
    summary = SuiteMetrics([m for *_, m in rows])
    if as_json:
        print(
            to_json(
                {
                    "runs": [
                        {"run_id": i, "scenario": n, "status": s, **m.to_json()}
                        for i, n, s, m in rows
                    ],
                    "summary": summary.to_json(),
                }
            )
        )
        return
    console = _console()
    console.print(runs_metrics_table(rows))
    console.print()
    console.print(metrics_table(summary))


def _suite_runs(trace_store: Any, folder: Path) -> list[Any]:
    """The latest stored run of every case (by ``replay_of``) or scenario under ``folder``."""
    from agentbox.suites.case import is_case_file
    from agentbox.suites.replay import discover, display_path

    files = discover([folder])
    wanted: dict[str, int] = {}
    for i, f in enumerate(files):
        if is_case_file(f):
            wanted[f"case:{display_path(f)}"] = i
            wanted[f"case:{f.resolve()}"] = i
        else:
            wanted[f"scenario:{f.resolve()}"] = i
    latest: dict[int, Any] = {}
    for run in trace_store.list_runs(limit=None):  # newest first
        if run.replay_of and run.replay_of.startswith("case:"):
            key = run.replay_of
        elif run.scenario_path and not run.replay_of and not run.parent_id:
            key = f"scenario:{Path(run.scenario_path).resolve()}"
        else:
            continue
        index = wanted.get(key)
        if index is not None and index not in latest:
            latest[index] = run
    return [latest[i] for i in sorted(latest)]
