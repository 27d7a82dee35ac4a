"""The ``agentbox`` command line (Typer). Thin: parse, call the library, print.

Exit codes: 0 the run met its expectations, 1 it did not (or halted/failed without
expectations), 2 bad input (scenario, config, sandbox, unknown run). Set
``AGENTBOX_DEBUG=1`` to see tracebacks for errors.

The app and the helpers the commands share live in :mod:`agentbox.cli.base`; each
``*_cmds`` module registers its commands on it when imported. Importing this package
imports nothing: ``app`` (and every name below) loads all the command modules on first
use (PEP 562), while :func:`main` loads only the one the command line names
(:mod:`agentbox.cli.catalog`). Heavy modules (the runner, pydantic models, rich tables)
are imported inside commands; litellm and textual are never imported here.
"""

from __future__ import annotations

import importlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import typer

    from agentbox.cli import (
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


def _load_all() -> None:
    """Import every command module: the app then has all its commands, in help order."""
    from agentbox.cli.catalog import MODULES

    for module in MODULES:
        importlib.import_module(f"agentbox.cli.{module}")


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'agentbox.cli' has no attribute {name!r}")
    _load_all()
    if name in globals():  # a command module (set on the package by its import)
        return globals()[name]
    from agentbox.cli import base

    value = getattr(base, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def app_for(name: str | None) -> typer.Typer:
    """The app with only the command ``name`` (its module alone imported), or the whole
    app when ``name`` is not a command (an option, a typo: click lists and suggests)."""
    import copy

    from agentbox.cli.catalog import COMMANDS

    module = COMMANDS.get(name or "")
    if module is None:
        _load_all()
        from agentbox.cli.base import app

        return app
    importlib.import_module(f"agentbox.cli.{module}")
    from agentbox.cli.base import app

    one = copy.copy(app)  # Typer builds the click parameters of every registered command
    one.registered_commands = [c for c in app.registered_commands if c.name == name]
    one.registered_groups = [
        g for g in app.registered_groups if g.typer_instance and g.typer_instance.info.name == name
    ]
    return one


def main() -> None:
    """Console-script entry point: ``agentbox ARGS...``."""
    args = sys.argv[1:]
    if args in ([], ["--help"]):  # the root help, without importing Typer when it can
        from agentbox.cli.catalog import root_help

        text = root_help()
        if text is not None:
            stream = sys.stdout if args else sys.stderr  # no arguments: a usage error
            try:
                stream.write(text)
                stream.flush()
            except BrokenPipeError:  # `agentbox --help | head -1`: exit 1 quietly, as click
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
                sys.exit(1)
            sys.exit(0 if args else 2)
    app_for(args[0] if args else None)()
