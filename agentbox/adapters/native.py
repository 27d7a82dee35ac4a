"""The current run's tools as OpenAI Agents SDK, LangChain and pydantic-ai tool objects.

Every adapter offers the tools the agent may see (``ctx.tools``: the sandbox's tools the
policy lists, plus the run's MCP tools), with the same names, descriptions and JSON
schemas the built-in loop offers, and calls them through ``ctx.call_tool``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from agentbox.adapters.gate import AdapterError, require

if TYPE_CHECKING:
    from agentbox.agents.context import AgentContext


def _schemas(ctx: AgentContext, names: Iterable[str] | None) -> list[dict[str, Any]]:
    functions = [t["function"] for t in ctx.tools]
    if names is None:
        return functions
    wanted = list(names)
    known = {f["name"]: f for f in functions}
    missing = [n for n in wanted if n not in known]
    if missing:
        raise AdapterError(
            f"no tool {', '.join(map(repr, missing))} in this run; tools: {', '.join(known)}",
            "pick names from ctx.tools (tools the policy does not list are not offered)",
        )
    return [known[n] for n in wanted]


def _caller(ctx: AgentContext, name: str) -> Callable[[dict[str, Any]], str]:
    def call(args: dict[str, Any]) -> str:
        return ctx.call_tool(name, args).content

    return call


def openai_agents_tools(ctx: AgentContext, names: Iterable[str] | None = None) -> list[Any]:
    """``agents.FunctionTool`` objects for the run's tools (OpenAI Agents SDK).

    Args:
        ctx: the run's context (the python agent's argument).
        names: only these tools (default: every tool in ``ctx.tools``).

    Raises:
        AdapterError: ``openai-agents`` is not installed, or a name is unknown.
    """
    agents = require("agents", "openai-agents", "openai_agents_tools")
    out = []
    for fn in _schemas(ctx, names):
        out.append(
            agents.FunctionTool(
                name=fn["name"],
                description=fn.get("description") or "",
                params_json_schema=fn["parameters"],
                on_invoke_tool=_json_invoker(_caller(ctx, fn["name"])),
                strict_json_schema=False,  # agentbox validates against the tool's own schema
            )
        )
    return out


def _json_invoker(call: Callable[[dict[str, Any]], str]) -> Callable[..., Any]:
    """``on_invoke_tool(tool_context, json_args)`` of a FunctionTool."""
    run = _akwargs(call)

    async def invoke(_tool_ctx: Any, raw: str) -> str:
        return await run(**(json.loads(raw) if raw else {}))  # type: ignore[no-any-return]

    return invoke


def langchain_tools(ctx: AgentContext, names: Iterable[str] | None = None) -> list[Any]:
    """``langchain_core.tools.StructuredTool`` objects (LangChain, LangGraph).

    Raises:
        AdapterError: ``langchain-core`` is not installed, or a name is unknown.
    """
    tools = require("langchain_core.tools", "langchain-core", "langchain_tools")
    out = []
    for fn in _schemas(ctx, names):
        call = _caller(ctx, fn["name"])
        out.append(
            tools.StructuredTool(
                name=fn["name"],
                description=fn.get("description") or fn["name"],
                args_schema=fn["parameters"],
                func=_kwargs(call),
                coroutine=_akwargs(call),
            )
        )
    return out


def pydantic_ai_tools(ctx: AgentContext, names: Iterable[str] | None = None) -> list[Any]:
    """``pydantic_ai.Tool`` objects (pydantic-ai).

    Raises:
        AdapterError: ``pydantic-ai-slim`` is not installed, or a name is unknown.
    """
    pydantic_ai = require("pydantic_ai", "pydantic-ai-slim", "pydantic_ai_tools")
    out = []
    for fn in _schemas(ctx, names):
        out.append(
            pydantic_ai.Tool.from_schema(
                _akwargs(_caller(ctx, fn["name"])),
                name=fn["name"],
                description=fn.get("description") or "",
                json_schema=fn["parameters"],
            )
        )
    return out


def _kwargs(call: Callable[[dict[str, Any]], str]) -> Callable[..., str]:
    def run(**args: Any) -> str:
        return call(args)

    return run


def _akwargs(call: Callable[[dict[str, Any]], str]) -> Callable[..., Any]:
    async def run(**args: Any) -> str:
        # a held call waits for a decision: keep the event loop free meanwhile
        return await asyncio.to_thread(call, args)

    return run
