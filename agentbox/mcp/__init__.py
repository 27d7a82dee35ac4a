"""Sandbox tools over MCP: ``agentbox mcp serve`` (:mod:`agentbox.mcp.serve`), and the
agent's own MCP servers gated and recorded inside a run (:mod:`agentbox.mcp.proxy`).

The ``mcp`` SDK (2.x) is imported only by these modules, only when they are used.
"""
