"""What ``agentbox`` offers, known without importing Typer: the module of each command,
and the root help as Typer prints it.

:func:`agentbox.cli.main` reads this table so a process pays only for what it runs:
``agentbox --help`` prints :data:`ROOT_HELP` (Typer and its click would cost ~70 ms to
import and ~50 ms to build every command's parameters from its signature), and
``agentbox show RUN`` imports and builds ``show`` alone. tests/test_cli_startup.py
checks both against the Typer app and prints the new text when a command or a help line
changes (``python -m agentbox.cli.catalog`` prints it too).
"""

from __future__ import annotations

import os
import sys

COMMANDS: dict[str, str] = {
    "export-traces": "trace_cmds",
    "import": "trace_cmds",
    "run": "commands",
    "runs": "commands",
    "show": "commands",
    "schema": "commands",
    "init": "commands",
    "compare": "compare_cmds",
    "deltas": "compare_cmds",
    "stop": "control_cmds",
    "approvals": "lifecycle_cmds",
    "approve": "lifecycle_cmds",
    "deny": "lifecycle_cmds",
    "resume": "lifecycle_cmds",
    "fork": "lifecycle_cmds",
    "replay": "lifecycle_cmds",
    "diff": "lifecycle_cmds",
    "shadow-diff": "shadow_cmds",
    "export": "suite_cmds",
    "test": "suite_cmds",
    "report": "suite_cmds",
    "tools": "tools_cmds",
    "tui": "tui_cmd",
    "mcp": "mcp_cmds",
}
"""Command name -> the module of :mod:`agentbox.cli` that registers it, in help order."""

MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))
"""Every command module, in the order that registers the commands in help order."""

ROOT_HELP = """\

  A local-first developer sandbox for AI agents: run a scenario against mock
  tools under a policy, trace every step in SQLite, inspect and replay.

  Examples:

    agentbox run scenarios/refund-clean.yaml

    agentbox runs

    agentbox show 3fa2

    agentbox init billing

Options:
  --version  Print agentbox's version and exit.
  --help     Show this message and exit.

Commands:
  export-traces  Export runs as OpenTelemetry traces: to a collector...
  import         Import traces as runs: agentbox's own JSONL, OTLP JSON,...
  run            Run a scenario: the agent against the sandbox, gated by...
  runs           List stored runs, newest first; the runs `agentbox test`...
  show           Print a stored run step by step, with its summary and...
  schema         Print the JSON Schema of scenario files (for editor...
  init           Scaffold a sandbox, a scenario that runs offline, and...
  compare        Compare two suite runs: flips per case, metrics side by...
  deltas         Shadow deltas: the actions a recommend/shadow suite run...
  stop           Stop a run (or every unfinished run): the kill switch.
  approvals      List approvals waiting for a decision, across runs.
  approve        Approve a held tool call, optionally with edited arguments.
  deny           Deny a held tool call; the agent gets the reason as the...
  resume         Continue a parked or interrupted run from its last...
  fork           Start a new run from step N of a stored run, with edits...
  replay         Re-run a stored run from its cassette (no model access)...
  diff           Compare two runs: first divergent step, tool calls,...
  shadow-diff    Print the shadow diff of a run: every changed row,...
  export         Turn a finished run into a regression case: one...
  test           Replay regression cases and run scenarios; report...
  report         Metrics per run and pooled: tool-call validity and...
  tools          List a sandbox's tools and collections: what an agent...
  tui            Browse runs, step through one, approve held calls and...
  mcp            Serve a scenario's sandbox tools over MCP, gated by its...
"""
"""``agentbox --help`` after its usage line, as Typer renders it 80 or more columns wide
(click caps help at 78 columns: every terminal that wide, and every pipe, gets this)."""


def program_name() -> str:
    """The name usage lines show, worked out as click does (``agentbox``, or
    ``python -m agentbox``)."""
    main = sys.modules.get("__main__")
    path = os.path.basename(sys.argv[0])
    package = getattr(main, "__package__", None)
    if package in (None, ""):  # a file or a console script
        return path
    name = os.path.splitext(path)[0]
    module = str(package) if name == "__main__" else f"{package}.{name}"
    return f"python -m {module.lstrip('.')}"


def root_help() -> str | None:
    """``agentbox --help`` as Typer would print it, or None when only Typer can tell: a
    terminal narrower than 80 columns, a long program name, or a shell asking for
    completions (``_AGENTBOX_COMPLETE``)."""
    import shutil  # ~1 ms, and only for help

    if any(name.endswith("_COMPLETE") for name in os.environ):
        return None
    if shutil.get_terminal_size().columns < 80:
        return None
    prog = program_name()
    if len(prog) > 40:  # click would wrap the usage line differently
        return None
    return f"Usage: {prog} [OPTIONS] COMMAND [ARGS]...\n{ROOT_HELP}"


def render_root_help() -> str:
    """What Typer prints for ``agentbox --help`` after the usage line, at 80 columns:
    what :data:`ROOT_HELP` must say (imports every command)."""
    import typer.main

    from agentbox.cli import app

    group = typer.main.get_command(app)
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        text = group.get_help(group.context_class(group, info_name="agentbox"))
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return text.split("\n", 1)[1] + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_root_help())
