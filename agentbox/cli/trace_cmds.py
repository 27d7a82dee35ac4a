"""Traces in and out: ``export-traces`` (runs to OTLP or a JSONL file) and ``import``.

The OpenTelemetry SDK is imported only when spans go to a collector (see
:mod:`agentbox.otel.exporter`); the JSONL file and ``import`` need no extra.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentbox.cli.base import StoreOpt, _console, _open_store, _settings, command, fail

if TYPE_CHECKING:
    from agentbox.config import Settings
    from agentbox.otel.exporter import LiveExport
    from agentbox.store import StepRow, TraceStore

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> float:
    """``30m`` / ``2h`` / ``7d`` ago, or an ISO date/time, as Unix seconds.

    Raises:
        ValueError: neither form.
    """
    m = _AGO.match(text.strip().lower())
    if m:
        return time.time() - float(m.group(1)) * _UNITS[m.group(2)]
    moment = _dt.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()


def _headers(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(
                f"--header {item!r}: expected NAME=VALUE",
                "e.g. --header x-langfuse-ingestion-version=4",
            )
        out[key.strip()] = value.strip()
    return out


# ---- live export during `agentbox run` (--otlp / `otlp` in .agentbox.toml) ---------------
def live_export(settings: Settings, url: str | None, trace_store: TraceStore) -> LiveExport | None:
    """The step observer sending spans to ``url`` (or the configured ``otlp``), or None.

    A missing SDK or a bad URL is reported once on stderr and the run goes on without it.
    """
    target_text = url or settings.otlp
    if not target_text:
        return None
    from agentbox.errors import AgentboxError
    from agentbox.otel.exporter import LiveExport, parse_target
    from agentbox.otel.runs import resource_attributes

    try:
        return LiveExport(
            trace_store, parse_target(target_text), resource_attributes(), settings.redactor()
        )
    except AgentboxError as exc:
        _console(stderr=True).print(
            f"[yellow]warning:[/] spans not exported: {exc.message}", soft_wrap=True
        )
        return None


def observers(*fns: Callable[[StepRow], None] | None) -> Callable[[StepRow], None] | None:
    """One runner observer calling each given one in order (None: none given)."""
    given = [f for f in fns if f is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]

    def each(step: StepRow) -> None:
        for fn in given:
            fn(step)

    return each


def finish_live_export(export: LiveExport | None, trace_store: TraceStore, run_id: str) -> None:
    """Send the run's root span, flush (bounded) and warn once on stderr if it failed."""
    if export is None:
        return
    problem = export.finish(trace_store, run_id)
    if problem:
        _console(stderr=True).print(
            f"[yellow]warning:[/] spans of run {run_id} were not all exported to "
            f"{export.target.given}: {problem} (the run itself is stored; export later with "
            f"`agentbox export-traces {run_id} --to URL`)",
            soft_wrap=True,
        )


@command("export-traces")
def export_traces_cmd(
    runs: Annotated[
        list[str] | None,
        typer.Argument(help="Runs to export (ids or unique prefixes).", show_default=False),
    ] = None,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="otlp+http://HOST:PORT (OTLP/HTTP), otlp+grpc://HOST:PORT, or FILE.jsonl.",
            show_default=False,
        ),
    ] = "",
    since: Annotated[
        str | None,
        typer.Option("--since", help="Every run started since: 30m, 2h, 7d, or an ISO time."),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option("--project", help="Phoenix project (resource openinference.project.name)."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", help="Extra OTLP header NAME=VALUE (repeatable)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the collector.")
    ] = 3.0,
    store: StoreOpt = None,
) -> None:
    """Export runs as OpenTelemetry traces: to a collector (Phoenix, Langfuse, Jaeger) or a file.

    Each run is one trace: an `invoke_agent` root span, a `chat` span per model call and
    an `execute_tool` span per tool call, with GenAI semantic-convention and OpenInference
    attributes; approvals, blocks and halts are events. A .jsonl file holds one OTLP JSON
    span per line with the exact steps, so `agentbox import` rebuilds the runs elsewhere.
    Secrets are redacted. Exit 1 when the collector does not accept the spans.

    Examples:

      agentbox export-traces 3fa2 --to otlp+http://127.0.0.1:6006

      agentbox export-traces --since 2h --to otlp+grpc://127.0.0.1:4317

      agentbox export-traces 3fa2 9c41 --to runs.jsonl

      agentbox export-traces 3fa2 --to otlp+http://127.0.0.1:3000/api/public/otel --header x-langfuse-ingestion-version=4
    """
    from agentbox.otel.runs import resource_attributes, select_runs, trace_of, write_jsonl

    if not to:
        fail("--to is required", "--to otlp+http://HOST:PORT, otlp+grpc://HOST:PORT or FILE.jsonl")
    if runs and since:
        fail("name runs or give --since, not both")
    try:
        after = parse_since(since) if since else None
    except ValueError:
        fail(f"--since {since!r}: expected 30m, 2h, 7d or an ISO date/time")
    settings = _settings()
    trace_store = _open_store(settings, store)
    chosen = select_runs(trace_store, runs or [], after)
    redact = settings.redactor()
    console = _console()
    if "://" not in to:
        path = Path(to)
        try:
            count = write_jsonl(trace_store, chosen, path, redact, project)
        except OSError as exc:
            fail(f"cannot write {path}: {exc.strerror}", "pass a writable file path")
        console.print(f"wrote {len(chosen)} run(s), {count} span(s) to {path}")
        return
    from agentbox.otel.exporter import CollectorError, parse_target, send

    target = parse_target(to)
    heads = _headers(header)
    total = 0
    for run in chosen:
        spans = trace_of(trace_store, run, redact)
        try:
            send(spans, target, resource_attributes(project), heads, timeout)
        except CollectorError as exc:
            fail(exc.message, exc.hint, code=1)  # the collector failed, not the input
        total += len(spans)
        console.print(f"{run.id} {run.scenario}: {len(spans)} span(s), trace {spans[0].trace_id}")
    console.print(f"exported {len(chosen)} run(s), {total} span(s) to {target.endpoint}")


@command("import")
def import_cmd(
    files: Annotated[
        list[Path], typer.Argument(help="Trace files (.jsonl or .json).", show_default=False)
    ],
    store: StoreOpt = None,
) -> None:
    """Import traces as runs: agentbox's own JSONL, OTLP JSON, or OpenInference spans.

    A file written by `agentbox export-traces --to f.jsonl` gives back the runs step for
    step. Production traces (OTLP JSON from a collector's file exporter, OpenInference
    spans exported from Phoenix) become runs marked imported: LLM spans are model calls,
    TOOL spans tool calls, other spans notes. `agentbox export RUN --suite DIR` then
    makes a regression case that replays offline. Unreadable lines or spans are
    reported and skipped: exit 1 when anything was skipped, 2 when a file is missing.

    Examples:

      agentbox import runs.jsonl

      agentbox import phoenix-spans.jsonl && agentbox export 5c1e --suite suites/prod
    """
    from rich.markup import escape

    from agentbox.otel.importer import import_traces

    settings = _settings()
    trace_store = _open_store(settings, store)
    console = _console()
    err = _console(stderr=True)
    skipped_any = False
    for path in files:
        if not path.is_file():
            fail(f"no such file: {path}", "pass a .jsonl or .json trace file")
        try:
            report = import_traces(trace_store, path, settings.redactor())
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror}")
        for run_id, scenario, steps, how in report.runs:
            console.print(f"imported {run_id} {scenario} ({steps} steps, {how}) from {path}")
        for run_id in report.existing:
            console.print(f"[dim]{run_id} is already in the store; not imported again[/]")
        for what in report.skipped:
            err.print(f"[yellow]skipped[/] {escape(f'{path}: {what}')}", soft_wrap=True)
        skipped_any = skipped_any or bool(report.skipped)
        if not report.runs and not report.existing and not report.skipped:
            err.print(f"[yellow]warning:[/] {path}: no spans found", soft_wrap=True)
            skipped_any = True
    if skipped_any:
        raise typer.Exit(1)
