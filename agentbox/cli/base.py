"""The Typer app every command registers on, and what the commands share: the common
options, the console, errors as one line (``fail``, ``command``), JSON output.

The command modules import this module (never the package ``agentbox.cli``, which
imports them). Heavy modules (the runner, pydantic models, rich tables) are imported
inside commands so ``agentbox --help`` stays fast; litellm and textual are never
imported here.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from agentbox.config import Settings
    from agentbox.store import TraceStore

app = typer.Typer(
    name="agentbox",
    help="A local-first developer sandbox for AI agents: run a scenario against mock tools "
    "under a policy, trace every step in SQLite, inspect and replay.\n\n"
    "Examples:\n\n"
    "  agentbox run scenarios/refund-clean.yaml\n\n"
    "  agentbox runs\n\n"
    "  agentbox show 3fa2\n\n"
    "  agentbox init billing",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        from agentbox import __version__

        emit(f"agentbox {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print agentbox's version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    # the root's own options; its help text is the Typer app's
    pass


StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="Trace store file (default: `store` in .agentbox.toml, else .agentbox/traces.db).",
        envvar="AGENTBOX_STORE",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _console(stderr: bool = False) -> Console:
    """The console every command prints through (control characters made visible)."""
    from agentbox.cli.console import make_console

    return make_console(stderr=stderr, highlight=False, soft_wrap=False)


def fail(message: str, hint: str = "", code: int = 2) -> NoReturn:
    """Print ``error: message`` (+ hint) to stderr and exit with ``code``."""
    err = _console(stderr=True)
    from rich.markup import escape

    # soft_wrap: a `file:line: field: message` line must never be broken (editors, CI).
    err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err.print(f"[dim]hint: {escape(hint)}[/]", soft_wrap=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    from agentbox.config import load_settings

    return load_settings()


def _open_store(settings: Settings, store: Path | None) -> TraceStore:
    from agentbox.store import TraceStore

    return TraceStore(store or settings.store_path)


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``app.command`` that turns AgentboxError into ``error: ...`` + hint and exit 2."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def guarded(*a: Any, **kw: Any) -> Any:
            from agentbox.errors import AgentboxError

            try:
                return fn(*a, **kw)
            except AgentboxError as exc:
                if os.environ.get("AGENTBOX_DEBUG"):
                    raise
                fail(exc.message, exc.hint)

        return app.command(*args, **kwargs)(guarded)

    return wrap


@contextlib.contextmanager
def user_output_to_stderr(active: bool = True) -> Iterator[None]:
    """While user code (agents, tools) runs under ``--json``, its stdout goes to stderr.

    Both ``sys.stdout`` (print) and file descriptor 1 (C code, subprocesses) are
    redirected, so the JSON printed afterwards is all that stdout carries.
    """
    if not active:
        yield
        return
    sys.stdout.flush()
    try:
        out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not real files (tests' CliRunner)
        out_fd = err_fd = -1
    saved = os.dup(out_fd) if out_fd >= 0 else -1
    if saved >= 0:
        os.dup2(err_fd, out_fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        if saved >= 0:
            os.dup2(saved, out_fd)
            os.close(saved)


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (anywhere inside) as the strings ``"NaN"``,
    ``"Infinity"``, ``"-Infinity"`` (as protobuf's JSON mapping writes them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE[repr(value)]
    if isinstance(value, dict):
        return {_finite(k) if isinstance(k, float) else k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """Pretty, strict JSON for ``--json`` output: never a bare ``NaN`` or ``Infinity``
    (which most JSON parsers reject); see :func:`_finite`."""
    return json.dumps(_finite(value), indent=2, default=str, allow_nan=False)


def emit(text: str) -> None:
    """Write ``text`` and a newline to stdout (``--json`` output, schemas).

    A reader that went away (``| head``) ends the command quietly; any other write
    error (``> /dev/full``: no space left) is a one-line error, exit 2.
    """
    import sys

    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except OSError as exc:
        _silence_stdout()  # python would fail again flushing at exit
        if isinstance(exc, BrokenPipeError):
            raise typer.Exit(0) from None
        fail(f"cannot write the output: {exc.strerror or exc}", "write to a file or a pipe")


def _silence_stdout() -> None:
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (tests): nothing to flush later
        pass


def writable_file(path: Path, what: str) -> None:
    """Exit 2 unless ``path`` can be written as a file: not a folder, no file in the way
    among its parent folders. Checked before work whose result would be lost."""
    if path.is_dir():
        fail(f"{what} {path} is a folder", f"give a file name, e.g. {path / 'report.xml'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                fail(f"{what} {path}: {parent} is a file, not a folder", "choose another path")
            break


def watch_and_rerun(folders: list[Path], again: Any, stop: Any = None) -> None:
    """Call ``again()`` after every batch of changes to YAML/Python/JSON/Markdown files."""
    from watchfiles import watch

    console = _console()
    existing = [p for p in folders if p.exists()]
    console.print(f"[dim]watching {', '.join(str(p) for p in existing)} — Ctrl-C to stop[/]")

    def relevant(_change: Any, name: str) -> bool:
        return name.endswith((".yaml", ".yml", ".py", ".json", ".md", ".toml"))

    try:
        for changes in watch(*existing, watch_filter=relevant, stop_event=stop):
            names = sorted({Path(n).name for _, n in changes})
            console.rule(f"changed: {', '.join(names[:5])}")
            with contextlib.suppress(typer.Exit):
                again()
    except KeyboardInterrupt:
        pass
