"""agentbox: a local-first developer sandbox for AI agents.

The public API for sandbox authors and python agents::

    from agentbox import tool, State, ToolError, AgentContext

Names are loaded on first use (PEP 562), so ``import agentbox`` (and ``agentbox --help``)
does not pay for pydantic or YAML until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentbox.agents.context import AgentContext, ToolResult
    from agentbox.errors import AgentboxError, EndRun, ToolError
    from agentbox.sandbox.state import State
    from agentbox.sandbox.tools import tool

__version__ = "0.1.0"

_LAZY = {
    "AgentContext": "agentbox.agents.context",
    "AgentboxError": "agentbox.errors",
    "EndRun": "agentbox.errors",
    "State": "agentbox.sandbox.state",
    "ToolError": "agentbox.errors",
    "ToolResult": "agentbox.agents.context",
    "tool": "agentbox.sandbox.tools",
}

__all__ = [
    "AgentContext",
    "AgentboxError",
    "EndRun",
    "State",
    "ToolError",
    "ToolResult",
    "__version__",
    "tool",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
