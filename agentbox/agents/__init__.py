"""Agents: the context API, the built-in llm loop and the python-callable adapter."""

from agentbox.agents.context import AgentContext, ToolResult

__all__ = ["AgentContext", "ToolResult"]
