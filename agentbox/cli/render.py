"""How runs and steps look on the terminal (rich). Used only by the CLI.

What a step shows is decided per kind in :mod:`agentbox.steplook` (shared with the TUI);
this module only turns its pieces into rich ``Text``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agentbox import statuses, steplook
from agentbox.steplook import Seg, Styled, call_text, short, usd
from agentbox.store import RunRow, StepRow

__all__ = [
    "STATUS_STYLE",
    "call_text",
    "changes_table",
    "print_step",
    "rich_line",
    "run_header",
    "runs_table",
    "short",
    "step_lines",
    "summary_table",
    "usd",
]

STATUS_STYLE = statuses.STYLE
"""Status -> rich style (the one table in :mod:`agentbox.statuses`)."""


def rich_line(line: Styled) -> Text:
    """A display-neutral line (:mod:`agentbox.steplook`) as rich ``Text``."""
    text = Text(style=line.style)
    for part in line.parts:
        if isinstance(part, Seg):
            text.append(part.text, style=part.style or None)
        else:  # a JSON value: one line here
            text.append(short(part.value))
    return text


def step_lines(step: StepRow, *, width: int = 110, live: bool = False) -> list[Text]:
    """Lines for one step (:func:`agentbox.steplook.cli_lines`): reasoning (dim) kept
    apart from actions; ``live``: a decided approval prints only its decision."""
    return [rich_line(line) for line in steplook.cli_lines(step, width=width, live=live)]


def print_step(console: Console, step: StepRow, *, live: bool = False) -> None:
    """Print one step (``live``: as it happens; see :func:`step_lines`)."""
    for line in step_lines(step, width=max(40, console.width - 16), live=live):
        console.print(line, overflow="ellipsis", no_wrap=True, crop=True)


def run_header(run: RunRow) -> str:
    """``run 3fa2… · scenario · sandbox · mode · model`` (rich markup)."""
    lineage = f" · fork of {run.parent_id}@{run.fork_step}" if run.parent_id else ""
    if run.replay_of:
        lineage += f" · replay of {run.replay_of} (not live evidence)"
    return (
        f"[bold]run {run.id}[/] · {escape(run.scenario)} · sandbox {run.sandbox} · "
        f"mode {run.mode} · {run.agent}/{run.model}{lineage}"
    )


def summary_table(run: RunRow, changes: int | None = None) -> Table:
    """The end-of-run summary."""
    c = run.counters
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    status = Text(run.display_status, style=STATUS_STYLE.get(run.status, ""))
    if run.reason:
        status += Text(f" — {run.reason}")
    table.add_row("status", status)
    table.add_row("steps", str(c.get("steps", 0)))
    table.add_row(
        "tool calls",
        f"{c.get('tool_calls', 0)} ({c.get('invalid_tool_calls', 0)} invalid, "
        f"{c.get('tool_errors', 0)} errors)",
    )
    table.add_row(
        "policy",
        f"{c.get('holds', 0)} held ({c.get('approvals', 0)} approved, "
        f"{c.get('denials', 0)} denied), {c.get('blocks', 0)} blocked",
    )
    table.add_row("tokens", f"{c.get('input_tokens', 0)} in / {c.get('output_tokens', 0)} out")
    unknown = int(c.get("cost_unknown", 0))
    cost = None if unknown and not c.get("cost_usd") else c.get("cost_usd", 0.0)
    table.add_row("cost", usd(cost, unknown if cost is not None else 0))
    if c.get("user_turns"):  # a conversation: the user's turns, its model's usage apart
        text = str(c["user_turns"])
        user_tokens = int(c.get("user_input_tokens", 0)) + int(c.get("user_output_tokens", 0))
        if user_tokens or c.get("user_cost_unknown"):
            user_unknown = int(c.get("user_cost_unknown", 0))
            user_cost = usd(c.get("user_cost_usd", 0.0), user_unknown)
            text += f" (simulated user: {user_tokens} tok, {user_cost}; not in the agent's cost)"
        table.add_row("user turns", text)
    if run.duration_s is not None:
        table.add_row("duration", f"{run.duration_s:.3f} s")
    return table


def changes_table(changes: list[tuple[str, str, Any, Any]], title: str, limit: int = 12) -> Table:
    """Records a run changed: collection/key and what changed."""
    import jsonpatch  # ~5 ms: only runs with state changes print them

    table = Table(title=title, title_justify="left", show_edge=False, expand=False)
    table.add_column("record")
    table.add_column("change")
    for coll, key, before, after in changes[:limit]:
        if before is None:
            what = "added " + short(after, 80)
        elif after is None:
            what = "removed"
        elif isinstance(before, dict) and isinstance(after, dict):
            what = "; ".join(
                _op_text(op, before) for op in jsonpatch.make_patch(before, after).patch
            )
        else:
            what = f"{short(before, 40)} → {short(after, 40)}"
        table.add_row(Text(f"{coll}/{key}"), Text(what))
    if len(changes) > limit:
        table.add_row("…", f"{len(changes) - limit} more")
    return table


def _op_text(op: dict[str, Any], before: Any) -> str:
    import jsonpointer

    path = op["path"].lstrip("/").replace("/", ".")
    if op["op"] == "replace":
        try:
            old = jsonpointer.resolve_pointer(before, op["path"])
        except jsonpointer.JsonPointerException:
            old = None
        return f"{path}: {short(old, 30)} → {short(op['value'], 30)}"
    if op["op"] == "add":
        return f"+{path} {short(op['value'], 50)}"
    if op["op"] == "remove":
        return f"-{path}"
    return f"{op['op']} {path}"


def runs_table(runs: list[RunRow], width: int = 120) -> Table:
    """The ``agentbox runs`` table, newest first (↺ marks replays, ⑂ forks).

    Below 100 columns the start time is left out and holds/blocks share a column.
    """
    import datetime as _dt

    wide = width >= 100
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    table.add_column("run", no_wrap=True, min_width=12)
    table.add_column("scenario", no_wrap=True, max_width=24, overflow="ellipsis")
    table.add_column("mode", no_wrap=True, min_width=7)
    table.add_column("status", no_wrap=True, min_width=9)
    numbers = (
        ("steps", "tools", "held", "blocked", "cost")
        if wide
        else ("steps", "tools", "hold/blk", "cost")
    )
    for col in numbers:
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    if wide:
        table.add_column("started", no_wrap=True)
    today = _dt.date.today()
    for run in runs:
        c = run.counters
        unknown = int(c.get("cost_unknown", 0))
        status = run.display_status
        lineage = " ↺" if run.replay_of else " ⑂" if run.parent_id else ""
        holds, blocks = str(c.get("holds", 0)), str(c.get("blocks", 0))
        row: list[str | Text] = [
            run.id + lineage,
            Text(run.scenario),
            run.mode,
            Text(
                status if wide else statuses.short_word(status),
                style=STATUS_STYLE.get(status, ""),
            ),
            str(c.get("steps", 0)),
            str(c.get("tool_calls", 0)),
            *([holds, blocks] if wide else [f"{holds}/{blocks}"]),
            usd(c.get("cost_usd", 0.0), unknown, short=True),
        ]
        if wide:
            started = _dt.datetime.fromtimestamp(run.started_at)
            row.append(
                started.strftime("%H:%M:%S" if started.date() == today else "%Y-%m-%d %H:%M")
            )
        table.add_row(*row)
    return table
