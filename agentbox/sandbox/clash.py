"""One check for two definitions of one tool name, wherever the tools come from.

A run's tools come from four places: the sandbox's ``tools.py`` (``@tool``), its
``http_mocks.py`` (mocks a python agent can call as tools), the agent's own functions
(``ctx.gate`` / ``agentbox.adapters.gated``) and the scenario's MCP servers
(``SERVER__TOOL``). A name defined twice would let one definition silently shadow the
other, so every place that adds tools calls :func:`check_tool_names`, and all refuse with
one message: ``<where A is defined> and <where B is defined> both define tool 'NAME'``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentbox.errors import SandboxError

if TYPE_CHECKING:
    from agentbox.sandbox.tools import ToolSpec

__all__ = ["check_tool_names", "tool_source", "where_defined"]

CLASH_HINT = (
    "rename one of them (@tool(name=...), http_mock(..., name=...), ctx.gate(fn, name=...), "
    "or the server's key under mcp_servers)"
)


def where_defined(fn: Any) -> str:
    """``file:line`` of a function's definition (its ``repr`` when unknown)."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return repr(fn)
    return f"{code.co_filename}:{code.co_firstlineno}"


def _origin(spec: ToolSpec) -> Any:
    """The definition behind a spec (through read-only and gate wrappers)."""
    server = getattr(spec, "server", "")  # an MCP tool (agentbox.mcp.proxy.McpToolSpec)
    if server:
        return ("mcp", server, getattr(spec, "tool", ""))
    return inspect.unwrap(spec.fn)


def tool_source(spec: ToolSpec) -> str:
    """Where a tool is defined, as a clash message names it.

    Returns:
        ``file:line`` of its function (a sandbox tool, a gated function, an HTTP mock's
        handler), ``http_mock METHOD URL`` for a mock without a handler, or
        ``MCP server 'NAME' (tool 'TOOL')``.
    """
    origin = _origin(spec)
    if isinstance(origin, tuple):
        return f"MCP server {origin[1]!r} (tool {origin[2]!r})"
    mock = getattr(origin, "__self__", None)  # an HTTP mock's bound _run
    handler = getattr(mock, "handler", None)
    if handler is not None:
        return where_defined(handler)
    if mock is not None:
        return f"http_mock {getattr(mock, 'method', '')} {getattr(mock, 'url', '')}"
    return where_defined(origin)


def check_tool_names(
    known: Mapping[str, ToolSpec | str], new: Mapping[str, ToolSpec | str]
) -> None:
    """Refuse a tool in ``new`` whose name ``known`` already gives another definition.

    Values are tool specs, or a ``file:line`` string where only the place is known (a
    name found by reading a file, a function about to be gated). One definition reached
    twice (the same function, the same MCP tool, the same place) is no clash.

    Raises:
        SandboxError: ``<source> and <source> both define tool 'NAME'`` (see the module
            docstring), with a hint naming how to rename each kind of tool.
    """
    for name, spec in new.items():
        first = known.get(name)
        if first is None:
            continue
        if isinstance(first, str) or isinstance(spec, str):
            if _source(first) == _source(spec):
                continue
        elif _origin(first) == _origin(spec):
            continue
        raise SandboxError(
            f"{_source(first)} and {_source(spec)} both define tool {name!r}", CLASH_HINT
        )


def _source(spec: ToolSpec | str) -> str:
    return spec if isinstance(spec, str) else tool_source(spec)
