"""Run the user's own agent: ``agent: {type: python, entry: agents/my_agent.py:run}``.

The function receives the run's :class:`AgentContext` and may be ``async``. While it runs,
its HTTP is intercepted (:mod:`agentbox.http.intercept`): agents written against the
official ``openai`` SDK (or any httpx/httpx2 client) run unmodified -- model calls are
answered by the run's model, the sandbox's HTTP mocks answer its API calls through the
policy gate, and every other request is blocked unless ``agent.allow_hosts`` lists its host.

Entries name a file, relative to the scenario's folder (then the project root), and are
loaded from it under a private module name, so no installed package can shadow them (the
OpenAI Agents SDK installs a top-level ``agents`` package). The file's own folder is put on
``sys.path`` so it can import its siblings, as ``python file.py`` would. The older
``module:function`` form still works: its dotted name is tried as a file
(``agents.triage`` -> ``agents/triage.py``) first, then imported as a module.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agentbox.errors import SandboxError

if TYPE_CHECKING:
    from agentbox.agents.context import AgentContext

_LOADED: dict[Path, tuple[float, ModuleType]] = {}


def load_entry(
    entry: str, search: list[Path], *, intercept: bool = True
) -> Callable[[AgentContext], Any]:
    """Load ``path/to/file.py:function`` (or ``module:function``) from ``search`` folders.

    A file path is resolved against each folder of ``search`` in order, then against the
    folders on ``sys.path`` (a suite case's ``python_path``); a dotted module name is tried
    as a file the same way before it is imported as a module (with the ``search`` folders
    put on ``sys.path``).

    Returns a callable ``(ctx) -> result`` that runs the function (awaiting it when it is
    ``async``) with its HTTP intercepted; ``intercept=False`` leaves HTTP alone.

    Raises:
        SandboxError: the file or module cannot be found or imported, or has no such
            callable.
    """
    target, _, func_name = entry.rpartition(":")
    if not target or not func_name:
        raise SandboxError(
            f"agent entry {entry!r} must look like path/to/file.py:function",
            "e.g. entry: agents/my_agent.py:run (relative to the scenario's folder)",
        )
    file = _find_file(target, search)
    guard = _key_for_import() if intercept else nullcontext()
    if file is not None:
        with guard:
            module = _load_file(file, entry)
        where = str(file)
    elif target.endswith(".py") or "/" in target or "\\" in target:
        folders = ", ".join(str(f) for f in search) or "the working folder"
        raise SandboxError(
            f"agent entry {entry!r}: file {target} not found (looked in {folders})",
            "entry paths are relative to the scenario's folder, e.g. agents/my_agent.py:run",
        )
    else:
        with guard:
            module = _import_module(target, entry, search)
        where = target
    func = getattr(module, func_name, None)
    if not callable(func):
        raise SandboxError(f"agent entry {entry!r}: {where} has no callable {func_name!r}")
    return _adapt(func, intercept)


def find_entry(entry: str, search: list[Path]) -> Path | str:
    """Where ``entry`` would load from, without importing or running anything.

    Returns the file (``path/to/file.py:function``, or a dotted name found as a file) or
    the module name an import would find, looked up as :func:`load_entry` does.

    Raises:
        SandboxError: the entry is malformed, or no such file or module exists.
    """
    target, _, func_name = entry.rpartition(":")
    if not target or not func_name:
        raise SandboxError(
            f"agent entry {entry!r} must look like path/to/file.py:function",
            "e.g. entry: agents/my_agent.py:run (relative to the scenario's folder)",
        )
    file = _find_file(target, search)
    if file is not None:
        names = top_level_names(file)
        if names is not None and func_name not in names:
            close = difflib.get_close_matches(func_name, sorted(names), n=1)
            raise SandboxError(
                f"agent entry {entry!r}: {file.name} defines no {func_name!r}"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
                f"name a function the file defines, e.g. entry: {target}:{close[0]}"
                if close
                else "name a function the file defines at its top level",
            )
        return file
    folders = ", ".join(str(f) for f in search) or "the working folder"
    if target.endswith(".py") or "/" in target or "\\" in target:
        raise SandboxError(
            f"agent entry {entry!r}: file {target} not found (looked in {folders})",
            "entry paths are relative to the scenario's folder, e.g. agents/my_agent.py:run",
        )
    top = target.split(".")[0]
    if not all(part.isidentifier() for part in target.split(".")):
        raise SandboxError(
            f"agent entry {entry!r}: {target!r} is neither a .py file nor a module name",
            "e.g. entry: agents/my_agent.py:run (relative to the scenario's folder)",
        )
    paths = [str(f) for f in search] + sys.path
    if top in sys.modules or importlib.machinery.PathFinder.find_spec(top, paths) is not None:
        return target
    raise SandboxError(
        f"agent entry {entry!r}: no file {target.replace('.', '/')}.py and no module {top!r} "
        f"(looked in {folders} and on the Python path)",
        "name the agent's file relative to the scenario, e.g. entry: agents/my_agent.py:run",
    )


def top_level_names(file: Path) -> set[str] | None:
    """The names a Python file binds at its top level (functions, classes, assignments,
    imports, also inside top-level ``if``/``try``/``with``/``for`` blocks), read from its
    syntax tree without running it; None when that cannot be known statically (a syntax
    error, ``from x import *``, a module ``__getattr__``)."""
    try:
        tree = ast.parse(file.read_bytes(), filename=str(file))
    except (OSError, SyntaxError, ValueError):
        return None
    names: set[str] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            stack.extend(node.body)
            stack.extend(getattr(node, "orelse", []))
            stack.extend(getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                stack.extend(handler.body)
    if "__getattr__" in names:
        return None
    return names


def _key_for_import() -> Any:
    from agentbox.http.intercept import placeholder_api_key  # a module-level `OpenAI()`

    return placeholder_api_key()


def _find_file(target: str, search: list[Path]) -> Path | None:
    if target.endswith(".py") or "/" in target or "\\" in target:
        relative = Path(target)
    else:  # a dotted module name: agents.triage -> agents/triage.py
        relative = Path(*target.split(".")).with_suffix(".py")
    if relative.is_absolute():
        return relative.resolve() if relative.is_file() else None
    for folder in [*search, *(Path(p) for p in sys.path if p)]:
        candidate = folder / relative
        if candidate.is_file():
            return candidate.resolve()
    return None


def _put_on_path(folder: str) -> None:
    """Put ``folder`` first on sys.path (for sibling imports), as ``python file.py`` does."""
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _load_file(file: Path, entry: str) -> ModuleType:
    """Execute ``file`` as a module named ``agentbox_entry_<stem>_<hash>`` (cached by mtime)."""
    mtime = file.stat().st_mtime
    cached = _LOADED.get(file)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:10]
    name = f"agentbox_entry_{file.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise SandboxError(f"agent entry {entry!r}: {file} is not a python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses, pickling and typing look modules up by name
    _put_on_path(str(file.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise SandboxError(
            f"agent entry {entry!r}: cannot load {file}: {type(exc).__name__}: {exc}",
            "run the file with python to see the full error",
        ) from exc
    _LOADED[file] = (mtime, module)
    return module


def _import_module(module_name: str, entry: str, search: list[Path]) -> ModuleType:
    for folder in reversed(search):
        text = str(folder.resolve())
        if text not in sys.path:
            sys.path.insert(0, text)
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise SandboxError(
            f"agent entry {entry!r}: cannot import {module_name}: {type(exc).__name__}: {exc}",
            "name the agent's file instead, e.g. entry: agents/my_agent.py:run",
        ) from exc


def _adapt(func: Callable[..., Any], intercept: bool) -> Callable[[AgentContext], Any]:
    is_async = inspect.iscoroutinefunction(func)
    if is_async:
        import asyncio  # ~15 ms of start-up: only async agents need an event loop

    @functools.wraps(func)
    def run(ctx: AgentContext) -> Any:
        if not intercept:
            result = asyncio.run(func(ctx)) if is_async else func(ctx)
        else:
            # start-up cost: httpx and the interception layer load only when agents run
            from agentbox.http.intercept import intercept_http

            with intercept_http(ctx):
                result = asyncio.run(func(ctx)) if is_async else func(ctx)
        ctx.raise_if_stopped()  # a halt met by one of the agent's threads ends the run
        return result

    return run
