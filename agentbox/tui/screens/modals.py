"""Modal dialogs: help, a one-line prompt (deny reason, export folder), edit arguments, fork.

Each dialog returns its result through ``dismiss`` (None when cancelled with escape).
Dialogs that validate (edited arguments, fork edits) keep themselves open and show the
errors until the input is valid; validation that needs the engine runs in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from agentbox.safe_text import visible


class HelpScreen(ModalScreen[None]):
    """Every key binding of the screen it was opened from."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "close"),
        Binding("j,down", "scroll(1)", "scroll down", show=False),
        Binding("k,up", "scroll(-1)", "scroll up", show=False),
        Binding("pagedown,space", "scroll(10)", "page down", show=False),
        Binding("pageup", "scroll(-10)", "page up", show=False),
    ]

    def __init__(self, title: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Text()
        for keys, description in self.rows:
            table.append(f"{keys:>16}", style="bold cyan")
            table.append(f"  {description}\n")
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label(f"[b]{self.title_text}[/b] — keys", classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(table, id="help-body")
            yield Label("escape closes · j/k, pgup/pgdn scroll", classes="dialog-hint")

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Keep the whole dialog on screen (title, hint and border take 4 rows)."""
        scroll = self.query_one("#help-scroll", VerticalScroll)
        scroll.styles.max_height = max(3, min(30, self.app.size.height - 4))

    def action_scroll(self, lines: int) -> None:
        self.query_one("#help-scroll", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text (enter accepts, escape cancels)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self, title: str, *, value: str = "", placeholder: str = "", required: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", id="prompt-error", classes="dialog-error")
            yield Label("enter accepts · escape cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def accept(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if self.required and not value:
            self.query_one("#prompt-error", Static).update("a value is required")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


Checker = Callable[[str], tuple[Any, list[str]]]


class EditArgsScreen(ModalScreen[dict[str, Any] | None]):
    """Edit a held call's arguments as JSON; approves only once they validate.

    Args:
        tool: the held tool.
        text: the arguments as indented JSON.
        check: ``text -> (args | None, errors)`` (JSON + the tool's schema + policy); run
            in a thread worker since it loads the run's sandbox.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel"),
        Binding("ctrl+s", "submit", "approve with edits"),
    ]

    def __init__(self, tool: str, text: str, check: Checker) -> None:
        super().__init__()
        self.tool = tool
        self.text = text
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="edit-dialog", classes="dialog"):
            yield Label(
                f"Edit the arguments of [b]{escape(visible(self.tool))}[/b], then approve",
                classes="dialog-title",
            )
            yield TextArea(
                self.text,
                id="edit-args",
                soft_wrap=True,
                show_line_numbers=True,
                tab_behavior="indent",
            )
            yield Static("", id="edit-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    "Approve with edits (ctrl+s)", variant="success", id="edit-ok", compact=True
                )
                yield Button("Cancel (esc)", id="edit-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    @on(Button.Pressed, "#edit-ok")
    def action_submit(self) -> None:
        self.query_one("#edit-error", Static).update("checking…")
        self.validate(self.query_one(TextArea).text)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def validate(self, text: str) -> None:
        try:
            args, errors = self.check(text)
        except Exception as exc:
            args, errors = None, [f"{type(exc).__name__}: {exc}"]
        self.app.call_from_thread(self._checked, args, errors)

    def _checked(self, args: dict[str, Any] | None, errors: list[str]) -> None:
        if args is None:
            self.query_one("#edit-error", Static).update(
                Text(visible("✗ " + "\n✗ ".join(errors)), style="red")
            )
            return
        self.dismiss(args)

    @on(Button.Pressed, "#edit-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


ForkCheck = Callable[[str | None, str | None], Any]


class WrappedTextArea(TextArea):
    """A soft-wrapped ``TextArea`` that is laid out at its wrapped height the first time.

    ``TextArea`` wraps its text when it handles its first resize, which comes after the
    screen's first layout: a ``height: auto`` box was laid out and drawn one line high,
    then laid out and drawn again at its wrapped height. Layout asks for the height with
    the width it gives, so the text is wrapped here at that width and the size it
    scrolls over is set (the resize then wraps it to the same lines: nothing changes).
    That saves the fork dialog a second layout and its frames when it opens.
    """

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not self.soft_wrap:
            return super().get_content_height(container, viewport, width)
        cursor = 1  # the cursor may rest after the last character (as TextArea.wrap_width)
        wrap = max(0, width - self.gutter_width - cursor)
        self.wrapped_document.wrap(wrap, self.indent_width)
        height = self.wrapped_document.height
        max_height = self.styles.max_height
        if max_height is not None:  # taller than that: a vertical scrollbar takes columns
            lines = int(max_height.resolve(container, viewport)) - self.styles.gutter.height
            if height > lines:
                scrollbar = self.styles.scrollbar_size_vertical
                self.wrapped_document.wrap(max(0, wrap - scrollbar), self.indent_width)
                height = self.wrapped_document.height
        # what the resize would set (as TextArea._refresh_size): the scrollbars follow it
        self.set_reactive(TextArea.virtual_size, Size(0, height))
        return height


class ForkScreen(ModalScreen[Any]):
    """Edit the tool result (at a tool step) and the state before forking at a step.

    Focus order: the tool result (when there is one), the state, Fork, Cancel; Tab moves
    between them (it never indents).

    Args:
        title: what is forked, at which step.
        state_text: the state after the previous step, as indented JSON.
        result_text: the tool result at the fork step, or the user's message at a
            ``user`` step (None: neither).
        result_label: the hint above ``result_text``.
        state_label: the hint above ``state_text`` (which records it holds).
        check: ``(state_text, result_text) -> edits``; raises ValueError to keep the
            dialog open with the message.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel"),
        Binding("ctrl+s", "submit", "fork"),
    ]

    def __init__(
        self,
        title: str,
        state_text: str,
        result_text: str | None,
        check: ForkCheck,
        result_label: str = "tool result: edit it to replace it (the call is then not run)",
        *,
        state_label: str = "state before this step: the records it is about (JSON; others stay)",
    ) -> None:
        super().__init__()
        self.state_label = state_label
        self.title_text = title
        self.state_text = state_text
        self.result_text = result_text
        self.check = check
        self.result_label = result_label

    def compose(self) -> ComposeResult:
        with Vertical(id="fork-dialog", classes="dialog"):
            yield Label(visible(self.title_text), classes="dialog-title", markup=False)
            if self.result_text is not None:
                yield Label(self.result_label, classes="dialog-hint")
                yield WrappedTextArea(
                    self.result_text, id="fork-result", soft_wrap=True, tab_behavior="focus"
                )
            yield Label(self.state_label, classes="dialog-hint", markup=False)
            yield TextArea(
                self.state_text,
                id="fork-state",
                soft_wrap=False,
                show_line_numbers=True,
                tab_behavior="focus",
            )
            error = Static("", id="fork-error", classes="dialog-error")
            error.display = False  # until there is one: at 80x24 its row is a state line
            yield error
            with Horizontal(classes="dialog-buttons"):
                yield Button("Fork (ctrl+s)", variant="primary", id="fork-ok", compact=True)
                yield Button("Cancel (esc)", id="fork-cancel", compact=True)
            yield Label(
                "tab / shift+tab: next / previous box · f7: select all", classes="dialog-hint"
            )

    def on_mount(self) -> None:
        first = "#fork-result" if self.result_text is not None else "#fork-state"
        self.query_one(first, TextArea).focus()

    @on(Button.Pressed, "#fork-ok")
    def action_submit(self) -> None:
        state = self.query_one("#fork-state", TextArea).text
        result = (
            self.query_one("#fork-result", TextArea).text if self.result_text is not None else None
        )
        try:
            edits = self.check(state, result)
        except ValueError as exc:
            error = self.query_one("#fork-error", Static)
            error.update(Text(visible(f"✗ {exc}"), style="red"))
            error.display = True
            return
        self.dismiss(edits)

    @on(Button.Pressed, "#fork-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
