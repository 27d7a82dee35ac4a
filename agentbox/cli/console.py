"""The CLI's rich console: every character it writes of *text* passes :func:`visible`.

This is the CLI's one rendering boundary. Model output, tool results, arguments, names
and reasons reach the terminal only through a console made here, and the console makes
their control characters visible (``ESC`` -> ``␛``) just before writing, so no view can
forget to. rich's own styling and cursor control (colours, the progress bar) are
separate segments and are left alone. ``--json`` output is printed with ``print`` and
needs no escaping.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment

from agentbox.safe_text import has_control, visible


class SafeConsole(Console):
    """A rich ``Console`` that never writes a control character it did not generate."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # rich 13-15: every write (print, log, input prompts, live displays) goes through
        # here as segments; control segments carry rich's own cursor movement.
        return super()._render_buffer(
            Segment(visible(text), style, control)
            if not control and has_control(text)
            else Segment(text, style, control)
            for text, style, control in buffer
        )


def make_console(**kwargs: Any) -> SafeConsole:
    """A :class:`SafeConsole` (same arguments as ``rich.console.Console``)."""
    return SafeConsole(**kwargs)
