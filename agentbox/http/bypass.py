"""Agentbox's own HTTP traffic: a python agent's interception lets it through.

A context flag rather than a host list: the same host (a model API) can be the agent's
traffic (intercepted, recorded) and agentbox's own (the model backend, a passthrough
read, an MCP server's connection) in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["bypassed", "mark_own_traffic", "own_traffic"]

_BYPASS: ContextVar[bool] = ContextVar("agentbox_http_bypass", default=False)


def bypassed() -> bool:
    """Whether the current context's HTTP is agentbox's own (not intercepted)."""
    return _BYPASS.get()


@contextmanager
def own_traffic() -> Iterator[None]:
    """HTTP sent inside the block is agentbox's own."""
    token = _BYPASS.set(True)
    try:
        yield
    finally:
        _BYPASS.reset(token)


def mark_own_traffic() -> None:
    """From now on this context's HTTP is agentbox's own (a worker thread or task of
    agentbox's, e.g. the MCP proxy's event loop)."""
    _BYPASS.set(True)
