"""How each step kind reads, in every view: one look per kind, shared by the CLI and the TUI.

Display-neutral: a look returns plain text pieces with rich style names (``"bold red"``)
-- :class:`Seg` (text), :class:`Json` (a value to show indented) and :class:`Styled` (pieces
under one style, like a rich ``Text`` with a base style) -- and imports neither rich nor
Textual; :mod:`agentbox.cli.render` and
:mod:`agentbox.tui.present` turn the pieces into rich ``Text``. Each kind's look
(:class:`KindLook`) answers four questions about a step:

- :meth:`~KindLook.lines`: its lines in ``agentbox run``/``show`` (the CLI);
- :meth:`~KindLook.summary`: its one-line entry in the TUI timeline;
- :meth:`~KindLook.detail`: the TUI's action panel (tool, arguments, policy, result...);
- :meth:`~KindLook.search`: the text ``/`` search looks in.

Looks read the step's typed event (:mod:`agentbox.events`). A kind this version does not
know, or data that does not fit its kind, is shown raw by the base :class:`KindLook`.
Adding a step kind is one subclass here, registered in :data:`LOOKS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from agentbox import statuses
from agentbox.events import (
    ApprovalEvent,
    ErrorEvent,
    FinalEvent,
    ForkEvent,
    LlmEvent,
    PolicyDecision,
    PolicyEvent,
    StepEvent,
    ToolEvent,
    UnknownEvent,
    UserEvent,
)

CLIP = 4000
"""Characters shown of one value (a result, a state record) before ``… N more``."""


@dataclass(frozen=True)
class Seg:
    """A piece of text in a rich style (``""``: none)."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class Json:
    """A JSON value (or text holding JSON) shown indented and clipped to ``limit``
    characters; a view may highlight it."""

    value: Any
    limit: int = CLIP


@dataclass(frozen=True)
class Styled:
    """Pieces under one style: ``style`` covers all of them, each piece's own on top
    (a rich ``Text`` whose base style is ``style``). A CLI line is one."""

    style: str
    parts: tuple[Seg | Json, ...]


Piece = Seg | Json | Styled
Line = Styled


def line(style: str, *parts: Seg) -> Styled:
    """A CLI line: ``parts`` under ``style``."""
    return Styled(style, parts)


@dataclass(frozen=True)
class Summary:
    """How a step reads in the timeline: ``icon label text`` in ``style``."""

    icon: str
    label: str
    style: str
    text: str


class StepLike(Protocol):
    """What a look reads of a step (``agentbox.store.StepRow``; no import of the store)."""

    idx: int
    kind: str
    name: str | None
    status: str
    data: dict[str, Any]
    patch: list[dict[str, Any]] | None
    input_tokens: int | None
    output_tokens: int | None

    @property
    def event(self) -> StepEvent: ...


class ApprovalLike(Protocol):
    """What the detail view reads of a stored approval (``agentbox.store.ApprovalRow``)."""

    status: str
    decided_by: str | None
    decision_reason: str | None
    edited_args: dict[str, Any] | None


# ---- text helpers ----------------------------------------------------------------------
def usd(
    value: float | None, unknown: int = 0, *, places: int | None = None, short: bool = False
) -> str:
    """A cost in USD; ``unknown`` when the price is not known (never shown as $0).

    Args:
        value: USD (None: unknown).
        unknown: how many model calls had no known price.
        places: decimals (None: 4 below a cent, else 2).
        short: say just ``unknown`` when any price was unknown (narrow tables).
    """
    if value is None or (unknown and not value) or (short and unknown):
        return "unknown"
    digits = places if places is not None else (4 if 0 < value < 0.01 else 2)
    return f"${value:.{digits}f}" + (f" (+{unknown} call(s) unknown)" if unknown else "")


def short(value: Any, width: int = 100) -> str:
    """One line of at most ``width`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def oneline(text: Any) -> str:
    """Whitespace collapsed to single spaces (JSON-encoded when not a string)."""
    value = text if isinstance(text, str) else json.dumps(text, default=str)
    return " ".join(value.split())


def args_text(args: Any) -> str:
    """``a="x", b=2`` for a dict of arguments."""
    if isinstance(args, dict):
        return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in args.items())
    return json.dumps(args, default=str)


def call_text(name: str | None, args: Any) -> str:
    """``tool(a="x", b=2)`` for display."""
    return f"{name}({args_text(args)})"


def clip(text: str, limit: int = CLIP) -> str:
    """``text`` cut to ``limit`` characters with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… {len(text) - limit:,} more characters"


def _head(step: StepLike, *parts: Seg) -> Styled:
    """A step's first CLI line: its number, then ``parts``, all in bold."""
    return Styled("bold", (Seg(f"{step.idx:>4} "), *parts))


def _verdict(decision: PolicyDecision) -> Styled:
    """``hold (yellow) · rule big-refund · over $200`` for the detail view."""
    style = {"allow": "green", "hold": "magenta", "block": "red"}.get(decision.verdict, "")
    parts = [Seg(decision.verdict), Seg(f" ({decision.tier})")]
    if decision.rule:
        parts.append(Seg(f" · rule {decision.rule}", "bold"))
    if decision.reason:
        parts.append(Seg(f" · {decision.reason}"))
    return Styled(f"bold {style}", tuple(parts))


_SEARCHED = (
    "tool",
    "args",
    "result",
    "error",
    "reason",
    "output",
    "edited_args",
    "validation_errors",
    "decision",
)


# ---- the looks -----------------------------------------------------------------------
class KindLook:
    """How a step reads; this base shows any step raw (an unknown kind, or data that does
    not fit its kind). Subclasses override per kind and get the typed event."""

    def lines(self, step: StepLike, event: Any, width: int, live: bool) -> list[Line]:
        """The CLI lines (``live``: followed as it happens; see :func:`cli_lines`)."""
        return [_head(step, Seg(f"{step.kind} {short(step.data, width)}"))]

    def summary(self, step: StepLike, event: Any) -> Summary:
        """The timeline line."""
        return Summary("·", step.kind, "", oneline(step.data))

    def detail(self, step: StepLike, event: Any, approval: ApprovalLike | None) -> list[Piece]:
        """The action panel."""
        return [Json(step.data)]

    def search(self, step: StepLike, event: Any) -> list[str]:
        """Texts ``/`` search looks in, besides kind, status and name."""
        parts = []
        for key in _SEARCHED:
            value = step.data.get(key)
            if value:
                parts.append(value if isinstance(value, str) else json.dumps(value, default=str))
        return parts


class LlmLook(KindLook):
    def lines(self, step: StepLike, event: LlmEvent, width: int, live: bool) -> list[Line]:
        resp = event.response
        tokens = (step.input_tokens or 0) + (step.output_tokens or 0)
        out = [_head(step, Seg(f"model  {step.name}", "blue"), Seg(f"  {tokens} tok", "dim"))]
        if resp.reasoning:
            out.append(
                line("dim", Seg("       thinks: "), Seg(short(resp.reasoning, width), "italic dim"))
            )
        if resp.text:
            out.append(line("", Seg("       says:   "), Seg(short(resp.text, width))))
        if resp.tool_calls:
            names = ", ".join(str(c.name) for c in resp.tool_calls)
            out.append(line("dim", Seg(f"       calls:  {names}")))
        return out

    def summary(self, step: StepLike, event: LlmEvent) -> Summary:
        resp = event.response
        if resp.tool_calls:
            text = "→ " + ", ".join(str(c.name) for c in resp.tool_calls)
        elif resp.text:
            text = "says: " + oneline(resp.text)
        elif resp.reasoning:
            text = "thinks: " + oneline(resp.reasoning)
        else:
            text = "(empty response)"
        return Summary("◆", "model", "blue", text)

    def detail(self, step: StepLike, event: LlmEvent, approval: ApprovalLike | None) -> list[Piece]:
        calls = event.response.tool_calls
        if not calls:
            return [Seg("No tool call: the model answered in text.", "dim")]
        out: list[Piece] = [
            Seg(f"{len(calls)} tool call(s) requested; each is gated at the next step(s).\n", "dim")
        ]
        for call in calls:
            out += [Seg(f"\n{call.name}\n", "bold magenta"), Json(call.arguments), Seg("\n")]
        return out

    def search(self, step: StepLike, event: LlmEvent) -> list[str]:
        resp = event.response
        parts = [resp.text or "", resp.reasoning or ""]
        for call in resp.tool_calls:
            parts += [str(call.name), json.dumps(call.arguments, default=str)]
        return parts


TOOL_LOOK = {
    "ok": ("✓", "tool"),
    "error": ("✗", "error"),
    "invalid": ("✗", "invalid"),
    "crashed": ("✗", "crashed"),
    "blocked": ("■", "blocked"),
    "denied": ("✗", "denied"),
    "recommended": ("→", "recommend"),
    "pending": ("…", "running"),
    "abandoned": ("?", "unknown"),
}
"""A tool step's status -> (mark, timeline label); its style is :func:`statuses.style`."""


class ToolLook(KindLook):
    def lines(self, step: StepLike, event: ToolEvent, width: int, live: bool) -> list[Line]:
        style = statuses.style(step.status)
        mark = TOOL_LOOK.get(step.status, ("?", ""))[0]
        out = [
            _head(
                step, Seg("tool   ", "magenta"), Seg(short(call_text(step.name, event.args), width))
            )
        ]
        decision = event.decision
        verdict = (
            f" [{decision.tier}{' · ' + decision.rule}]"
            if decision is not None and decision.rule
            else ""
        )
        result = short(event.result or "", width - 12)
        out.append(
            line(
                style, Seg(f"       {mark} {step.status}"), Seg(verdict, "dim"), Seg("  " + result)
            )
        )
        if step.patch:
            paths = ", ".join(op["path"] for op in step.patch[:3]) + (
                " …" if len(step.patch) > 3 else ""
            )
            out.append(line("dim", Seg(f"       state: {len(step.patch)} change(s) {paths}")))
        return out

    def summary(self, step: StepLike, event: ToolEvent) -> Summary:
        icon, label = TOOL_LOOK.get(step.status, ("?", step.status))
        return Summary(icon, label, statuses.style(step.status), call_text(step.name, event.args))

    def detail(
        self, step: StepLike, event: ToolEvent, approval: ApprovalLike | None
    ) -> list[Piece]:
        out: list[Piece] = [Seg("tool    ", "dim"), Seg(str(step.name), "bold magenta")]
        if event.effect:
            out.append(Seg(f"  ({event.effect})", "dim"))
        out += [Seg("\nargs    ", "dim"), Json(event.args), Seg("\nvalid   ", "dim")]
        if event.valid is False:
            errors = "; ".join(map(str, event.validation_errors or []))
            out.append(Seg("no: " + errors, "yellow"))
        else:
            out.append(Seg("yes", "green"))
        if event.decision is not None:
            out += [Seg("\npolicy  ", "dim"), _verdict(event.decision)]
        if event.approval_id:
            out.append(Seg(f"\nheld    {event.approval_id} (decided at the hold step)", "dim"))
        if event.edited:
            out.append(Seg("\nresult edited at a fork", "cyan"))
        label = {"ok": "result", "recommended": "recorded"}.get(step.status, step.status)
        style = (
            "green"
            if step.status == "ok"
            else "yellow"
            if step.status in ("error", "invalid", "recommended", "pending")
            else "red"
        )
        out.append(Seg(f"\n{label:<8}", f"bold {style}"))
        if step.status == "pending":
            out.append(Seg("executing (intent committed, result not yet recorded)"))
        else:
            out.append(Json(event.result or ""))
        if event.traceback:
            out.append(Seg("\n" + clip(event.traceback, 1500), "dim red"))
        return out


HOLD_LOOK = {
    "pending": ("‖", "held", "bold magenta"),
    "approved": ("✔", "approved", "green"),
    "edited": ("✔", "edited", "green"),
    "denied": ("✗", "denied", "red"),
    "failed": ("✗", "held", "red"),
}
"""An approval step's status -> (icon, timeline label, style)."""


class ApprovalLook(KindLook):
    def lines(self, step: StepLike, event: ApprovalEvent, width: int, live: bool) -> list[Line]:
        dec = event.decision
        style = statuses.style(step.status)
        out: list[Line] = []
        if not (live and step.status != "pending"):
            call = short(call_text(event.tool, event.args), width)
            out.append(_head(step, Seg("hold   ", "magenta"), Seg(call)))
            out.append(line("yellow", Seg(f"       ⏸ rule {dec.rule}: {dec.reason}")))
        if step.status == "pending":
            out.append(line(style, Seg(f"       … waiting for a decision on {event.approval_id}")))
        else:
            who = event.decided_by or "-"
            reason = f": {event.reason}" if event.reason else ""
            out.append(line(style, Seg(f"       → {step.status} by {who}{reason}")))
        if event.edited_args:
            out.append(line("dim", Seg(f"       edited: {short(event.edited_args, width)}")))
        return out

    def summary(self, step: StepLike, event: ApprovalEvent) -> Summary:
        icon, label, style = HOLD_LOOK.get(step.status, ("?", step.status, ""))
        return Summary(icon, label, style, call_text(event.tool, event.args))

    def detail(
        self, step: StepLike, event: ApprovalEvent, approval: ApprovalLike | None
    ) -> list[Piece]:
        out: list[Piece] = [
            Seg("held    ", "dim"),
            Seg(event.tool, "bold magenta"),
            Seg(f"  approval {event.approval_id}", "dim"),
            Seg("\nargs    ", "dim"),
            Json(event.args),
            Seg("\npolicy  ", "dim"),
            _verdict(event.decision),
        ]
        if approval is not None:  # the approvals table is newer than the trace step
            status, by = approval.status, approval.decided_by
            reason, edited = approval.decision_reason, approval.edited_args
        else:
            status, by = step.status, event.decided_by
            reason, edited = event.reason, event.edited_args
        out.append(Seg("\ndecision ", "dim"))
        style = {"pending": "bold magenta", "denied": "red", "failed": "red"}.get(status, "green")
        out.append(Seg(status, style))
        if status != "pending":
            out.append(Seg(f" by {by or '-'}" + (f": {reason}" if reason else "")))
        if edited:
            out += [Seg("\nedited  ", "dim"), Json(edited)]
        return out


class PolicyLook(KindLook):
    def lines(self, step: StepLike, event: PolicyEvent, width: int, live: bool) -> list[Line]:
        return [_head(step, Seg(f"policy ■ {step.status}: {event.reason}", "yellow"))]

    def summary(self, step: StepLike, event: PolicyEvent) -> Summary:
        return Summary("■", step.status, "yellow", oneline(event.reason))

    def detail(
        self, step: StepLike, event: PolicyEvent, approval: ApprovalLike | None
    ) -> list[Piece]:
        return [Seg(f"run {step.status} by a budget or policy\n", "bold yellow"), Seg(event.reason)]


class ErrorLook(KindLook):
    def lines(self, step: StepLike, event: ErrorEvent, width: int, live: bool) -> list[Line]:
        return [_head(step, Seg(f"error  {step.name}: {short(event.error, width)}", "red"))]

    def summary(self, step: StepLike, event: ErrorEvent) -> Summary:
        return Summary("!", "error", "bold red", f"{step.name}: {oneline(event.error)}")

    def detail(
        self, step: StepLike, event: ErrorEvent, approval: ApprovalLike | None
    ) -> list[Piece]:
        out: list[Piece] = [Seg(f"{step.name}: ", "bold red"), Seg(clip(event.error))]
        if event.hint:
            out.append(Seg(f"\nhint: {event.hint}", "dim"))
        if event.traceback:
            out.append(Seg("\n\n" + clip(event.traceback, 2000), "dim"))
        return out


class FinalLook(KindLook):
    def lines(self, step: StepLike, event: FinalEvent, width: int, live: bool) -> list[Line]:
        return [_head(step, Seg(f"final  {step.status}", statuses.style(step.status)))]

    def summary(self, step: StepLike, event: FinalEvent) -> Summary:
        text = event.output or event.reason or ""
        style = f"bold {statuses.style(step.status)}".strip()
        return Summary(
            "●", "final", style, f"{step.status}: {oneline(text)}" if text else step.status
        )

    def detail(
        self, step: StepLike, event: FinalEvent, approval: ApprovalLike | None
    ) -> list[Piece]:
        out: list[Piece] = [Seg(f"run {step.status}", statuses.style(step.status) or "bold")]
        if event.reason:
            out.append(Seg(f"\nreason  {event.reason}"))
        if event.output:
            out += [Seg("\noutput  ", "dim"), Seg(clip(event.output))]
        return out


class ForkLook(KindLook):
    def lines(self, step: StepLike, event: ForkEvent, width: int, live: bool) -> list[Line]:
        edits = ", ".join(f"{k}={short(v, 40)}" for k, v in event.edits.items())
        return [
            _head(
                step,
                Seg(f"fork   from {event.parent_id} at step {event.at}", "cyan"),
                Seg(f"  {edits or 'no edits'}", "dim"),
            )
        ]

    def summary(self, step: StepLike, event: ForkEvent) -> Summary:
        return Summary(
            "⑂", "fork", "cyan", f"from {event.parent_id}@{event.at} {oneline(event.edits)}"
        )

    def detail(
        self, step: StepLike, event: ForkEvent, approval: ApprovalLike | None
    ) -> list[Piece]:
        return [
            Seg(f"fork of run {event.parent_id} at step {event.at}\n", "bold cyan"),
            Seg("edits   ", "dim"),
            Json(event.edits),
        ]


class UserLook(KindLook):
    """A user turn: what the user said, who said it, and a simulated user's usage."""

    def lines(self, step: StepLike, event: UserEvent, width: int, live: bool) -> list[Line]:
        head = [Seg(f"user   {event.by}", "green")]
        if event.usage is not None:
            tokens = event.usage.input_tokens + event.usage.output_tokens
            head.append(Seg(f"  {event.model or ''}  {tokens} tok".replace("    ", "  "), "dim"))
        out = [_head(step, *head)]
        style = "red" if step.status == "error" else ""
        out.append(
            line(style, Seg("       says:   "), Seg(short(event.text, width) or "(nothing)"))
        )
        if event.stop:
            out.append(line("dim", Seg("       ends the conversation")))
        if event.error:
            out.append(line("red", Seg(f"       ✗ {short(event.error, width)}")))
        return out

    def summary(self, step: StepLike, event: UserEvent) -> Summary:
        if step.status == "error":
            return Summary("✗", "user", "red", oneline(event.error or event.text))
        return Summary("▸", "user", "green", "says: " + oneline(event.text))

    def detail(
        self, step: StepLike, event: UserEvent, approval: ApprovalLike | None
    ) -> list[Piece]:
        out: list[Piece] = [
            Seg(f"user turn {event.turn}", "bold green"),
            Seg(f"  ({event.by}{' · ' + event.model if event.model else ''})", "dim"),
        ]
        if event.in_reply_to:
            out += [Seg("\nagent   ", "dim"), Seg(clip(event.in_reply_to))]
        out += [Seg("\nuser    ", "dim"), Seg(clip(event.text), "bold")]
        if event.stop:
            out.append(Seg("\nthe user ended the conversation (stop token)", "dim"))
        if event.usage is not None:
            u = event.usage
            out.append(
                Seg(
                    f"\nusage   {u.input_tokens}+{u.output_tokens} tok · {usd(u.cost_usd)} "
                    "(the simulated user's, not the agent's)",
                    "dim",
                )
            )
        if event.error:
            out.append(Seg(f"\nsimulator error: {event.error}", "bold red"))
        return out

    def search(self, step: StepLike, event: UserEvent) -> list[str]:
        return [event.text, event.by, event.in_reply_to, event.error or ""]


RAW = KindLook()
"""The look of a step shown raw."""

LOOKS: dict[str, KindLook] = {
    "llm": LlmLook(),
    "tool": ToolLook(),
    "approval": ApprovalLook(),
    "policy": PolicyLook(),
    "error": ErrorLook(),
    "final": FinalLook(),
    "fork": ForkLook(),
    "user": UserLook(),
}
"""Each step kind's look (kinds not listed, e.g. ``note``, are shown raw)."""


def _look(step: StepLike) -> tuple[KindLook, StepEvent]:
    event = step.event
    if isinstance(event, UnknownEvent):
        return RAW, event
    return LOOKS.get(step.kind, RAW), event


# ---- what the views call ---------------------------------------------------------------
def cli_lines(step: StepLike, *, width: int = 110, live: bool = False) -> list[Line]:
    """Lines for one step in the CLI: reasoning (dim) kept apart from actions.

    ``live``: the step is being followed as it happens, so a decided approval (already
    shown while pending) prints only its decision.
    """
    look, event = _look(step)
    return look.lines(step, event, width, live)


def summary(step: StepLike) -> Summary:
    """The timeline line for a step (TUI)."""
    look, event = _look(step)
    return look.summary(step, event)


def detail(step: StepLike, approval: ApprovalLike | None = None) -> list[Piece]:
    """The action at ``step`` (TUI): tool, arguments, validation, policy, result or error.

    ``approval``: the stored approval of a hold (its decision may be newer than the step).
    """
    look, event = _look(step)
    return look.detail(step, event, approval)


def search_text(step: StepLike) -> str:
    """What ``/`` search looks in: kind, status, tool names, args, model text, results."""
    look, event = _look(step)
    return "\n".join([step.kind, step.status, step.name or "", *look.search(step, event)])
