"""A refund agent written with the OpenAI Agents SDK (``openai-agents``), its defaults kept.

Nothing here knows about agentbox: an ``Agent`` with two ``@function_tool`` tools that call
the shop's REST API (``https://api.northwind.test``) with httpx, run by ``Runner.run``.
The SDK's defaults stay on: its model speaks the OpenAI Responses API
(``POST /v1/responses``) and its tracing exporter uploads to ``/v1/traces/ingest``. Run
under agentbox (``scenarios/stack-openai-agents.yaml``), the Responses calls are answered
by the run's model (``run_streamed``: as an event stream), the API calls by the retail sandbox's HTTP mocks through the policy
gate, and the trace uploads get a local no-op answer. Outside agentbox it would talk to
OpenAI and the real API.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from agents import Agent, Runner, function_tool

API = os.environ.get("NORTHWIND_API", "https://api.northwind.test")
MODEL = os.environ.get("REFUND_AGENT_MODEL", "gpt-4o-mini")
INSTRUCTIONS = (
    "You are a Northwind Outfitters support agent. Look an order up before refunding it. "
    "Refund only delivered or returned orders, never more than what is left to refund, and "
    "always pass the idempotency key r-<order number>."
)


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text}
    return {"http_status": response.status_code, "result": body}


@function_tool
async def get_order(order_id: str) -> dict[str, Any]:
    """Look up an order: status, total, items and the amount already refunded.

    Args:
        order_id: The order id, e.g. ord_5120.
    """
    async with httpx.AsyncClient(base_url=API, timeout=10) as http:
        return _answer(await http.get(f"/orders/{order_id}"))


@function_tool
async def refund_order(
    order_id: str, amount_usd: float, idempotency_key: str, reason: str
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


support_agent = Agent(
    name="Northwind support",
    instructions=INSTRUCTIONS,
    model=MODEL,
    tools=[get_order, refund_order],
)


async def solve(task: str) -> str:
    """The agent: the SDK's own loop until the model answers without a tool call."""
    result = await Runner.run(support_agent, task, max_turns=8)
    return str(result.final_output)


async def solve_streamed(task: str) -> str:
    """The same run with ``Runner.run_streamed`` (the Responses API's event stream)."""
    result = Runner.run_streamed(support_agent, task, max_turns=8)
    async for _event in result.stream_events():
        pass  # a UI would render these as they arrive
    return str(result.final_output)


async def run(ctx: Any) -> str:
    """agentbox entry (``agents/agents_sdk_refund_agent.py:run``): solve the scenario's input."""
    return await solve(ctx.input)


async def run_streamed(ctx: Any) -> str:
    """agentbox entry for the ``Runner.run_streamed`` variant."""
    return await solve_streamed(ctx.input)


if __name__ == "__main__":  # outside agentbox: real OpenAI and the real API
    import asyncio
    import sys

    print(asyncio.run(solve(" ".join(sys.argv[1:]))))
