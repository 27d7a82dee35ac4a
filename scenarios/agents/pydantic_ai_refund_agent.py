"""A refund agent written with pydantic-ai, on its default OpenAI model.

Nothing here knows about agentbox: a pydantic-ai ``Agent("openai:...")`` (an OpenAI
Responses API model, ``POST /v1/responses``) with two plain tools that call the shop's
REST API (``https://api.northwind.test``) with httpx. Run under agentbox
(``scenarios/stack-pydantic-ai.yaml``), its model calls are answered by the run's model and
its API calls by the retail sandbox's HTTP mocks through the policy gate. Outside agentbox
it would talk to OpenAI and the real API.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from pydantic_ai import Agent, AgentRunResultEvent

API = os.environ.get("NORTHWIND_API", "https://api.northwind.test")
MODEL = os.environ.get("REFUND_AGENT_MODEL", "gpt-4o-mini")
INSTRUCTIONS = (
    "You are a Northwind Outfitters support agent. Look an order up before refunding it. "
    "Refund only delivered or returned orders, never more than what is left to refund, and "
    "always pass the idempotency key r-<order number>."
)

support_agent = Agent(f"openai:{MODEL}", instructions=INSTRUCTIONS)


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text}
    return {"http_status": response.status_code, "result": body}


@support_agent.tool_plain
async def get_order(order_id: str) -> dict[str, Any]:
    """Look up an order: status, total, items and the amount already refunded.

    Args:
        order_id: The order id, e.g. ord_5120.
    """
    async with httpx.AsyncClient(base_url=API, timeout=10) as http:
        return _answer(await http.get(f"/orders/{order_id}"))


@support_agent.tool_plain
async def refund_order(
    order_id: str, amount_usd: float, idempotency_key: str, reason: str = ""
) -> dict[str, Any]:
    """Refund an order to its original payment method.

    Args:
        order_id: The order to refund.
        amount_usd: Amount in US dollars.
        idempotency_key: r-<order number>.
        reason: Short reason shown to the customer.
    """
    body = {"amount_usd": amount_usd, "idempotency_key": idempotency_key, "reason": reason}
    async with httpx.AsyncClient(base_url=API, timeout=10) as http:
        return _answer(await http.post(f"/orders/{order_id}/refunds", json=body))


async def solve(task: str) -> str:
    """The agent: pydantic-ai's own loop until the model answers without a tool call."""
    result = await support_agent.run(task)
    return result.output


async def solve_streaming(task: str) -> str:
    """The same run with ``run_stream_events`` (the model's answers streamed)."""
    output = ""
    async with support_agent.run_stream_events(task) as events:
        async for event in events:
            if isinstance(event, AgentRunResultEvent):
                output = event.result.output
    return output


async def run(ctx: Any) -> str:
    """agentbox entry (``agents/pydantic_ai_refund_agent.py:run``): solve the scenario's input."""
    return await solve(ctx.input)


async def run_stream(ctx: Any) -> str:
    """agentbox entry for the ``run_stream_events`` variant."""
    return await solve_streaming(ctx.input)


if __name__ == "__main__":  # outside agentbox: real OpenAI and the real API
    import sys

    print(support_agent.run_sync(" ".join(sys.argv[1:])).output)
