"""agentbox: a local-first developer sandbox for AI agents.

The public API for sandbox authors and python agents::

    from agentbox import tool, State, ToolError, AgentContext
"""

from agentbox.errors import AgentboxError, EndRun, ToolError
from agentbox.sandbox.state import State
from agentbox.sandbox.tools import tool

__version__ = "0.1.0"

__all__ = ["AgentboxError", "EndRun", "State", "ToolError", "__version__", "tool"]
