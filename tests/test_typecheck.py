"""mypy --strict over the package runs with the tests (configured in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_is_clean() -> None:
    exe = Path(sys.executable).parent / "mypy"
    command = [str(exe)] if exe.exists() else [shutil.which("mypy") or ""]
    if not command[0]:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    out = subprocess.run(
        [*command, "agentbox"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stdout + out.stderr
