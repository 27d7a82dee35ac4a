"""The runs screen: stored runs newest first, filtered, live, loaded a page at a time.

Only the first page of runs is read on open; the next page is read when the cursor gets
near the end of what is loaded, so 10,000 stored runs open as fast as 100. A 1-second
timer compares the store's change counter (SQLite's ``PRAGMA data_version``, see
:meth:`TraceStore.change_counter`) and re-reads the loaded runs only when a writer
committed something.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from agentbox.safe_text import visible
from agentbox.statuses import short_word
from agentbox.store import RunRow
from agentbox.tui.actions import STATUSES, parse_filter
from agentbox.tui.present import STATUS_STYLE, started_text, usd

if TYPE_CHECKING:
    from agentbox.tui.app import AgentboxApp

PAGE = 100
"""Runs read per store query."""

COLUMNS = (
    "run",
    "status",
    "scenario",
    "steps",
    "tools",
    "held/blk",
    "cost",
    "mode",
    "started",
    "took",
)

DROP_ORDER = ("took", "started", "mode", "tools", "steps", "held/blk")
"""Columns left out first when the terminal is narrow (``run``, ``status``, ``scenario``
and ``cost`` always stay)."""

WIDTHS = {
    "run": 13,
    "status": 11,
    "scenario": 29,
    "steps": 6,
    "tools": 6,
    "held/blk": 9,
    "cost": 8,
    "mode": 10,
    "started": 15,
    "took": 8,
}
"""About how many cells each column takes (content, padding and its share of the rest)."""

HIDDEN_BY_DEFAULT = ("test",)
"""Origins the runs screen leaves out unless asked (``t``, or ``origin:`` in the filter)."""


def columns_for(
    width: int,
    columns: tuple[str, ...] = COLUMNS,
    widths: dict[str, int] = WIDTHS,
    drop_order: tuple[str, ...] = DROP_ORDER,
) -> tuple[str, ...]:
    """The ``columns`` (default: the runs table's) that fit ``width`` cells, leaving out
    ``drop_order`` first, in that order; ``widths`` gives each column's cells."""
    shown = list(columns)
    for col in drop_order:
        if sum(widths[c] for c in shown) <= width:
            break
        shown.remove(col)
    return tuple(shown)


def lineage_mark(run: RunRow) -> str:
    """`` ↺`` for a replay (of a run or a suite case), `` ⑂`` for a fork, else ``""``."""
    return " ↺" if run.replay_of else " ⑂" if run.parent_id else ""


def split_origin(value: str) -> tuple[str, str | None]:
    """The filter box without its ``origin:NAME`` word, and that name (None: not given)."""
    words, origin = [], None
    for word in value.split():
        key, sep, rest = word.partition(":")
        if sep and key == "origin":
            origin = rest
        else:
            words.append(word)
    return " ".join(words), origin


def status_cell(run: RunRow) -> Text:
    """Coloured status; runs waiting for a decision get the ``‖`` marker."""
    status = run.display_status
    if status == "awaiting_approval":
        return Text(f"‖ {short_word(status)}", style=STATUS_STYLE[status])
    return Text(status, style=STATUS_STYLE.get(status, ""))


def run_cells(run: RunRow) -> tuple[str | Text, ...]:
    """One table row for a run (same columns as ``agentbox runs``)."""
    c = run.counters
    holds, blocks = c.get("holds", 0), c.get("blocks", 0)
    scenario = visible(run.scenario)
    return (
        run.id + lineage_mark(run),
        status_cell(run),
        scenario if len(scenario) <= 28 else scenario[:27] + "…",
        str(c.get("steps", 0)),
        str(c.get("tool_calls", 0)),
        Text(f"{holds}/{blocks}", style="magenta" if holds or blocks else "dim"),
        usd(c.get("cost_usd", 0.0), int(c.get("cost_unknown", 0))),
        run.mode,
        started_text(run.started_at),
        f"{run.duration_s:.2f}s" if run.duration_s is not None else "-",
    )


class RunsScreen(Screen[None]):
    """All runs in the store (enter opens one)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "open", show=True),
        Binding("slash", "focus_filter", "filter"),
        Binding("s", "cycle_status", "status"),
        Binding("A", "awaiting", "awaiting"),
        Binding("S", "stop", "stop"),
        Binding("t", "toggle_tests", "test runs"),
        Binding("u", "app.suite_runs", "suite runs", show=False),
        Binding("question_mark", "help", "help"),
        Binding("q", "app.quit", "quit"),
        Binding("escape", "clear_filter", "clear filter", show=False),
        Binding("j", "cursor(1)", "down", show=False),
        Binding("k", "cursor(-1)", "up", show=False),
        Binding("g", "top", "first run", show=False),
        Binding("G", "bottom", "last loaded run (loads more)", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[RunRow] = []
        self.exhausted = False
        self.total = 0
        self.pending = 0
        self._changes: tuple[int, int] = (-1, -1)
        self._filter: tuple[str | None, str | None] = (None, None)
        self._origin: str | None = None
        """``origin:NAME`` from the filter box (None: every origin but the hidden ones)."""
        self.show_tests = False
        """Whether runs made by ``agentbox test`` are listed (``t``)."""
        self._columns: tuple[str, ...] = COLUMNS

    @property
    def agentbox(self) -> AgentboxApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="/ filter: words · status:awaiting · origin:fork",
            id="runs-filter",
            compact=True,
        )
        yield Static("", id="runs-info")
        table: DataTable[str | Text] = DataTable(
            id="runs-table", cursor_type="row", zebra_stripes=True
        )
        yield table
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self._columns = columns_for(self.app.size.width)
        for col in self._columns:
            table.add_column(col, key=col)
        self.reload()
        table.focus()
        self.watch(table, "scroll_y", self._scrolled, init=False)
        self.set_interval(1.0, self.poll, name="runs-poll")

    def on_resize(self) -> None:
        wanted = columns_for(self.size.width)
        if wanted == self._columns:
            return
        self._columns = wanted
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for col in wanted:
            table.add_column(col, key=col)
        for run in self.loaded:
            table.add_row(*self._cells(run), key=run.id)

    def _cells(self, run: RunRow) -> list[str | Text]:
        cells = dict(zip(COLUMNS, run_cells(run), strict=True))
        return [cells[c] for c in self._columns]

    @property
    def origins(self) -> list[str] | None:
        """The origins listed (None: all)."""
        from agentbox.store import ORIGINS

        if self._origin is not None:
            return [self._origin]
        if self.show_tests:
            return None
        return [o for o in ORIGINS if o not in HIDDEN_BY_DEFAULT]

    def _scrolled(self, _old: float, new: float) -> None:
        table = self.query_one(DataTable)
        if new >= table.max_scroll_y - 5:
            self.load_more()

    # ---- loading -------------------------------------------------------------------
    def reload(self, *, keep: int | None = None) -> None:
        """Re-read the first ``keep`` runs (at least a page) and redraw the table."""
        store = self.agentbox.store
        self._changes = store.change_counter()
        text, status = self._filter
        total = store.count_runs(origins=self.origins)
        grown = max(0, total - self.total) if keep else 0  # new runs push the list down
        limit = max(PAGE, (keep or 0) + grown)
        runs = store.list_runs(
            limit=limit, offset=0, status=status, text=text, origins=self.origins
        )
        self.exhausted = len(runs) < limit
        self.total = total
        self.pending = len(store.approvals(status="pending"))
        table = self.query_one(DataTable)
        current = self._current_key()
        same = [r.id for r in runs] == [r.id for r in self.loaded]
        self.loaded = runs
        if same:
            for run in runs:
                for col, value in zip(self._columns, self._cells(run), strict=True):
                    table.update_cell(run.id, col, value)
        else:
            table.clear()
            for run in runs:
                table.add_row(*self._cells(run), key=run.id)
            if current is not None and current in table.rows:
                table.move_cursor(row=table.get_row_index(current), animate=False)
        self._show_info()

    def load_more(self) -> None:
        """Append the next page of runs (called as the cursor nears the end)."""
        if self.exhausted:
            return
        text, status = self._filter
        runs = self.agentbox.store.list_runs(
            limit=PAGE, offset=len(self.loaded), status=status, text=text, origins=self.origins
        )
        self.exhausted = len(runs) < PAGE
        table = self.query_one(DataTable)
        known = set(table.rows)
        for run in runs:
            if run.id not in known:
                table.add_row(*self._cells(run), key=run.id)
                self.loaded.append(run)
        self._show_info()

    def poll(self) -> None:
        """Timer: re-read when another writer committed to the store."""
        if self.agentbox.store.change_counter() != self._changes:
            self.reload(keep=len(self.loaded))

    def _current_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def _show_info(self) -> None:
        text, status = self._filter
        shown = len(self.loaded)
        more = "" if self.exhausted else "+"
        info = Text(f"{shown}{more} shown", style="dim")
        if text or status or self._origin:
            words = [
                text or "",
                f"status:{status}" if status else "",
                f"origin:{self._origin}" if self._origin else "",
            ]
            info.append(f" (filter: {' '.join(w for w in words if w)})", style="dim")
        info.append(f" · {self.total} runs", style="dim")
        if self._origin is None and not self.show_tests:
            info.append(" · test runs hidden (t)", style="dim")
        if self.pending:
            info.append(f"   ‖ {self.pending} pending approval(s)", style="bold magenta")
        self.query_one("#runs-info", Static).update(info)
        self.sub_title = (
            f"{self.total} runs · {self.pending} pending approval(s)"
            if self.pending
            else f"{self.total} runs"
        )

    # ---- events --------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def near_end(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= event.data_table.row_count - 10:
            self.load_more()

    @on(DataTable.RowSelected)
    def selected(self, event: DataTable.RowSelected) -> None:
        self.agentbox.open_run(str(event.row_key.value))

    @on(Input.Changed, "#runs-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        rest, origin = split_origin(event.value)
        parsed = parse_filter(rest)
        if parsed != self._filter or origin != self._origin:
            self._filter, self._origin = parsed, origin
            self.loaded = []
            self.reload()

    @on(Input.Submitted, "#runs-filter")
    def filter_done(self) -> None:
        self.query_one(DataTable).focus()

    # ---- actions -------------------------------------------------------------------
    def action_open(self) -> None:
        key = self._current_key()
        if key is not None:
            self.agentbox.open_run(key)

    def action_cursor(self, delta: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=table.cursor_row + delta)

    def action_top(self) -> None:
        self.query_one(DataTable).move_cursor(row=0)

    def action_bottom(self) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=table.row_count - 1)

    def action_focus_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.value:
            box.value = ""
        self.query_one(DataTable).focus()

    def action_cycle_status(self) -> None:
        """Cycle the ``status:`` filter through all statuses and back to none."""
        box = self.query_one("#runs-filter", Input)
        text, status = parse_filter(box.value)
        order = [None, *STATUSES]
        nxt = order[(order.index(status) + 1) % len(order)] if status in order else None
        word = short_word(nxt) if nxt else None  # the word the table shows
        box.value = " ".join(p for p in (text, f"status:{word}" if word else None) if p)

    def action_awaiting(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.value = f"status:{short_word('awaiting_approval')}"

    def action_toggle_tests(self) -> None:
        """Show or hide the runs ``agentbox test`` made (hidden by default)."""
        self.show_tests = not self.show_tests
        self.loaded = []
        self.reload()
        self.notify("test runs shown" if self.show_tests else "test runs hidden", timeout=2)

    def action_help(self) -> None:
        self.agentbox.show_help(
            "Runs",
            self,
            [
                ("↑ / ↓, pgup / pgdn", "move in the runs"),
                ("↺ / ⑂", "after a run id: a replay (of a run or a case) / a fork"),
            ],
        )

    def action_stop(self) -> None:
        """Stop the run (asks why): the kill switch, as `agentbox stop`."""
        run_id = self._current_key()
        if run_id is None:
            return
        from agentbox.tui.screens.modals import PromptScreen

        def stop(reason: str | None) -> None:
            if reason is not None:
                from agentbox.tui.actions import stop

                self.notify(stop(self.agentbox.store, run_id, reason), timeout=4)

        self.app.push_screen(
            PromptScreen(f"Stop run {run_id}: why? (recorded with who stopped it)"), stop
        )
