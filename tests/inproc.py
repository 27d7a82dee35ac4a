"""``agentbox ARGS --store STORE`` run in-process through Typer's CliRunner.

For tests that name their own store file; the ``cli`` fixture (conftest.py) appends the
per-test store by itself. Subprocess runs of the CLI are in ``procs.py``.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from agentbox.cli import app


def agentbox(store: Path, *args: str | Path) -> Result:
    """Run ``agentbox ARGS --store STORE`` in-process; exceptions propagate (a traceback
    from the CLI is a test failure, never an exit code)."""
    argv = [str(a) for a in args] + ["--store", str(store)]
    return CliRunner().invoke(app, argv, catch_exceptions=False)
