"""Suite runs and their comparison in the TUI (issue 17).

Three screens over :mod:`agentbox.suites.compare`:

- :class:`SuiteRunsScreen`: the stored suite runs (``agentbox runs --suites``); ``m``
  marks one as A, ``enter`` compares the marked run (or, without a mark, the run's
  baseline: the latest earlier run of its suite) with the one under the cursor;
- :class:`CompareScreen`: two suite runs side by side -- flips first (broken, fixed,
  still failing, still passing), then the metrics; ``enter`` opens a case;
- :class:`CaseSplitScreen`: a case's run in A and in B, step by step in two columns, the
  first differing step highlighted.

The comparison is computed in a thread worker and comes back as a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from agentbox.errors import AgentboxError
from agentbox.safe_text import visible
from agentbox.store import StepRow, SuiteRunRow, TraceStore, VersionRow
from agentbox.tui.present import started_text
from agentbox.tui.screens.runs import columns_for
from agentbox.tui.steps import summarize

if TYPE_CHECKING:
    from agentbox.suites.compare import Comparison

FLIP_STYLE = {
    "broken": "bold red",
    "fixed": "bold green",
    "still failing": "yellow",
    "still passing": "dim",
}


def version_subtitle(version: VersionRow | None) -> str:
    """``agent version 3fa2c1d09e7b (v2)`` for a run screen's header ("" when unknown)."""
    if version is None:
        return ""
    label = f" ({version.label})" if version.label else ""
    return visible(f"agent version {version.fingerprint}{label}")


def first_difference(a: list[StepRow], b: list[StepRow]) -> int | None:
    """The index of the first step that differs between two runs (None: the same)."""
    from agentbox.lifecycle import step_view

    for i, (sa, sb) in enumerate(zip(a, b, strict=False)):
        if step_view(sa) != step_view(sb):
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _side(run: SuiteRunRow) -> str:
    label = f" {run.label}" if run.label else ""
    mode = f"live {run.model or ''}".strip() if run.live else "replay"
    return visible(
        f"{run.id}{label} · {run.suite} · k={run.k} · {mode} · version "
        f"{run.fingerprint or '-'} · {run.passed_cases}/{run.cases} passed"
    )


SUITE_COLUMNS = ("A", "suite run", "started", "suite", "label", "version", "k", "mode", "passed")

SUITE_DROP_ORDER = ("mode", "k", "version", "label", "started")
"""Suite-runs columns left out first when the terminal is narrow (``A``, ``suite run``,
``suite`` and ``passed`` always stay)."""

SUITE_WIDTHS = {
    "A": 3,
    "suite run": 14,
    "started": 15,
    "suite": 26,
    "label": 10,
    "version": 15,
    "k": 4,
    "mode": 9,
    "passed": 9,
}
"""About how many cells each suite-runs column takes (content, padding, share of the rest)."""

SUITE_WIDTH = 24
"""The most cells a suite's name takes in the table (longer: ``…`` and its end)."""


def suite_name_cell(suite: str) -> str:
    """``suite`` made safe to show, cut to :data:`SUITE_WIDTH` cells keeping its end (the
    folder's own name) after a ``…``."""
    text = visible(suite)
    return text if len(text) <= SUITE_WIDTH else "…" + text[-(SUITE_WIDTH - 1) :]


class SuiteRunsScreen(Screen[None]):
    """Stored suite runs, newest first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "compare", "compare"),
        Binding("m", "mark", "mark as A"),
        Binding("escape,q", "back", "back"),
        Binding("question_mark", "help", "help"),
    ]

    def __init__(self, store: TraceStore) -> None:
        super().__init__()
        self.store = store
        self.rows: list[SuiteRunRow] = []
        self.marked: SuiteRunRow | None = None
        self._columns: tuple[str, ...] = SUITE_COLUMNS

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "m: mark A · enter: compare A (or the baseline) with this run", id="suites-info"
        )
        yield DataTable(id="suites-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.title = "suite runs"
        self.rows = self.store.list_suite_runs(limit=200)
        self._fill(columns_for(self.app.size.width, SUITE_COLUMNS, SUITE_WIDTHS, SUITE_DROP_ORDER))
        self.query_one(DataTable).focus()

    def on_resize(self) -> None:
        wanted = columns_for(self.size.width, SUITE_COLUMNS, SUITE_WIDTHS, SUITE_DROP_ORDER)
        if wanted != self._columns:
            self._fill(wanted)

    def _fill(self, columns: tuple[str, ...]) -> None:
        """(Re)build the table with ``columns``, keeping the cursor and the mark."""
        self._columns = columns
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        for col in columns:
            table.add_column(col, key=col)
        for r in self.rows:
            style = "green" if r.passed_cases == r.cases else "red"
            cells: dict[str, str | Text] = {
                "A": Text("A", style="bold cyan") if r is self.marked else "",
                "suite run": r.id,
                "started": started_text(r.started_at),
                "suite": suite_name_cell(r.suite),
                "label": visible(r.label or "-"),
                "version": r.fingerprint or "-",
                "k": str(r.k),
                "mode": "live" if r.live else "replay",
                "passed": Text(f"{r.passed_cases}/{r.cases}", style=style),
            }
            table.add_row(*(cells[c] for c in columns), key=r.id)
        if self.rows:
            table.move_cursor(row=min(row, len(self.rows) - 1), animate=False)

    def _current(self) -> SuiteRunRow | None:
        table = self.query_one(DataTable)
        if not self.rows:
            return None
        return self.rows[table.cursor_row]

    def action_mark(self) -> None:
        run = self._current()
        if run is None:
            return
        table = self.query_one(DataTable)
        if self.marked is not None:
            table.update_cell(self.marked.id, "A", "")
        self.marked = run
        table.update_cell(run.id, "A", Text("A", style="bold cyan"))

    @on(DataTable.RowSelected)
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.action_compare()

    def action_compare(self) -> None:
        b = self._current()
        if b is None:
            return
        a = self.marked
        if a is None or a.id == b.id:
            from agentbox.suites.suite_runs import baseline_of

            try:
                a = baseline_of(self.store, b)
            except AgentboxError as exc:
                self.app.notify(exc.message, title="nothing to compare", severity="warning")
                return
        self.app.push_screen(CompareScreen(self.store, a, b))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_help(self) -> None:
        self.app.show_help(  # type: ignore[attr-defined]
            "Suite runs", self, [("↑ / ↓, pgup / pgdn", "move in the suite runs")]
        )


class CompareScreen(Screen[None]):
    """Two suite runs side by side: flips first, then metrics."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_case", "open case"),
        Binding("escape,q", "back", "back"),
        Binding("question_mark", "help", "help"),
    ]

    @dataclass
    class Compared(Message):
        """The comparison is ready (or failed: ``error``)."""

        comparison: Comparison | None
        error: str | None = None

    def __init__(self, store: TraceStore, a: SuiteRunRow, b: SuiteRunRow) -> None:
        super().__init__()
        self.store = store
        self.a, self.b = a, b
        self.comparison: Comparison | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"A {_side(self.a)}\nB {_side(self.b)}", id="compare-sides")
        yield Static("comparing…", id="compare-counts")
        yield DataTable(id="compare-cases", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="compare-metrics-box"):  # at 80x24 it took every row
            yield Static("", id="compare-metrics")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.title = f"compare {self.a.id} → {self.b.id}"
        table = self.query_one(DataTable)
        for col in ("flip", "case", "A", "B", "A run", "B run"):
            table.add_column(col, key=col)
        table.focus()
        self.compare()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed comparison (not an AgentboxError) is shown as the app shows its own
        workers' (``Worker.StateChanged`` does not bubble up to the app)."""
        self.app.on_worker_state_changed(event)  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, exit_on_error=False)
    def compare(self) -> None:
        """Compute the comparison off the UI thread (reads the store)."""
        from agentbox.suites.compare import compare_suite_runs

        try:
            result = compare_suite_runs(self.store, self.a, self.b)
        except AgentboxError as exc:
            self.post_message(self.Compared(None, exc.message))
            return
        self.post_message(self.Compared(result))

    def on_compare_screen_compared(self, message: Compared) -> None:
        counts = self.query_one("#compare-counts", Static)
        if message.comparison is None:
            counts.update(Text(message.error or "cannot compare", style="red"))
            return
        c = self.comparison = message.comparison
        summary = Text(" · ".join(f"{len(c.flips(k))} {k}" for k in FLIP_STYLE))
        if c.only_a or c.only_b:
            summary.append(
                f"   (compared the {len(c.cases)} case(s) both ran; "
                f"{len(c.only_a)} only in A, {len(c.only_b)} only in B)",
                style="yellow",
            )
        summary.append(f"\npass-rate difference: {c.noise.summary()}", style="dim")
        counts.update(summary)
        table = self.query_one(DataTable)
        for case in c.cases:
            table.add_row(
                Text(case.kind, style=FLIP_STYLE[case.kind]),
                visible(case.key),
                f"{case.a_rate * 100:.0f}%",
                f"{case.b_rate * 100:.0f}%",
                case.a_run or "-",
                case.b_run or "-",
                key=case.key,
            )
        self.query_one("#compare-metrics", Static).update(_metrics(c))

    @on(DataTable.RowSelected)
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open_case()

    def action_open_case(self) -> None:
        c = self.comparison
        if c is None or not c.cases:
            return
        case = c.cases[self.query_one(DataTable).cursor_row]
        if not (case.a_run and case.b_run):
            self.app.notify("this case has no run on one side", severity="warning")
            return
        self.app.push_screen(CaseSplitScreen(self.store, case.key, case.a_run, case.b_run))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_help(self) -> None:
        self.app.show_help(  # type: ignore[attr-defined]
            "Compare",
            self,
            [
                ("↑ / ↓, pgup / pgdn", "move in the cases"),
                ("tab / shift+tab", "focus the metrics (↑ ↓ scroll them) / the cases"),
            ],
        )


def _metrics(c: Comparison) -> Table:
    from agentbox.suites.compare import fmt_metric

    table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
    for col in ("metric", "A", "B", "Δ"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for m in c.metrics:
        delta = "" if m.delta is None else fmt_metric(m.spec, m.delta)
        style = "red" if m.worse else "green" if m.delta and m.spec.better else ""
        table.add_row(
            m.spec.title, fmt_metric(m.spec, m.a), fmt_metric(m.spec, m.b), Text(delta, style=style)
        )
    return table


class CaseSplitScreen(Screen[None]):
    """A case's A run and B run, step by step side by side; the first difference marked."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "back"),
        Binding("question_mark", "help", "help"),
    ]

    def __init__(self, store: TraceStore, case: str, a_run: str, b_run: str) -> None:
        super().__init__()
        self.store = store
        self.case = case
        self.a_run, self.b_run = a_run, b_run
        self.a_steps = store.steps(a_run)
        self.b_steps = store.steps(b_run)
        self.first_difference = first_difference(self.a_steps, self.b_steps)

    def compose(self) -> ComposeResult:
        yield Header()
        where = (
            "no difference: the same steps"
            if self.first_difference is None
            else f"first difference at step {self.first_difference}"
        )
        yield Static(Text(where, style="bold"), id="split-info")
        # both columns scroll together (a long run was cut at the bottom of the screen)
        with VerticalScroll(id="split-scroll"), Horizontal(id="split-body"):
            yield Static(self._column("A", self.a_run, self.a_steps), id="split-a")
            yield Static(self._column("B", self.b_run, self.b_steps), id="split-b")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.title = visible(f"{self.case}: run {self.a_run} → run {self.b_run}")
        self.query_one("#split-scroll").focus()
        self.call_after_refresh(self._show_first_difference)

    def _show_first_difference(self) -> None:
        """Scroll the marked step (the first difference) into view, two lines below the
        top."""
        if self.first_difference is None:
            return
        column = self.query_one("#split-a", Static)
        text = self._column("A", self.a_run, self.a_steps)
        lines = text.wrap(self.app.console, max(1, column.content_region.width))
        marked = next((n for n, line in enumerate(lines) if line.plain.startswith("▶")), 0)
        self.query_one("#split-scroll", VerticalScroll).scroll_to(
            y=max(0, marked - 2), animate=False
        )

    def _column(self, side: str, run_id: str, steps: list[StepRow]) -> Text:
        out = Text(f"{side} run {run_id}\n", style="bold")
        for i, step in enumerate(steps):
            s = summarize(step)
            line = Text(f"{step.idx:>3} {s.icon} {s.label:<9} ", style=s.style)
            line.append(visible(s.text))
            if i == self.first_difference:
                line.stylize("reverse")
                line = Text("▶") + line
            else:
                line = Text(" ") + line
            out.append_text(line)
            out.append("\n")
        return out

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_help(self) -> None:
        self.app.show_help(  # type: ignore[attr-defined]
            "Case: A and B runs", self, [("↑ / ↓, pgup / pgdn", "scroll both runs")]
        )
