"""The built-in tool-calling loop: ask the model, run its tool calls, repeat."""

from __future__ import annotations

from agentbox.agents.context import AgentContext
from agentbox.errors import RunHalted


def run_llm_loop(ctx: AgentContext, max_turns: int | None) -> str | None:
    """Loop until the model answers without tool calls; return its final text.

    Args:
        ctx: the run's context (its ``messages`` may already hold a resumed prefix).
        max_turns: most model turns in the run (``agent.max_steps``); None = no limit.

    Raises:
        RunHalted: ``max_turns`` reached, or raised by the context (budgets, holds).
    """
    messages = ctx.messages
    while True:
        if max_turns is not None and ctx.model_calls >= max_turns:
            raise RunHalted("halted", f"agent.max_steps={max_turns} model turns reached")
        response = ctx.complete(messages)
        messages.append(response.message())
        if not response.tool_calls:
            return response.text
        for call in response.tool_calls:
            result = ctx.call_tool(call.name, call.arguments, call_id=call.id)
            messages.append(result.message)
