"""Run the user's own agent: ``agent: {type: python, entry: module:function}``.

The function receives the run's :class:`AgentContext` and may be ``async``. While it runs,
its HTTP is intercepted (:mod:`agentbox.http.intercept`): agents written against the
official ``openai`` SDK (or any httpx client) run unmodified -- chat-completions calls are
answered by the run's model, the sandbox's HTTP mocks answer its API calls through the
policy gate, and every other request is blocked unless ``agent.allow_hosts`` lists its host.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentbox.agents.context import AgentContext
from agentbox.errors import SandboxError


def load_entry(
    entry: str, search: list[Path], *, intercept: bool = True
) -> Callable[[AgentContext], Any]:
    """Import ``module:function``, looking in ``search`` folders first.

    Returns a callable ``(ctx) -> result`` that runs the function (awaiting it when it is
    ``async``) with its HTTP intercepted; ``intercept=False`` leaves HTTP alone.

    Raises:
        SandboxError: the module cannot be imported or has no such callable.
    """
    module_name, _, func_name = entry.partition(":")
    for folder in reversed(search):
        text = str(folder.resolve())
        if text not in sys.path:
            sys.path.insert(0, text)
    try:
        if intercept:  # a module-level `client = OpenAI()` needs a key at import time
            from agentbox.http.intercept import placeholder_api_key

            with placeholder_api_key():
                module = importlib.import_module(module_name)
        else:
            module = importlib.import_module(module_name)
    except Exception as exc:
        raise SandboxError(
            f"agent entry {entry!r}: cannot import {module_name}: {type(exc).__name__}: {exc}",
            "entry modules are found next to the scenario or in the project root",
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise SandboxError(f"agent entry {entry!r}: {module_name} has no callable {func_name!r}")
    return _adapt(func, intercept)


def _adapt(func: Callable[..., Any], intercept: bool) -> Callable[[AgentContext], Any]:
    is_async = inspect.iscoroutinefunction(func)

    @functools.wraps(func)
    def run(ctx: AgentContext) -> Any:
        if not intercept:
            result = asyncio.run(func(ctx)) if is_async else func(ctx)
        else:
            from agentbox.http.intercept import intercept_http  # respx: only when agents run

            with intercept_http(ctx):
                result = asyncio.run(func(ctx)) if is_async else func(ctx)
        ctx.raise_if_stopped()  # a halt met by one of the agent's threads ends the run
        return result

    return run
