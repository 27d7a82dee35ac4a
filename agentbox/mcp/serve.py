"""``agentbox mcp serve``: a scenario's sandbox tools as an MCP server, one run per session.

Any MCP client (Claude Code, Cursor, the Agents SDK, pydantic-ai, LangChain's MCP
adapters, the ``mcp`` SDK) lists the tools the scenario's policy lists -- names,
descriptions and JSON schemas from ``@tool`` -- and calls them. Each ``tools/call`` is a
``tool`` step of the session's run, decided by the same gate as every agent's calls:

- ``ok`` and ``recommended`` (recommend mode: recorded, not executed) answer normally;
- a yellow (held) call blocks until it is decided -- by ``agentbox approve``/``deny`` from
  another process or the TUI (``approvals: prompt`` or ``wait``), or the scenario's handler
  (``approve``/``deny``) -- and then answers;
- blocked, denied, invalid and failed calls answer with ``isError`` and the reason (the
  rule's name for a red call); a budget halt ends the run and every later call errors.

Over stdio the run ends when the client closes the connection. Over streamable HTTP (on
127.0.0.1) one run is open at a time, shared by the clients: it opens at the first call
and ends when a handshake-era client ends its session (``DELETE``) or the server stops
(the 2026-07-28 protocol has no session to close); the next call opens a new run.

The low-level ``mcp.server.lowlevel.Server`` is used rather than ``MCPServer``: the tools
are not Python functions of this process but schemas served as they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mcp_types import CallToolResult

    from agentbox.agents.context import AgentContext, ToolResult


class RunEnded(Exception):
    """The run behind a session has ended (budget halt, a tool ending the run, closed)."""


class ToolSource(Protocol):
    """What an MCP server built by :func:`build_server` answers from."""

    def tools(self) -> list[dict[str, Any]]:
        """OpenAI-format schemas of the tools to list."""
        ...

    def effect(self, name: str) -> str | None:
        """``read``/``write`` of a tool (for the MCP read-only hint)."""
        ...

    def call(self, name: str, arguments: dict[str, Any] | None) -> ToolResult:
        """Call through the gate (blocking). Raises RunEnded when the run is over."""
        ...


class ServedSource(ToolSource, Protocol):
    """A :class:`ToolSource` whose current run can be ended (``agentbox mcp serve``)."""

    def end(self) -> Any:
        """End the open run (if any)."""
        ...


def build_server(source: ToolSource, *, on_close: Callable[[], Any] | None = None) -> Any:
    """An MCP server (``mcp.server.lowlevel.Server``) answering from ``source``.

    ``on_close`` is called (on a worker thread) when a connection's lifespan ends (stdio:
    the client disconnected).
    """
    import anyio  # start-up cost: the mcp SDK only when serving
    import mcp_types as types
    from mcp.server.lowlevel import Server

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        tools = []
        for schema in source.tools():
            fn = schema["function"]
            read = source.effect(fn["name"]) == "read"
            tools.append(
                types.Tool(
                    name=fn["name"],
                    description=fn.get("description") or None,
                    input_schema=fn["parameters"],
                    annotations=types.ToolAnnotations(
                        read_only_hint=read, destructive_hint=None if read else True
                    ),
                )
            )
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> CallToolResult:
        try:
            result = await anyio.to_thread.run_sync(
                source.call, params.name, params.arguments, abandon_on_cancel=True
            )
        except RunEnded as ended:
            return _text_result(f"Error: {ended}", error=True)
        return _text_result(result.content, error=result.status not in ("ok", "recommended"))

    @contextlib.asynccontextmanager
    async def lifespan(_server: Any) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {}
        finally:
            if on_close is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(on_close)

    return Server(
        "agentbox",
        version=_version(),
        instructions="Sandbox tools of an agentbox run: every call is gated by the "
        "scenario's policy and recorded as a step.",
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


class ContextSource:
    """The tools of a running agent's context (``ctx.mcp_server()``)."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx

    def tools(self) -> list[dict[str, Any]]:
        """The tools the agent may see (``ctx.tools``)."""
        return self.ctx.tools

    def effect(self, name: str) -> str | None:
        """The tool's effect, or None when unknown."""
        spec = self.ctx.plan.tool(name)
        return spec.effect if spec is not None else None

    def call(self, name: str, arguments: dict[str, Any] | None) -> ToolResult:
        """``ctx.call_tool``; a halt is kept by the context and ends the agent's run."""
        try:
            return self.ctx.call_tool(name, arguments or {})
        except BaseException as signal:  # RunHalted/EndRun: re-raised when the agent returns
            reason = getattr(signal, "reason", None) or type(signal).__name__
            raise RunEnded(f"the run has ended: {reason}") from None


def _text_result(text: str, *, error: bool) -> CallToolResult:
    import mcp_types as types  # start-up cost: the mcp SDK

    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error)


def _version() -> str:
    from importlib.metadata import version  # start-up cost

    return version("agentbox")


def serve_stdio(hub: ServedSource) -> None:
    """Serve MCP over this process's stdin/stdout until the client disconnects."""
    import anyio  # start-up cost: the mcp SDK
    from mcp.server.stdio import stdio_server

    server = build_server(hub, on_close=hub.end)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
    hub.end()


def serve_http(
    hub: ServedSource, port: int, *, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve MCP over streamable HTTP on ``http://127.0.0.1:PORT/mcp`` until interrupted.

    A session's ``DELETE`` (the client closing) ends its run; stopping the server (Ctrl-C,
    SIGTERM) ends the open one.
    """
    import anyio  # start-up cost: the mcp SDK, uvicorn
    import uvicorn

    server = build_server(hub)
    app = server.streamable_http_app(host="127.0.0.1")

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)
        if scope["type"] == "http" and scope["method"] == "DELETE":  # the session ended
            await anyio.to_thread.run_sync(hub.end)

    config = uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning")
    userver = uvicorn.Server(config)
    if on_ready is not None:
        url = f"http://127.0.0.1:{port}/mcp"
        original = userver.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets=sockets)
            on_ready(url)

        userver.startup = startup  # type: ignore[method-assign]
    try:
        userver.run()
    finally:
        hub.end()
