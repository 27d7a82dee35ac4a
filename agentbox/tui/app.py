"""The ``agentbox tui`` application: runs list, run view, and the engine workers.

The app holds the trace store (one read connection, shared by the screens) and the
settings. Engine work that may take long -- resuming or forking a run (it executes the
agent) and exporting to a suite -- runs in thread workers owned by the app, so leaving a
screen never cancels a run; results come back as messages and notifications. When the
app closes, a run waiting in a worker for an approval parks (``agentbox resume``
continues it) instead of keeping the process alive.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from agentbox.config import Settings
from agentbox.errors import AgentboxError
from agentbox.safe_text import visible
from agentbox.store import RunRow, TraceStore
from agentbox.tui.screens.runs import RunsScreen

if TYPE_CHECKING:
    from agentbox.lifecycle import ForkEdits

KEY_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "escape": "esc",
    "down": "↓",
    "up": "↑",
    "enter": "enter",
    "pagedown": "pgdn",
    "pageup": "pgup",
}


def key_label(keys: str) -> str:
    """``j,down`` -> ``j / ↓``."""
    return " / ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


class AgentboxApp(App[None]):
    """Browse runs, step through one, decide held calls, resume, fork and export.

    Args:
        store: the trace store to read (and to record decisions in).
        settings: project settings (needed to plan resumes and forks).
        run_id: open this run (id or unique prefix) on top of the runs list.
    """

    CSS_PATH = "app.tcss"
    TITLE = "agentbox"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "quit", show=False, priority=True)
    ]

    @dataclass
    class RunStarted(Message):
        """A fork started: its run exists in the store and can be followed."""

        run_id: str

    @dataclass
    class EngineDone(Message):
        """A resume or fork finished (or parked)."""

        what: str
        run_id: str
        status: str
        reason: str | None

    def __init__(
        self,
        store: TraceStore,
        settings: Settings,
        run_id: str | None = None,
        state_path: str | None = None,
        compare: tuple[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.start_run = run_id
        self.state_path = state_path
        """The State tab shows only this part of the state (``p``; ``show --tui --path``)."""
        self.start_compare = compare
        """Open the compare screen of these two suite runs ``(A, B)`` (ids)."""

    def on_mount(self) -> None:
        self.push_screen(RunsScreen())
        if self.start_run:
            self.open_run(self.start_run)
        if self.start_compare:
            self.open_compare(*self.start_compare)

    def action_suite_runs(self) -> None:
        """Push the suite runs screen (``agentbox runs --suites``)."""
        from agentbox.tui.screens.compare import SuiteRunsScreen

        self.push_screen(SuiteRunsScreen(self.store))

    def open_compare(self, a: str, b: str) -> None:
        """Push the compare screen of suite runs ``a`` and ``b`` (ids or labels)."""
        from agentbox.suites.suite_runs import resolve_suite_run
        from agentbox.tui.screens.compare import CompareScreen

        try:
            run_a, run_b = resolve_suite_run(self.store, a), resolve_suite_run(self.store, b)
        except AgentboxError as exc:
            self.notify(exc.message, title="cannot compare", severity="error")
            return
        self.push_screen(CompareScreen(self.store, run_a, run_b))

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Textual's ``notify``, with the text shown as is: control characters made
        visible and no markup (messages quote tool names, reasons and errors)."""
        super().notify(
            visible(message),
            title=visible(title),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    def open_run(self, run_id: str) -> None:
        """Push the run screen for ``run_id`` (id or unique prefix)."""
        from agentbox.tui.screens.run import RunScreen

        try:
            run = self.store.get_run(run_id)
        except AgentboxError as exc:
            self.notify(exc.message, title="cannot open run", severity="error")
            return
        self.push_screen(RunScreen(self.store, run))

    def show_help(
        self, title: str, screen: Screen[Any], extra: list[tuple[str, str]] | None = None
    ) -> None:
        """Show every binding of ``screen`` and of the app, then ``extra`` rows
        (``(keys, what they do)``: keys its widgets handle, glyphs it shows)."""
        from agentbox.tui.screens.modals import HelpScreen

        rows: list[tuple[str, str]] = []
        for binding in [*type(screen).BINDINGS, *self.BINDINGS]:
            if isinstance(binding, Binding):
                rows.append((key_label(binding.key), binding.description))
        self.push_screen(HelpScreen(title, rows + (extra or [])))

    # ---- engine workers --------------------------------------------------------------
    @work(thread=True, group="engine", exit_on_error=False)
    def resume(self, run_id: str) -> None:
        """Resume a parked run (held calls wait for decisions made in the TUI)."""
        from agentbox.tui.actions import resume

        worker = get_current_worker()
        self.post_message(self.EngineDone("resume", run_id, "running", "resumed"))
        result = resume(self.store.path, run_id, self.settings, lambda: worker.is_cancelled)
        self.post_message(self.EngineDone("resume", result.run_id, result.status, result.reason))

    @work(thread=True, group="engine", exit_on_error=False)
    def fork(self, run_id: str, at: int, edits: ForkEdits) -> None:
        """Fork ``run_id`` at step ``at``; the new run opens as soon as it exists."""
        from agentbox.tui.actions import fork

        worker = get_current_worker()
        started: list[str] = []

        def on_step(step: Any) -> None:
            if not started:
                started.append(step.run_id)
                self.post_message(self.RunStarted(step.run_id))

        try:
            result = fork(
                self.store.path,
                run_id,
                at,
                self.settings,
                edits,
                lambda: worker.is_cancelled,
                on_step,
            )
        finally:
            if edits.state_file is not None:  # a temporary file of ours: loaded by now
                edits.state_file.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    edits.state_file.parent.rmdir()
        if not started:
            self.post_message(self.RunStarted(result.run_id))
        self.post_message(self.EngineDone("fork", result.run_id, result.status, result.reason))

    def export(self, run: RunRow) -> None:
        """Ask for a suite folder and export ``run`` there (needs agentbox.suites)."""
        try:
            from agentbox.suites import export_run  # noqa: F401  (suites: ~50 ms, once)
        except ImportError:
            self.notify("suites not available", severity="warning")
            return
        from agentbox.tui.screens.modals import PromptScreen

        default = self.settings.suite  # `suite` in .agentbox.toml (relative to its folder)

        def chosen(folder: str | None) -> None:
            if folder:
                self.export_to(
                    run.id,
                    self.settings.root / folder if not Path(folder).is_absolute() else Path(folder),
                )

        self.push_screen(
            PromptScreen(f"Export run {run.id} to suite folder", value=default, required=True),
            chosen,
        )

    @work(thread=True, group="export", exit_on_error=False)
    def export_to(self, run_id: str, suite_dir: Path) -> None:
        from agentbox.tui.actions import SuitesUnavailable, export, unmet_expectations

        try:
            path = export(self.store, run_id, suite_dir, settings=self.settings)
        except SuitesUnavailable:
            self.call_from_thread(self.notify, "suites not available", severity="warning")
            return
        self.call_from_thread(self.notify, f"exported run {run_id} to {path}", timeout=8)
        unmet = unmet_expectations(self.store.get_run(run_id))
        if unmet is not None:  # written anyway, as `agentbox export` does: it warns, not refuses
            self.call_from_thread(
                self.notify,
                f"run {run_id} did not meet its scenario's expectations ({unmet}); the case "
                "keeps them and will fail until you edit its `expect:` or fix the agent",
                title="warning",
                severity="warning",
                timeout=12,
            )

    def on_agentbox_app_run_started(self, message: RunStarted) -> None:
        self.notify(f"fork started: run {message.run_id}", timeout=4)
        self.open_run(message.run_id)

    def on_agentbox_app_engine_done(self, message: EngineDone) -> None:
        if message.status == "running":
            self.notify(f"resuming run {message.run_id}…", timeout=3)
            return
        text = f"{message.what} of run {message.run_id}: {message.status}"
        if message.reason:
            text += f" — {message.reason}"
        ok = message.status in ("completed", "awaiting_approval")
        self.notify(text, severity="information" if ok else "warning", timeout=6)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place that turns a failed worker into a notification."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, AgentboxError):
            text = error.message + (f"\nhint: {error.hint}" if error.hint else "")
        else:
            text = f"{type(error).__name__}: {error}"
        self.notify(
            text, title=f"{event.worker.name or 'task'} failed", severity="error", timeout=10
        )
