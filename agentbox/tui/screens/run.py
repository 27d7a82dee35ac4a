"""The run screen: a step timeline with reasoning, action and state of the selected step.

Steps come from :class:`StepPages` (paged store reads), so the screen opens and moves in
constant time whatever the run's length. The full state at a step is rebuilt in a worker
only while the State tab is shown. A 0.5-second timer follows runs that are still going:
new steps are read as they are stored, held calls can be decided in place (the waiting
run, in this process or another, picks the decision up from the store) and a parked run
is resumed with ``r``. Engine work (resume, fork, export) runs in the app's workers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static, TabbedContent, TabPane
from textual.worker import Worker

from agentbox.errors import AgentboxError
from agentbox.safe_text import visible
from agentbox.store import ApprovalRow, RunRow, StepRow, TraceStore
from agentbox.tui.actions import can_resume
from agentbox.tui.present import (
    action_text,
    changes_text,
    patch_text,
    pretty,
    reasoning_text,
    run_status_text,
    run_title,
    shadow_diff_text,
    usage_text,
    visible_text,
)
from agentbox.tui.steps import StepPages, held_approval_id
from agentbox.tui.widgets.text_pane import TextPane
from agentbox.tui.widgets.timeline import Timeline

if TYPE_CHECKING:
    from agentbox.tui.app import AgentboxApp

WIDE = 150
"""Terminal width from which Reasoning and Action sit side by side."""
SHORT = 30
"""Below this many rows the Reasoning pane shrinks to its text (at most 5 lines)."""
LOOK_AHEAD = 8
"""At a step that names no record, the fork dialog shows those the next steps name
(up to this many steps on)."""


class RunScreen(Screen[None]):
    """One run, step by step.

    Args:
        store: the trace store (the app's read connection).
        run: the run to show (re-read from the store while it is live).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "back"),
        Binding("j,down", "step(1)", "next", show=False),
        Binding("k,up", "step(-1)", "prev", show=False),
        Binding("g,home", "first", "first", show=False),
        Binding("G,end", "last", "last", show=False),
        Binding("slash", "search", "search"),
        Binding("n", "next_match(1)", "next match", show=False),
        Binding("N", "next_match(-1)", "prev match", show=False),
        Binding("a", "approve", "approve"),
        Binding("d", "deny", "deny"),
        Binding("e", "edit", "edit"),
        Binding("r", "resume", "resume"),
        Binding("f", "fork", "fork"),
        Binding("x", "export", "export"),
        Binding("S", "stop", "stop"),
        Binding("1", "tab('tab-step')", "step tab", show=False),
        Binding("2", "tab('tab-state')", "state tab", show=False),
        Binding("p", "state_path", "state path", show=False),
        Binding(
            "J,shift+down", "scroll_detail(3)", "scroll the Action/State pane down", show=False
        ),
        Binding("K,shift+up", "scroll_detail(-3)", "scroll the Action/State pane up", show=False),
        Binding("question_mark", "help", "help"),
    ]

    @dataclass
    class StateReady(Message):
        """The state after step ``index`` was rebuilt (by a worker)."""

        index: int
        changes: list[tuple[str, str, Any, Any]]
        collections: dict[str, int]
        picked: Any = None
        """The value at the app's ``state_path`` (or the error naming what is missing)."""
        path: str | None = None

    @dataclass
    class SearchDone(Message):
        """A search for ``query`` ended at step ``index`` (None: no match)."""

        query: str
        index: int | None

    def __init__(self, store: TraceStore, run: RunRow) -> None:
        super().__init__()
        self.run = run
        self.pages = StepPages(store, run.id)
        self.approval: ApprovalRow | None = None
        self.query_text = ""
        self._state_timer: Timer | None = None
        self._state_for: int | None = None
        self._binding_state: tuple[bool, ...] = ()
        self._state_text = Text()
        self._status_key: tuple[object, ...] = ()

    @property
    def agentbox(self) -> AgentboxApp:
        return self.app  # type: ignore[return-value]

    # ---- layout --------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-status")
        with Horizontal(id="run-body"):
            yield Timeline(self.pages, on_move=self.show_step, id="timeline")
            with Vertical(id="detail"):
                yield Static("", id="usage")
                yield Static("", id="approval-panel")
                with TabbedContent(id="tabs"):
                    with TabPane("Step", id="tab-step"), Container(id="step-panes"):
                        reasoning = TextPane(id="reasoning")
                        reasoning.border_title = "Reasoning"
                        yield reasoning
                        action = TextPane(id="action")
                        action.border_title = "Action"
                        yield action
                    with TabPane("State", id="tab-state"):
                        state = TextPane(id="state")
                        state.border_title = "State"
                        yield state
        yield Input(
            placeholder="search this run: tool names, args, text (enter; n/N next/prev)",
            id="search",
            compact=True,
        )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.title = run_title(self.run)
        from agentbox.tui.screens.compare import version_subtitle  # the agent version

        self.sub_title = version_subtitle(self.agentbox.store.run_version(self.run.id))
        self.query_one("#search", Input).display = False
        timeline = self.query_one(Timeline)
        timeline.focus()
        self._wide(self.app.size.width, self.app.size.height)
        self._show_status()
        self.show_step(0)
        if not self.run.finished and self.pages.count > 1:  # live or parked: its newest step
            self.call_after_refresh(timeline.action_last)
        self.set_interval(0.5, self.poll, name="run-follow")

    def on_resize(self, event: Resize) -> None:
        self._wide(event.size.width, event.size.height)

    def _wide(self, width: int, height: int | None = None) -> None:
        panes = self.query_one("#step-panes")
        panes.set_class(width >= WIDE, "-wide")
        panes.set_class((height or self.app.size.height) < SHORT, "-short")

    def action_scroll_detail(self, lines: int) -> None:
        """Scroll the Action pane (the State pane on the State tab) without focusing it."""
        tab = self.query_one(TabbedContent).active
        pane = self.query_one("#state" if tab == "tab-state" else "#action", TextPane)
        pane.scroll_relative(y=lines, animate=False)

    # ---- the selected step -----------------------------------------------------------
    @property
    def cursor(self) -> int:
        return self.query_one(Timeline).cursor

    @property
    def step(self) -> StepRow | None:
        return self.pages.get(self.cursor)

    def show_step(self, index: int) -> None:
        """Fill the detail panes for step ``index`` (cheap: no full state here)."""
        step = self.pages.get(index)
        self.approval = None
        if step is None:
            message = Text(
                "No steps stored yet." if self.pages.count == 0 else "Step not stored.", style="dim"
            )
            self.query_one("#usage", Static).update(message, layout=False)
            for name in ("#reasoning", "#action", "#state"):
                self.query_one(name, TextPane).update("")
            self._show_approval(None)
            self._sync_bindings()
            return
        approval_id = held_approval_id(step)
        if approval_id is not None:
            try:
                self.approval = self.agentbox.store.get_approval(approval_id)
            except AgentboxError:
                self.approval = None
        origin = self._origin(step)
        self.query_one("#usage", Static).update(visible_text(usage_text(step)), layout=False)
        self.query_one("#reasoning", TextPane).update(reasoning_text(step, origin))
        self.query_one("#action", TextPane).update(action_text(step, self.approval))
        self._state_text = patch_text(step)
        self.query_one("#state", TextPane).update(self._state_text)
        self._show_approval(step)
        self._schedule_state(index)
        self._sync_bindings()

    def _origin(self, step: StepRow) -> StepRow | None:
        """The model step that asked for the call at ``step`` (looked up nearby)."""
        if step.kind not in ("tool", "approval"):
            return None
        for idx in range(step.idx - 1, max(-1, step.idx - 30), -1):
            prev = self.pages.get(idx)
            if prev is not None and prev.kind == "llm":
                return prev
        return None

    def _show_approval(self, step: StepRow | None) -> None:
        panel = self.query_one("#approval-panel", Static)
        row = self.approval
        if step is None or row is None:
            if panel.display:
                panel.display = False
            return
        panel.display = True
        decision = step.data.get("decision") or {}
        text = Text("‖ HELD", style="bold reverse magenta")
        text.append(f" {row.tool}", style="bold")
        text.append(
            f" · {decision.get('rule') or row.rule}: {decision.get('reason') or row.reason}\n"
        )
        if row.status == "pending":
            for key, what in (("a", " approve  "), ("d", " deny  "), ("e", " edit & approve")):
                text.append(key, style="bold cyan")
                text.append(what)
        else:
            text.append(
                f"{row.status} by {row.decided_by}",
                style="green" if row.status == "approved" else "red",
            )
            if row.decision_reason:
                text.append(f": {row.decision_reason}")
            if can_resume(self.run):
                text.append("  — the run is parked: ")
                text.append("r", style="bold cyan")
                text.append(" resumes it")
            else:
                text.append("  — the waiting run continues…", style="dim")
        panel.update(visible_text(text))

    def _show_status(self) -> None:
        following = not self.run.finished
        last = self.pages.get(self.pages.count - 1)
        counters = last.counters if last is not None and following else None
        key = (self.run.display_status, self.run.reason, self.pages.count, str(counters))
        if key == self._status_key:
            return
        self._status_key = key
        self.query_one("#run-status", Static).update(
            visible_text(run_status_text(self.run, self.pages.count, following, counters)),
            layout=False,
        )

    # ---- state (lazy) ----------------------------------------------------------------
    def _schedule_state(self, index: int) -> None:
        if self._state_timer is not None:
            self._state_timer.stop()
            self._state_timer = None
        if self.query_one(TabbedContent).active != "tab-state":
            return
        if self._state_for == index:
            return
        self.query_one("#state", TextPane).update(
            self._state_text + Text("\n\nrebuilding the state after this step…", style="dim")
        )
        self._state_timer = self.set_timer(0.12, lambda: self.load_state(index))

    @on(TabbedContent.TabActivated)
    def tab_changed(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-state":
            self._schedule_state(self.cursor)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed worker of this screen (state, search, fork) is shown as the app shows
        its own (``Worker.StateChanged`` does not bubble up to the app)."""
        self.agentbox.on_worker_state_changed(event)

    @work(thread=True, exclusive=True, group="state", exit_on_error=False)
    def load_state(self, index: int) -> None:
        from agentbox.checkpoints import pick, state_at

        state = state_at(self.agentbox.store, self.run, index)
        counts = {c: state.count(c) for c in state.collections()}
        path = self.agentbox.state_path
        picked: Any = None
        if path:
            try:
                picked = pick(state, path)
            except AgentboxError as exc:
                picked = exc
        self.post_message(self.StateReady(index, state.changes(), counts, picked, path))

    def on_run_screen_state_ready(self, message: StateReady) -> None:
        if message.index != self.cursor:
            return
        self._state_for = message.index
        text = self._state_text + Text("\n")
        if self.run.mode == "shadow":
            identity = self.run.options.get("state_source")
            text.append_text(shadow_diff_text(message.changes, identity, message.index))
        else:
            text.append_text(changes_text(message.changes, message.index))
        text.append(
            "\ncollections: " + ", ".join(f"{c} ({n})" for c, n in message.collections.items()),
            style="dim",
        )
        if message.path:
            text.append(f"\n\n{message.path}", style="bold")
            text.append("  (p: another path, empty: none)\n", style="dim")
            if isinstance(message.picked, AgentboxError):
                text.append(message.picked.message, style="red")
                if message.picked.hint:
                    text.append(f"\n{message.picked.hint}", style="dim")
            else:
                text.append_text(pretty(message.picked))
        else:
            text.append("\np: show one part of the state (orders.ord_5531)", style="dim")
        self.query_one("#state", TextPane).update(text)

    # ---- live follow -----------------------------------------------------------------
    def poll(self) -> None:
        """Timer: read new steps and run changes (cheap when nothing changed)."""
        store = self.agentbox.store
        if self.run.finished and self.pages.count:
            return
        old, new = self.pages.poll()
        try:
            self.run = store.get_run(self.run.id)
        except AgentboxError:
            return
        timeline = self.query_one(Timeline)
        cursor = timeline.cursor
        if new != old:
            timeline.steps_changed()
            if cursor >= old - 1:  # following the end: stay on the newest step
                timeline.cursor = new - 1
                if timeline.cursor == cursor:
                    self._refresh_current()
        else:
            step = self.pages.cached(cursor)
            if step is not None and step.status == "pending" and self._changed(step):
                self._refresh_current()
        self._show_status()
        self._sync_bindings()

    def _changed(self, step: StepRow) -> bool:
        """Whether a pending step (or its approval) changed in the store since shown."""
        fresh = self.pages.reload(step.idx)
        if fresh != step:
            return True
        if self.approval is not None:
            try:
                row = self.agentbox.store.get_approval(self.approval.id)
            except AgentboxError:
                return False
            return row.status != self.approval.status
        return False

    def _sync_bindings(self) -> None:
        """Refresh the footer only when an action's availability changed (it is costly)."""
        state = (
            self._pending() is not None,
            can_resume(self.run),
            self.run.finished,
            self.pages.count > 0,
        )
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def _refresh_current(self) -> None:
        self._state_for = None
        self.show_step(self.cursor)

    # ---- navigation ------------------------------------------------------------------
    def action_step(self, delta: int) -> None:
        self.query_one(Timeline).action_move(delta)

    def action_first(self) -> None:
        self.query_one(Timeline).action_first()

    def action_last(self) -> None:
        self.query_one(Timeline).action_last()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.display:
            search.display = False
            self.query_one(Timeline).focus()
            return
        self.app.pop_screen()

    # ---- search ----------------------------------------------------------------------
    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.value = ""
        search.focus()

    @on(Input.Submitted, "#search")
    def search_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.query_one(Timeline).focus()
        self.query_text = event.value.strip()
        if self.query_text:
            self.search(self.query_text, self.cursor, True)

    def action_next_match(self, direction: int) -> None:
        if not self.query_text:
            self.action_search()
            return
        self.search(self.query_text, self.cursor, direction > 0)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def search(self, query: str, start: int, forward: bool) -> None:
        self.post_message(self.SearchDone(query, self.pages.find(query, start, forward=forward)))

    def on_run_screen_search_done(self, message: SearchDone) -> None:
        timeline = self.query_one(Timeline)
        if message.index is None:
            self.notify(f"no step matches {message.query!r}", severity="warning", timeout=3)
            return
        timeline.mark({message.index})
        timeline.cursor = message.index

    # ---- approvals -------------------------------------------------------------------
    def _pending(self) -> ApprovalRow | None:
        row = self.approval
        return row if row is not None and row.status == "pending" else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "deny", "edit"):
            return self._pending() is not None
        if action == "resume":
            return can_resume(self.run)
        if action == "export":
            return self.run.finished
        if action == "stop":
            return not self.run.finished
        if action == "fork":
            return self.pages.count > 0
        return True

    def _decided(self, ok: bool, what: str) -> None:
        if not ok:
            self.notify("someone else decided this call first", severity="warning")
        else:
            hint = " — press r to resume the parked run" if can_resume(self.run) else ""
            self.notify(f"{what}{hint}", timeout=4)
        self._refresh_current()

    def action_approve(self) -> None:
        row = self._pending()
        if row is not None:
            from agentbox.tui.actions import decide

            self._decided(
                decide(self.agentbox.store, row.id, True, reason="approved in the TUI"),
                f"approved {row.tool}",
            )

    def action_deny(self) -> None:
        row = self._pending()
        if row is None:
            return
        from agentbox.tui.screens.modals import PromptScreen

        def denied(reason: str | None) -> None:
            if reason is None:
                return
            from agentbox.tui.actions import decide

            self._decided(
                decide(self.agentbox.store, row.id, False, reason=reason), f"denied {row.tool}"
            )

        self.app.push_screen(
            PromptScreen(
                f"Deny {row.tool}: why? (the agent sees this)", placeholder="reason", required=True
            ),
            denied,
        )

    def action_edit(self) -> None:
        row = self._pending()
        if row is None:
            return
        from agentbox.tui.actions import check_edited_args, decide
        from agentbox.tui.screens.modals import EditArgsScreen

        store, settings, run = self.agentbox.store, self.agentbox.settings, self.run

        def check(text: str) -> tuple[dict[str, Any] | None, list[str]]:
            return check_edited_args(store, settings, run, row.tool, text)

        def edited(args: dict[str, Any] | None) -> None:
            if args is None:
                return
            changed = args if args != row.args else None
            self._decided(
                decide(
                    store,
                    row.id,
                    True,
                    reason="approved with edits in the TUI",
                    edited_args=changed,
                ),
                f"approved {row.tool} with edits",
            )

        self.app.push_screen(
            EditArgsScreen(row.tool, json.dumps(row.args, indent=2), check), edited
        )

    # ---- engine actions --------------------------------------------------------------
    def action_resume(self) -> None:
        if can_resume(self.run):
            self.agentbox.resume(self.run.id)

    def action_fork(self) -> None:
        step = self.step
        if step is not None:
            from agentbox.tui.gc_hold import hold_gc

            self.prepare_fork(step, hold_gc(self.app))

    @work(thread=True, exclusive=True, group="fork-prepare", exit_on_error=False)
    def prepare_fork(self, step: StepRow, release_gc: Callable[[], None]) -> None:
        from agentbox.checkpoints import state_at
        from agentbox.tui.actions import state_subset, step_mentions

        store = self.agentbox.store
        state = state_at(store, self.run, step.idx - 1)
        before = state.snapshot()
        mentioned = step_mentions(step) | {key for _, key, _, _ in state.changes()}
        shown = state_subset(before, mentioned)  # the editor holds only these records
        about = "the records it is about (JSON; others stay)"
        if not shown:  # e.g. a fork step, a reply: the records the run goes on to use
            for later in store.steps(self.run.id, step.idx + 1, step.idx + 1 + LOOK_AHEAD):
                shown = state_subset(before, step_mentions(later))
                if shown:
                    about = f"the records step {later.idx} uses (JSON; others stay)"
                    break
            else:
                about = "none named here; add {collection: {key: record}} to edit one"
        text = json.dumps(shown, indent=2, ensure_ascii=False)
        # JSON escapes C0 itself; DEL and C1 too here, so the editor never draws them raw
        text = re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text)
        # shown (and compared on submit) with control characters made visible
        result = visible(str(step.data.get("result", ""))) if step.kind == "tool" else None
        if step.kind == "user":  # what the user says here can be edited
            result = visible(str(step.data.get("text", "")))
        self.app.call_from_thread(
            self._open_fork, step, before, shown, text, result, about, release_gc
        )

    def _open_fork(
        self,
        step: StepRow,
        before: dict[str, Any],
        shown: dict[str, Any],
        text: str,
        result: str | None,
        about: str,
        release_gc: Callable[[], None],
    ) -> None:
        import secrets
        import tempfile
        from pathlib import Path

        from agentbox.tui.actions import fork_edits
        from agentbox.tui.screens.modals import ForkScreen

        def check(state_text: str | None, result_text: str | None) -> Any:
            work_dir = Path(tempfile.gettempdir()) / f"agentbox-fork-{secrets.token_hex(4)}"
            return fork_edits(
                before,
                state_text,
                result,
                result_text,
                work_dir,
                shown,
                user_message=step.kind == "user",
            )

        def chosen(edits: Any) -> None:
            if edits is not None:
                self.agentbox.fork(self.run.id, step.idx, edits)

        title = visible(
            f"Fork run {self.run.id} at step {step.idx} ({step.kind} {step.name or ''})"
        )
        state_label = f"state before this step: {about}"
        if step.kind == "user":
            label = "user message (edit what the user says here; the run goes on from it)"
            screen = ForkScreen(title, text, result, check, label, state_label=state_label)
        else:
            screen = ForkScreen(title, text, result, check, state_label=state_label)
        self.app.push_screen(screen, chosen)
        screen.call_after_refresh(release_gc)  # once the dialog is drawn (gc_hold says why)

    def action_export(self) -> None:
        self.agentbox.export(self.run)

    def action_state_path(self) -> None:
        """Ask for a state path (as ``show --state --path``) and show the State tab."""
        from agentbox.tui.screens.modals import PromptScreen

        def chosen(path: str | None) -> None:
            if path is None:
                return
            self.agentbox.state_path = path.strip() or None
            self._state_for = None
            self.query_one(TabbedContent).active = "tab-state"
            self._schedule_state(self.cursor)

        self.app.push_screen(
            PromptScreen(
                "State path (e.g. orders.ord_5531; empty: the whole state)",
                value=self.agentbox.state_path or "",
            ),
            chosen,
        )

    def action_help(self) -> None:
        self.agentbox.show_help(
            "Run",
            self,
            [
                ("pgup / pgdn", "page through the timeline"),
                ("tab / shift+tab", "focus the next / previous pane (↑ ↓ pgup pgdn scroll it)"),
            ],
        )

    def action_stop(self) -> None:
        """Stop the run (asks why): the kill switch, as `agentbox stop`."""
        run_id = self.run.id
        from agentbox.tui.screens.modals import PromptScreen

        def stop(reason: str | None) -> None:
            if reason is not None:
                from agentbox.tui.actions import stop

                self.notify(stop(self.agentbox.store, run_id, reason), timeout=4)

        self.app.push_screen(
            PromptScreen(f"Stop run {run_id}: why? (recorded with who stopped it)"), stop
        )
