"""Stored runs as traces: which runs, their spans, and the JSONL file.

Pure agentbox code (no OpenTelemetry import): the JSONL export needs no extra; sending
spans to a collector goes through :mod:`agentbox.otel.exporter`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentbox import __version__
from agentbox.errors import AgentboxError
from agentbox.otel.otlp_json import jsonl_lines
from agentbox.otel.spans import Span, run_spans
from agentbox.store import FINISHED, RunRow, TraceStore


def resource_attributes(project: str | None = None) -> dict[str, Any]:
    """The resource of exported spans (``openinference.project.name`` picks Phoenix's
    project)."""
    attrs: dict[str, Any] = {"service.name": "agentbox", "service.version": __version__}
    if project:
        attrs["openinference.project.name"] = project
    return attrs


def select_runs(store: TraceStore, run_ids: list[str], since: float | None) -> list[RunRow]:
    """The runs named (id or prefix), or every run started at or after ``since`` (Unix s).

    Raises:
        StoreError: an unknown or ambiguous id. AgentboxError: nothing selected.
    """
    if run_ids:
        return [store.get_run(r) for r in run_ids]
    if since is None:
        raise AgentboxError("name runs to export, or --since", "agentbox runs lists them")
    runs = [r for r in store.list_runs(limit=None) if r.started_at >= since]
    if not runs:
        raise AgentboxError("no run started in that time", "agentbox runs lists stored runs")
    return list(reversed(runs))  # oldest first


def _checkpoints(store: TraceStore, run: RunRow, last: int) -> list[dict[str, Any]]:
    out = []
    at = last
    while True:
        point = store.checkpoint_before(run.id, at)
        if point is None:
            break
        out.append({"step": point[0], "hash": point[1]})
        at = point[0] - 1
    return list(reversed(out))


def trace_of(
    store: TraceStore,
    run: RunRow,
    redact: Callable[[Any], Any] | None = None,
    *,
    full: bool = True,
    state: bool = False,
) -> list[Span]:
    """The spans of one stored run (root first).

    Args:
        full: carry the exact steps and run row (``agentbox.step`` / ``agentbox.run``).
        state: also carry the run's checkpoints and their state blobs
            (``agentbox.checkpoints`` / ``agentbox.blobs``), so an imported copy can be
            shown at any step, forked and exported like the original.
    """
    steps = store.steps(run.id)
    extra: dict[str, Any] = {}
    if state:
        points = _checkpoints(store, run, steps[-1].idx if steps else 0)
        if points:
            extra["agentbox.checkpoints"] = json.dumps(points)
            clean = redact or (lambda v: v)  # states hold secrets too (kept under their hash)
            blobs = {p["hash"]: clean(store.get_blob(p["hash"])) for p in points}
            extra["agentbox.blobs"] = json.dumps(blobs, separators=(",", ":"))
    approvals = store.approvals(status=None, run_id=run.id)
    return run_spans(run, steps, approvals, redact=redact, full=full, extra=extra)


def write_jsonl(
    store: TraceStore,
    runs: list[RunRow],
    path: Path,
    redact: Callable[[Any], Any] | None = None,
    project: str | None = None,
) -> int:
    """Write the runs' spans to ``path`` (one OTLP JSON line per span); returns the span
    count.

    Raises:
        OSError: the file cannot be written.
    """
    resource = resource_attributes(project)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for run in runs:
            for line in jsonl_lines(
                trace_of(store, run, redact, state=True), resource, __version__
            ):
                out.write(line + "\n")
                count += 1
    return count


def unfinished(runs: list[RunRow]) -> list[str]:
    """Ids of runs that have not finished (exported as they are, marked in status)."""
    return [r.id for r in runs if r.status not in FINISHED]
