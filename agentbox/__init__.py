"""agentbox: a local-first developer sandbox for AI agents.

The public API (``docs/python-api.md``). Running and reading runs::

    import agentbox

    result = agentbox.run("scenarios/refund-clean.yaml")
    replayed = agentbox.replay(result.run_id)
    with agentbox.open_store(".agentbox/traces.db") as store:
        steps = store.steps(result.run_id)

Writing sandboxes (``docs/sandboxes.md``) and python agents::

    from agentbox import tool, State, ToolError, Sandbox, AgentContext

Names are loaded on first use (PEP 562), so ``import agentbox`` (and ``agentbox --help``)
does not pay for pydantic or YAML until something needs them.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (`agentbox --help`)
if TYPE_CHECKING:
    from typing import Any

    from agentbox.agents.context import AgentContext, ToolResult
    from agentbox.api import ReplayResult, RunResult, Store, open_store, replay, run
    from agentbox.errors import AgentboxError, EndRun, ToolError
    from agentbox.sandbox.loader import Sandbox
    from agentbox.sandbox.state import State
    from agentbox.sandbox.tools import tool

__version__ = "0.1.0"

_LAZY = {
    "AgentContext": "agentbox.agents.context",
    "AgentboxError": "agentbox.errors",
    "EndRun": "agentbox.errors",
    "ReplayResult": "agentbox.api",
    "RunResult": "agentbox.api",
    "Sandbox": "agentbox.sandbox.loader",
    "State": "agentbox.sandbox.state",
    "Store": "agentbox.api",
    "ToolError": "agentbox.errors",
    "ToolResult": "agentbox.agents.context",
    "open_store": "agentbox.api",
    "replay": "agentbox.api",
    "run": "agentbox.api",
    "tool": "agentbox.sandbox.tools",
}

__all__ = [
    "AgentContext",
    "AgentboxError",
    "EndRun",
    "ReplayResult",
    "RunResult",
    "Sandbox",
    "State",
    "Store",
    "ToolError",
    "ToolResult",
    "__version__",
    "open_store",
    "replay",
    "run",
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
