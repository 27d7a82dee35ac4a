"""The built-in tool-calling loop: ask the model, run its tool calls, repeat.

In a conversation (the scenario has a ``user:`` section) a reply without tool calls
yields the floor: the user's answer is appended and the loop goes on until the user has
nothing more to say. With an empty ``input`` the user opens the conversation.
"""

from __future__ import annotations

from agentbox.agents.context import AgentContext
from agentbox.errors import RunHalted


def run_llm_loop(ctx: AgentContext, max_turns: int | None) -> str | None:
    """Loop until the model answers without tool calls and no user answers; return its
    final text.

    Args:
        ctx: the run's context (its ``messages`` may already hold a resumed prefix).
        max_turns: most model turns in the run (``agent.max_steps``); None = no limit.

    Raises:
        RunHalted: ``max_turns`` reached, or raised by the context (budgets, holds, the
            user's ``max_turns``, a failing simulated user).
    """
    messages = ctx.messages
    conversation = ctx.in_conversation
    if conversation and messages and messages[-1]["role"] == "user" and not ctx.input:
        opening = ctx.next_user_message()  # the user opens the conversation
        if opening is None:
            return None
        messages[-1] = {"role": "user", "content": opening}
    while True:
        if max_turns is not None and ctx.model_calls >= max_turns:
            raise RunHalted("halted", f"agent.max_steps={max_turns} model turns reached")
        response = ctx.complete(messages)
        messages.append(response.message())
        if not response.tool_calls:
            answer = ctx.next_user_message(response.text or "") if conversation else None
            if answer is None:
                return response.text
            messages.append({"role": "user", "content": answer})
            continue
        for call in response.tool_calls:
            result = ctx.call_tool(call.name, call.arguments, call_id=call.id)
            messages.append(result.message)
