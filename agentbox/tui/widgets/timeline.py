"""The step timeline: one line per step, virtualized (Textual's Line API).

Only the lines on screen are rendered, and each line asks :class:`StepPages` for its
step, so a 10,000-step run costs one page read to show and one dictionary lookup to
move. The timeline owns the cursor; when it changes the ``on_move`` callback runs at once
(so the details are drawn in the same frame as the cursor) and :class:`Timeline.Moved` is
posted for anyone else listening.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from agentbox.tui.present import visible_text
from agentbox.tui.steps import StepPages, summarize


class Timeline(ScrollView, can_focus=True):
    """A cursor over the steps of one run.

    Args:
        pages: where steps come from (shared with the run screen).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "move(1)", "next", show=False),
        Binding("k,up", "move(-1)", "prev", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("g,home", "first", "first", show=False),
        Binding("G,end", "last", "last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"timeline--cursor", "timeline--index"}

    DEFAULT_CSS = """
    Timeline { overflow-x: hidden; }
    Timeline > .timeline--cursor { background: $accent 40%; text-style: bold; }
    Timeline:focus > .timeline--cursor { background: $accent; }
    Timeline > .timeline--index { color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0, always_update=False, init=False)

    @dataclass
    class Moved(Message):
        """The cursor moved to step ``index``."""

        timeline: Timeline
        index: int

    def __init__(
        self,
        pages: StepPages,
        *,
        on_move: Callable[[int], None] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.pages = pages
        self.on_move = on_move
        self.marked: set[int] = set()
        self._strips: dict[tuple[int, bool], Strip] = {}
        self._strips_width = 0
        self._sync_size()

    # ---- size and cursor -----------------------------------------------------------
    def _sync_size(self) -> None:
        self.virtual_size = Size(0, self.pages.count)

    def steps_changed(self) -> None:
        """Call after steps were added or updated: resize and redraw."""
        self._strips.clear()
        self._sync_size()
        self.refresh()

    def mark(self, indexes: set[int]) -> None:
        """Show a marker next to these steps (search matches)."""
        self.marked = indexes
        self._strips.clear()
        self.refresh()

    def on_focus(self) -> None:
        self._strips.clear()

    def on_blur(self) -> None:
        self._strips.clear()

    def notify_style_update(self) -> None:
        self._strips.clear()
        super().notify_style_update()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self.pages.count - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        self._refresh_index(old)
        self._refresh_index(new)
        self.scroll_to_show(new)
        if self.on_move is not None:
            self.on_move(new)
        self.post_message(self.Moved(self, new))

    def scroll_to_show(self, index: int) -> None:
        """Scroll the least needed to bring ``index`` on screen."""
        height = self.scrollable_content_region.height or 1
        top = round(self.scroll_y)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)

    def _refresh_index(self, index: int) -> None:
        y = index - round(self.scroll_y)
        if 0 <= y < self.size.height:
            self.refresh_line(y)

    def action_move(self, delta: int) -> None:
        self.cursor = self.cursor + delta

    def action_page(self, direction: int) -> None:
        self.cursor = self.cursor + direction * max(1, self.scrollable_content_region.height - 1)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = self.pages.count - 1

    def on_click(self, event: Click) -> None:
        self.cursor = round(self.scroll_y) + event.y

    # ---- rendering -----------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if width != self._strips_width:
            self._strips.clear()
            self._strips_width = width
        if index >= self.pages.count:
            return Strip.blank(width, self.rich_style)
        key = (index, index == self.cursor)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_step(index, width, key[1])
            if len(self._strips) > 4096:
                self._strips.clear()
            self._strips[key] = strip
        return strip

    def _render_step(self, index: int, width: int, selected: bool) -> Strip:
        digits = len(str(max(0, self.pages.count - 1)))
        step = self.pages.get(index)
        base = self.rich_style
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        mark = "▸" if index in self.marked else " "
        line.append(
            f"{index:>{digits}}{mark}",
            style=self.get_component_rich_style("timeline--index", partial=True),
        )
        if step is None:
            line.append(" ? (not stored)", style="dim")
        else:
            s = summarize(step)
            line.append(f"{s.icon} {s.label:<9} ", style=s.style)
            line.append(s.text)
        if selected:
            base = base + self.get_component_rich_style("timeline--cursor")
        line = visible_text(line)
        line.truncate(width, overflow="ellipsis", pad=True)
        segments = [
            Segment(seg.text, base + seg.style if isinstance(seg.style, Style) else base)
            for seg in line.render(self.app.console)
        ]
        return Strip(segments, width).crop(0, width)
