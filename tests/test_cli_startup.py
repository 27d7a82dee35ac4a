"""Process start-up of the ``agentbox`` command (issue 16): the root help comes from
:mod:`agentbox.cli.catalog` without importing Typer, and a command imports and builds only
itself. Both must print exactly what the whole Typer app prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer

from agentbox.cli import app
from agentbox.cli.catalog import COMMANDS, ROOT_HELP, render_root_help

ROOT = Path(__file__).resolve().parent.parent
USAGE = "Usage: agentbox [OPTIONS] COMMAND [ARGS]...\n"


def _main(code: str, *, columns: str = "80", **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter whose ``sys.argv[0]`` is ``agentbox``."""
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_COMPLETE")}
    environ.pop("AGENTBOX_STORE", None)
    environ |= {"COLUMNS": columns, "LINES": "24", **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def _argv(*args: str) -> str:
    return (
        f"import sys; sys.argv = ['agentbox', *{list(args)!r}]\n"
        "from agentbox.cli import main\n"
        "try:\n    main()\n"
        "finally:\n"
        "    print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    ).replace("import sys;", "import json, sys;")


def _modules(proc: subprocess.CompletedProcess[str]) -> set[str]:
    return set(json.loads(proc.stderr.splitlines()[-1]))


def test_the_root_help_text_is_what_typer_prints() -> None:
    rendered = render_root_help()
    assert rendered == ROOT_HELP, (
        "a command or a help line changed: set agentbox.cli.catalog.ROOT_HELP to the text "
        f"`python -m agentbox.cli.catalog` prints:\n{rendered}"
    )


def test_the_command_table_names_every_command_and_its_module() -> None:
    registered = [(c.name, c.callback.__module__) for c in app.registered_commands]
    registered += [
        (g.typer_instance.info.name, g.typer_instance.registered_commands[0].callback.__module__)
        for g in app.registered_groups
    ]
    table = [(name, f"agentbox.cli.{module}") for name, module in COMMANDS.items()]
    assert table == registered, "update agentbox.cli.catalog.COMMANDS (in help order)"
    assert list(COMMANDS) == list(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_help_prints_the_root_help_without_importing_typer() -> None:
    proc = _main(_argv("--help"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == USAGE + ROOT_HELP
    assert not {"typer", "click", "rich", "pydantic"} & _modules(proc)


def test_no_arguments_print_the_root_help_to_stderr_as_a_usage_error() -> None:
    proc = _main(_argv())
    assert proc.returncode == 2  # click's no_args_is_help exits as a usage error
    assert proc.stdout == ""
    assert proc.stderr.startswith(USAGE + ROOT_HELP)
    assert "typer" not in _modules(proc)


def test_a_narrow_terminal_gets_typers_own_rendering() -> None:
    proc = _main(_argv("--help"), columns="60")
    assert proc.returncode == 0, proc.stderr
    full = _main(
        "import sys; sys.argv = ['agentbox', '--help']\nfrom agentbox.cli import app\napp()",
        columns="60",
    )
    assert proc.stdout == full.stdout
    assert proc.stdout != USAGE + ROOT_HELP  # wrapped at 58 columns, not 78
    assert "typer" in _modules(proc)


def test_a_command_imports_only_its_own_module() -> None:
    proc = _main(_argv("show", "--help"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: agentbox show [OPTIONS]")
    loaded = _modules(proc)
    assert "agentbox.cli.commands" in loaded
    others = {f"agentbox.cli.{m}" for m in ("suite_cmds", "compare_cmds", "mcp_cmds", "tui_cmd")}
    assert not others & loaded


# every command's help, and the errors that list or suggest commands, as the whole app
# prints them: the lazily built one-command app first, then the whole app, one process
_COMPARE = """
import contextlib, io, json, sys
import typer.main
from agentbox.cli import main
from agentbox.cli.catalog import COMMANDS

def capture(run):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run()
        except SystemExit as exc:
            code = exc.code
    return [out.getvalue(), err.getvalue(), code]

cases = [[name, "--help"] for name in COMMANDS]
cases += [["show"], ["shwo"], ["--version"], ["mcp"], ["mcp", "serve", "--help"], ["run"]]
lazy = {}
for argv in cases:
    sys.argv = ["agentbox", *argv]
    lazy[" ".join(argv)] = capture(main)
from agentbox.cli import app
whole = {}
for argv in cases:
    group = typer.main.get_command(app)
    whole[" ".join(argv)] = capture(lambda: group.main(argv, prog_name="agentbox"))
print(json.dumps([lazy, whole]))
"""


def test_every_command_prints_what_the_whole_app_prints() -> None:
    proc = _main(_COMPARE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lazy, whole = json.loads(proc.stdout)
    assert lazy.keys() == whole.keys()
    for argv, printed in lazy.items():
        assert printed == whole[argv], argv
    assert lazy["shwo"][2] == 2 and "Did you mean 'show'?" in lazy["shwo"][1]
    assert lazy["--version"][0].startswith("agentbox ")
