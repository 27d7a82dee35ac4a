"""Sandbox tools as native tools of agent frameworks, and the user's own tools gated.

For a python agent (``agent: {type: python, entry: ...}``) built on a framework:

    from agentbox.adapters import langchain_tools, openai_agents_tools, pydantic_ai_tools

    def run(ctx):
        tools = openai_agents_tools(ctx)   # agents.FunctionTool, one per sandbox tool
        tools = langchain_tools(ctx)       # langchain_core.tools.StructuredTool
        tools = pydantic_ai_tools(ctx)     # pydantic_ai.Tool

Each tool calls ``ctx.call_tool``: validation, allowlist, rules and tiers, budgets and the
mode apply, and each call is a ``tool`` step. The tool returns what the model should see:
the result, or the gate's message (blocked, denied, recorded in recommend mode). The
framework is imported only when its adapter is called; a missing one raises
:class:`AdapterError` naming the package to install.

The agent's *own* functions are gated with :func:`gated` (or ``ctx.gate(fn)``), see
:mod:`agentbox.adapters.gate`.
"""

from __future__ import annotations

from agentbox.adapters.gate import AdapterError, active_context, gated
from agentbox.adapters.native import langchain_tools, openai_agents_tools, pydantic_ai_tools

__all__ = [
    "AdapterError",
    "active_context",
    "gated",
    "langchain_tools",
    "openai_agents_tools",
    "pydantic_ai_tools",
]
