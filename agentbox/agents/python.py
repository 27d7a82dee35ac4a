"""Run the user's own agent: ``agent: {type: python, entry: module:function}``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentbox.agents.context import AgentContext
from agentbox.errors import SandboxError


def load_entry(entry: str, search: list[Path]) -> Callable[[AgentContext], Any]:
    """Import ``module:function``, looking in ``search`` folders first.

    Raises:
        SandboxError: the module cannot be imported or has no such callable.
    """
    module_name, _, func_name = entry.partition(":")
    for folder in reversed(search):
        text = str(folder.resolve())
        if text not in sys.path:
            sys.path.insert(0, text)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise SandboxError(f"agent entry {entry!r}: cannot import {module_name}: "
                           f"{type(exc).__name__}: {exc}",
                           "entry modules are found next to the scenario or in the project root") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise SandboxError(f"agent entry {entry!r}: {module_name} has no callable {func_name!r}")
    return func  # type: ignore[no-any-return]
