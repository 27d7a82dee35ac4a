"""Sandboxes: tools with JSON schemas, seed state, and copy-on-write run state."""

from agentbox.sandbox.loader import Sandbox, load_sandbox, load_state_source, state_hash
from agentbox.sandbox.state import State
from agentbox.sandbox.tools import ToolSpec, make_tool, tool

__all__ = [
    "Sandbox",
    "State",
    "ToolSpec",
    "load_sandbox",
    "load_state_source",
    "make_tool",
    "state_hash",
    "tool",
]
