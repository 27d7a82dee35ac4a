"""Shared fixtures: the repo root, settings, a per-test trace store (closed after the
test), a CLI runner helper and the anyio backend for Textual's async tests.

Define a fixture here, not in a test module, when two modules need it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from agentbox.cli import app
from agentbox.config import Settings, load_settings
from agentbox.store import TraceStore

pytest_plugins = ["pytester"]  # tests/test_suites.py runs the agentbox plugin in pytest

ROOT = Path(__file__).resolve().parent.parent

CliHelper = Callable[..., Result]


def _commands_with_store() -> set[str]:
    """Names of the CLI commands that accept ``--store`` (found by introspection)."""
    group: Any = typer.main.get_command(app)
    names = set()
    for name, command in group.commands.items():
        if any("--store" in getattr(p, "opts", ()) for p in command.params):
            names.add(name)
    return names


STORE_COMMANDS = _commands_with_store()


@pytest.fixture(scope="session", autouse=True)
def _retail_sqlite() -> None:
    """Build the SQLite copy of the retail seed that scenarios/shadow-sqlite.yaml reads.

    A generated file (``*.db`` is git-ignored), rebuilt when missing or older than the seed.
    """
    import importlib.util

    out = ROOT / "scenarios" / "snapshots" / "retail.db"
    seed = ROOT / "sandboxes" / "retail" / "seed"
    newest = max(p.stat().st_mtime for p in seed.glob("*.json"))
    if out.exists() and out.stat().st_mtime >= newest:
        return
    spec = importlib.util.spec_from_file_location(
        "make_sqlite", ROOT / "sandboxes" / "retail" / "make_sqlite.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(out)


@pytest.fixture()
def root() -> Path:
    """The repository root (holds scenarios/, sandboxes/ and .agentbox.toml)."""
    return ROOT


@pytest.fixture()
def store_path(tmp_path: Path) -> Path:
    """A fresh trace store file for this test (not created until something writes it)."""
    return tmp_path / "traces.db"


@pytest.fixture()
def settings() -> Settings:
    """The repository's settings (``.agentbox.toml`` at the root)."""
    return load_settings(ROOT)


@pytest.fixture()
def anyio_backend() -> str:
    """Textual runs on asyncio: ``@pytest.mark.anyio`` tests use only that backend."""
    return "asyncio"


@pytest.fixture()
def open_store(store_path: Path) -> Iterator[Callable[..., TraceStore]]:
    """Open a :class:`TraceStore` (``store_path`` unless a path is given); every store
    opened this way is closed when the test ends, passed or failed."""
    opened: list[TraceStore] = []

    def open_(path: Path | str | None = None) -> TraceStore:
        trace = TraceStore(path or store_path)
        opened.append(trace)
        return trace

    yield open_
    for trace in opened:
        trace.close()


@pytest.fixture()
def store(open_store: Callable[..., TraceStore]) -> TraceStore:
    """A trace store on ``store_path``, closed after the test."""
    return open_store()


@pytest.fixture(autouse=True)
def _reap_cli_processes() -> Iterator[None]:
    """A failed test must not leave a run (and its pipes) behind: kill what
    ``procs.start`` started."""
    yield
    from procs import reap

    reap()


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The store option falls back to $AGENTBOX_STORE: never let a developer's value leak in.
    monkeypatch.delenv("AGENTBOX_STORE", raising=False)
    monkeypatch.delenv("AGENTBOX_DEBUG", raising=False)


@pytest.fixture()
def cli(root: Path, store_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliHelper:
    """Run ``agentbox ARGS...`` in-process; returns click's Result.

    The working folder is the repo root (tests may chdir elsewhere afterwards). Commands
    that take ``--store`` get ``--store store_path`` appended unless the args name one.
    ``cwd=FOLDER`` runs in a project folder instead, whose ``.agentbox.toml`` names the
    store (nothing is appended).
    """
    monkeypatch.chdir(root)

    def invoke(
        *args: str | Path,
        env: dict[str, str] | None = None,
        input: str | None = None,
        cwd: Path | None = None,
    ) -> Result:
        argv: list[str] = [str(a) for a in args]
        if cwd is not None:
            monkeypatch.chdir(cwd)
        elif argv and argv[0] in STORE_COMMANDS and "--store" not in argv and "--help" not in argv:
            argv += ["--store", str(store_path)]
        return CliRunner().invoke(app, argv, env=env, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture()
def make_scenario(tmp_path: Path) -> Callable[[str, dict[str, Any] | str], Path]:
    """Write ``tmp_path/NAME.yaml`` (a dict is dumped as YAML) and return its path."""
    import yaml

    def write(name: str, data: dict[str, Any] | str) -> Path:
        path = tmp_path / f"{name}.yaml"
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture()
def stored_runs(store_path: Path) -> Callable[[], list[Any]]:
    """Read the runs in ``store_path`` through a new TraceStore ([] when no file)."""

    def read() -> list[Any]:
        if not store_path.exists():
            return []
        store = TraceStore(store_path)
        try:
            return store.list_runs(limit=None)
        finally:
            store.close()

    return read
