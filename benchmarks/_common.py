"""Helpers shared by the benchmarks: the environment commands run in, and how spreads print.

Commands run with bytecode caches written and used, as on a developer's machine: a
sandbox that sets ``PYTHONDONTWRITEBYTECODE`` would otherwise make every process compile
every module it imports (~1-2 s of start-up that no user sees). ``warm_up`` runs a
command once, untimed, so the caches exist before anything is timed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
from pathlib import Path

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""The environment of every timed command: this one, bytecode caches allowed."""


def warm_up(argv: list[str], cwd: Path | None = None) -> None:
    """Run ``argv`` once, untimed and unchecked, so its modules' bytecode is cached."""
    subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, check=False)


def spread(values: list[float], fmt: str = "{:.3f}") -> str:
    """``min/median/max`` of ``values``, each formatted with ``fmt``."""
    return "/".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))
