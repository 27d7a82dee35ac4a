"""A scrollable pane of rich text whose content can change without a screen relayout.

``Static`` inside ``VerticalScroll`` re-lays out the whole screen twice whenever its text
changes height (once for the new content, once for the container's new virtual size);
on the run screen that is most of the cost of moving the cursor. This pane keeps its own
size fixed (``1fr``, scrollbar always shown), wraps the text itself, and renders only the
lines on screen, so a new step's details cost one repaint.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from agentbox.tui.present import visible_text


class TextPane(ScrollView, can_focus=True):
    """Show a rich ``Text`` (wrapped to the pane's width), scrollable."""

    DEFAULT_CSS = """
    TextPane { overflow-x: hidden; overflow-y: scroll; scrollbar-size-vertical: 1; }
    """

    def __init__(
        self, text: Text | str = "", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._text = visible_text(Text(text) if isinstance(text, str) else text)
        self._strips: list[Strip] = []
        self._wrapped_width = -1

    @property
    def text(self) -> Text:
        """The current content."""
        return self._text

    @property
    def plain(self) -> str:
        """The current content as plain text (for tests and search)."""
        return self._text.plain

    def update(self, text: Text | str) -> None:
        """Replace the content (control characters made visible) and scroll to the top."""
        self._text = visible_text(Text(text) if isinstance(text, str) else text)
        self._wrapped_width = -1
        self.set_reactive(ScrollView.scroll_y, 0.0)
        self._wrap()
        self.refresh()

    def on_resize(self) -> None:
        self._wrapped_width = -1
        self._wrap()

    def _wrap(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._wrapped_width:
            return
        self._wrapped_width = width
        console = self.app.console
        options = console.options.update(width=width, height=None, no_wrap=False, overflow="fold")
        lines = Segment.split_and_crop_lines(console.render(self._text, options), width, pad=True)
        self._strips = [Strip(line, width) for line in lines]
        size = Size(width, len(self._strips))
        if size != self.virtual_size:
            # Our own size is fixed by CSS: skip the screen-wide layout a virtual_size change
            # would request, and only update the scrollbar (private API, Textual 8).
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)

    def render_line(self, y: int) -> Strip:
        self._wrap()
        index = round(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if 0 <= index < len(self._strips):
            return self._strips[index].apply_style(self.rich_style)
        return Strip.blank(width, self.rich_style)
