"""The ``agentbox`` command line (Typer). Thin: parse, call the library, print.

Exit codes: 0 the run met its expectations, 1 it did not (or halted/failed without
expectations), 2 bad input (scenario, config, sandbox, unknown run). Set
``AGENTBOX_DEBUG=1`` to see tracebacks for errors.

The app and the helpers the commands share live in :mod:`agentbox.cli.base`; each
``*_cmds`` module registers its commands on it when imported here. Heavy modules (the
runner, pydantic models, rich tables) are imported inside commands so ``agentbox --help``
stays fast; litellm and textual are never imported here.
"""

from __future__ import annotations

from agentbox.cli import (  # importing them registers their commands on the app
    commands,
    compare_cmds,
    control_cmds,
    lifecycle_cmds,
    mcp_cmds,
    shadow_cmds,
    suite_cmds,
    tools_cmds,
    trace_cmds,
    tui_cmd,
)
from agentbox.cli.base import (
    JsonOpt,
    StoreOpt,
    _console,
    _open_store,
    _settings,
    app,
    command,
    emit,
    fail,
    to_json,
    user_output_to_stderr,
    watch_and_rerun,
    writable_file,
)

__all__ = [
    "JsonOpt",
    "StoreOpt",
    "_console",
    "_open_store",
    "_settings",
    "app",
    "command",
    "commands",
    "compare_cmds",
    "control_cmds",
    "emit",
    "fail",
    "lifecycle_cmds",
    "main",
    "mcp_cmds",
    "shadow_cmds",
    "suite_cmds",
    "to_json",
    "tools_cmds",
    "trace_cmds",
    "tui_cmd",
    "user_output_to_stderr",
    "watch_and_rerun",
    "writable_file",
]


def main() -> None:
    """Console-script entry point."""
    app()
