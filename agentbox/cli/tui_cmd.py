"""``agentbox tui``: open the terminal UI (Textual is imported only here, lazily)."""

from __future__ import annotations

from typing import Annotated

import typer

from agentbox.cli.base import StoreOpt, _open_store, _settings, command


@command("tui")
def tui_cmd(
    run_id: Annotated[str | None, typer.Argument(help="Open this run directly.")] = None,
    store: StoreOpt = None,
) -> None:
    """Browse runs, step through one, approve held calls and fork, in the terminal.

    Examples:

      agentbox tui

      agentbox tui 3fa2
    """
    settings = _settings()
    trace_store = _open_store(settings, store)
    from agentbox.tui.app import AgentboxApp  # textual: ~0.3 s, only for this command

    AgentboxApp(trace_store, settings, run_id=run_id).run()
