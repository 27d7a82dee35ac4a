"""What the run screen shows for one step, as rich ``Text`` (headless: no Textual).

What each step kind shows is decided in :mod:`agentbox.steplook` (shared with the CLI);
this module turns its pieces into rich ``Text`` and adds the TUI-only panels.

Reasoning (what the model said or thought) is kept apart from the action (the tool call:
arguments, validation, policy verdict, result or error), as everywhere in agentbox.
Long values are clipped so moving the cursor stays cheap whatever a step holds.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from rich.highlighter import JSONHighlighter
from rich.text import Span, Text

from agentbox import statuses, steplook
from agentbox.events import LlmEvent
from agentbox.safe_text import has_control, visible
from agentbox.steplook import CLIP, Json, Piece, Seg, args_text, clip
from agentbox.store import ApprovalRow, RunRow, StepRow

__all__ = [
    "CLIP",
    "STATUS_STYLE",
    "action_text",
    "changes_text",
    "clip",
    "op_text",
    "patch_text",
    "pretty",
    "reasoning_text",
    "rich_text",
    "run_status_text",
    "run_title",
    "shadow_diff_text",
    "started_text",
    "usage_text",
    "usd",
    "visible_text",
]

STATUS_STYLE = statuses.STYLE
"""Run status -> rich style (the one table in :mod:`agentbox.statuses`)."""

_json = JSONHighlighter()


def visible_text(text: Text) -> Text:
    """``text`` with its control characters made visible (:func:`agentbox.safe_text.visible`),
    styles kept on the same characters. Every widget that draws stored text calls it."""
    plain = text.plain
    if not has_control(plain):
        return text
    starts, parts, n = [], [], 0
    for ch in plain:
        starts.append(n)
        shown = visible(ch)
        parts.append(shown)
        n += len(shown)
    starts.append(n)
    return Text(
        "".join(parts),
        style=text.style,
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        tab_size=text.tab_size,
        spans=[Span(starts[s.start], starts[s.end], s.style) for s in text.spans],
    )


def pretty(value: Any, limit: int = CLIP) -> Text:
    """A JSON value (or a string holding JSON) indented and highlighted, clipped."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return Text(clip(value, limit))
    text = Text(clip(json.dumps(value, indent=2, default=str, ensure_ascii=False), limit))
    _json.highlight(text)
    return text


def usd(value: float | None, unknown: int = 0) -> str:
    """``$0.0012`` (:func:`agentbox.steplook.usd` with 4 decimals, the TUI's columns)."""
    return steplook.usd(value, unknown, places=4)


def rich_text(pieces: list[Piece], out: Text | None = None) -> Text:
    """Display-neutral pieces (:mod:`agentbox.steplook`) as rich ``Text``; JSON values
    indented and highlighted (:func:`pretty`)."""
    out = Text() if out is None else out
    for piece in pieces:
        if isinstance(piece, Seg):
            out.append(piece.text, style=piece.style or None)
        elif isinstance(piece, Json):
            out.append_text(pretty(piece.value, piece.limit))
        else:
            out.append_text(rich_text(list(piece.parts), Text(style=piece.style)))
    return out


def _section(title: str) -> Text:
    return Text(title, style="bold underline")


def reasoning_text(step: StepRow, origin: StepRow | None = None) -> Text:
    """The model's words and thinking at (or leading to) ``step``.

    Args:
        step: the selected step.
        origin: for a tool call or a hold, the model step that asked for it.
    """
    if step.kind == "user":  # a user turn: the exchange, in conversation order
        return _user_turn_text(step)
    source = step if step.kind == "llm" else origin
    event = source.event if source is not None else None
    out = Text()
    if source is None or not isinstance(event, LlmEvent):
        out.append("No model output at this step.", style="dim")
        if step.kind == "final" and step.data.get("output"):
            out.append("\n\n")
            out.append_text(_section("Final answer"))
            out.append("\n" + clip(str(step.data["output"])))
        return out
    if source is not step:
        out.append(f"↳ asked for at step {source.idx} (model {source.name})\n\n", style="dim")
    resp = event.response
    if resp.reasoning:
        out.append_text(_section("Thinking"))
        out.append("\n" + clip(resp.reasoning) + "\n\n", style="italic")
    if resp.text:
        out.append_text(_section("Says"))
        out.append("\n" + clip(resp.text) + "\n\n")
    calls = resp.tool_calls
    if calls:
        out.append_text(_section("Asks to call"))
        for call in calls:
            out.append(f"\n• {call.name}({args_text(call.arguments)})", style="magenta")
        out.append("\n")
    if not (resp.reasoning or resp.text or calls):
        out.append("The model returned an empty response.", style="dim")
    return out


def _user_turn_text(step: StepRow) -> Text:
    out = Text()
    said = str(step.data.get("in_reply_to") or "")
    if said:
        out.append_text(_section("Agent said"))
        out.append("\n" + clip(said) + "\n\n")
    out.append_text(_section(f"User says ({step.data.get('by', 'user')})"))
    out.append("\n" + clip(str(step.data.get("text") or "")) + "\n", style="bold")
    if step.data.get("stop"):
        out.append("\nThe user ended the conversation.", style="dim")
    return out


def action_text(step: StepRow, approval: ApprovalRow | None = None) -> Text:
    """The action at ``step``: tool, arguments, validation, policy, result or error
    (:func:`agentbox.steplook.detail`)."""
    return rich_text(steplook.detail(step, approval))


def usage_text(step: StepRow) -> Text:
    """Two lines: the step's tokens, cost and latency; the run's totals after it."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"step {step.idx} {step.kind}", style="bold")
    if step.input_tokens is not None or step.output_tokens is not None:
        out.append(f" · {step.input_tokens or 0}+{step.output_tokens or 0} tok")
    if step.kind == "llm":
        out.append(f" · {usd(step.cost_usd, 0 if step.cost_usd is not None else 1)}")
    if step.duration_s is not None:
        ms = step.duration_s * 1000
        out.append(f" · {ms:.1f} ms" if ms >= 1 else f" · {ms * 1000:.0f} µs")
    c = step.counters
    if c:
        out.append("\nrun so far ", style="dim")
        out.append(
            f"{c.get('input_tokens', 0)}+{c.get('output_tokens', 0)} tok · "
            f"{usd(c.get('cost_usd', 0.0), int(c.get('cost_unknown', 0)))} · "
            f"{c.get('tool_calls', 0)} calls · {c.get('elapsed_s', 0.0):.2f} s"
        )
    return out


def op_text(op: dict[str, Any]) -> Text:
    """One RFC 6902 operation as ``~ /orders/ord_1/status = "x"``."""
    mark, style = {"add": ("+", "green"), "remove": ("-", "red"), "replace": ("~", "yellow")}.get(
        op.get("op", ""), ("?", "")
    )
    out = Text(f"{mark} {op.get('path')}", style=style)
    if "value" in op:
        value = json.dumps(op["value"], default=str, ensure_ascii=False)
        out.append(" = " + (value if len(value) <= 300 else value[:299] + "…"))
    return out


def patch_text(step: StepRow) -> Text:
    """The state changes made by ``step`` (its stored patch)."""
    if not step.patch:
        return Text("No state change at this step.", style="dim")
    out = Text(f"{len(step.patch)} change(s) at step {step.idx}:\n", style="bold")
    for op in step.patch[:200]:
        out.append_text(op_text(op))
        out.append("\n")
    if len(step.patch) > 200:
        out.append(f"… {len(step.patch) - 200} more\n", style="dim")
    return out


def changes_text(changes: list[tuple[str, str, Any, Any]], step: int) -> Text:
    """Records that differ from the run's starting state after ``step``."""
    if not changes:
        return Text(f"State after step {step}: unchanged from the start of the run.", style="dim")
    out = Text(
        f"State after step {step}: {len(changes)} record(s) differ from the start:\n", style="bold"
    )
    for coll, key, before, after in changes[:100]:
        what = "added" if before is None else "removed" if after is None else "changed"
        out.append(f"\n{coll}/{key} ({what})\n", style="bold cyan")
        out.append_text(
            pretty(after, 1500) if after is not None else Text("(removed)", style="red")
        )
        out.append("\n")
    if len(changes) > 100:
        out.append(f"… {len(changes) - 100} more records\n", style="dim")
    return out


def shadow_diff_text(
    changes: list[tuple[str, str, Any, Any]], identity: dict[str, Any] | None, step: int
) -> Text:
    """A shadow run's diff after ``step``: per table and row, each changed column's
    ``before → after`` (the source itself is never written)."""
    from agentbox.sandbox.sources.shadow_diff import by_table

    if not changes:
        return Text(f"Shadow diff after step {step}: nothing differs from the source.", style="dim")
    out = Text(
        f"Shadow diff after step {step} (the source is untouched): {len(changes)} row(s) differ\n",
        style="bold",
    )
    shown = 0
    for group in by_table(changes, identity):
        table = group["table"] or group["collection"]
        for row in group["rows"]:
            if shown == 100:
                out.append(f"… {len(changes) - 100} more rows\n", style="dim")
                return out
            shown += 1
            out.append(f"\n{table} {row['key']} ({row['op']})\n", style="bold cyan")
            if row["op"] != "update":
                out.append_text(pretty(row["after"] or row["before"], 1500))
                out.append("\n")
                continue
            for column, change in row["columns"].items():
                out.append(f"  {visible(str(column))}: ", style="bold")
                out.append(visible(_short(change["before"])), style="red")
                out.append(" → ")
                out.append(visible(_short(change["after"])), style="green")
                out.append("\n")
    return out


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_title(run: RunRow) -> str:
    """``run 3fa2… · scenario · mode · model`` (plain text, for the screen title)."""
    lineage = f" · fork of {run.parent_id}@{run.fork_step}" if run.parent_id else ""
    return visible(
        f"run {run.id} · {run.scenario} · {run.mode} · {run.model or run.agent}{lineage}"
    )


def run_status_text(
    run: RunRow, steps: int, following: bool, counters: dict[str, Any] | None = None
) -> Text:
    """Status line of the run screen: status, steps, tokens, cost, live marker.

    ``counters``: the newest step's cumulative counters (the run row's are only written
    when the run ends or parks).
    """
    status = run.display_status
    out = Text(f" {status} ", style=f"reverse {STATUS_STYLE.get(status, '')}")
    if run.reason:
        out.append(f" {run.reason}", style=STATUS_STYLE.get(status, ""))
    c = counters or run.counters
    out.append(
        f"  {steps} steps · {c.get('tool_calls', 0)} tool calls · "
        f"{c.get('input_tokens', 0)}/{c.get('output_tokens', 0)} tok · "
        f"{usd(c.get('cost_usd', 0.0), int(c.get('cost_unknown', 0)))}"
    )
    if following and run.live:
        out.append("  ● live", style="bold cyan")
    elif following:
        out.append("  ◌ waiting (no process: resume with r)", style="cyan")
    return out


def started_text(ts: float) -> str:
    """``11-21 14:03:07`` local time."""
    return dt.datetime.fromtimestamp(ts).strftime("%m-%d %H:%M:%S")
