"""An OpenAI Agents SDK agent whose tools are the retail sandbox's, via agentbox.adapters.

Nothing here knows about HTTP mocks: `openai_agents_tools(ctx)` turns the run's sandbox
tools into `FunctionTool`s that call `ctx.call_tool`, so the policy (the yellow big-refund
rule), budgets and the mode apply to the model's own tool names. The SDK's model calls are
answered by the run's model (scripted in scenarios/adapter-agents-sdk.yaml).
"""

from __future__ import annotations

from agents import Agent, OpenAIChatCompletionsModel, Runner
from openai import AsyncOpenAI

from agentbox.adapters import openai_agents_tools


async def run(ctx) -> str:
    agent = Agent(
        name="support",
        instructions=ctx.system,
        # chat completions, set per agent (set_default_openai_api would change the process)
        model=OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=AsyncOpenAI()),
        tools=openai_agents_tools(ctx),
    )
    result = await Runner.run(agent, ctx.input)
    return str(result.final_output)
