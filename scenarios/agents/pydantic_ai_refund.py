"""A pydantic-ai agent whose tools are the retail sandbox's, via agentbox.adapters.

`pydantic_ai_tools(ctx)` gives `Tool`s that call `ctx.call_tool`. The `openai-chat:`
model's calls are answered by the run's model (scripted in scenarios/adapter-pydantic-ai.yaml).
"""

from __future__ import annotations

from pydantic_ai import Agent

from agentbox.adapters import pydantic_ai_tools


async def run(ctx) -> str:
    agent = Agent("openai-chat:gpt-4o-mini", instructions=ctx.system, tools=pydantic_ai_tools(ctx))
    result = await agent.run(ctx.input)
    return str(result.output)
