"""A refund agent written against the official ``anthropic`` SDK (Messages API, tool use).

Nothing here knows about agentbox: a tool-use loop over ``client.messages`` whose tools
call the shop's REST API (``https://api.northwind.test``) with httpx. Run under agentbox
(``scenarios/anthropic-agent.yaml``), its ``POST /v1/messages`` calls are answered by the
run's model (the model's reasoning arrives as ``thinking`` blocks) and its API calls by the
retail sandbox's HTTP mocks, all traced and gated. Outside agentbox it would talk to
Anthropic and the real API.

``run`` uses ``messages.create``; ``run_stream`` reads each turn through
``messages.stream``; ``run_async`` uses ``AsyncAnthropic``.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import anthropic
import httpx

API = os.environ.get("NORTHWIND_API", "https://api.northwind.test")
MODEL = os.environ.get("REFUND_AGENT_MODEL", "claude-sonnet-5-5")
MAX_TURNS = 8
SYSTEM = (
    "You are a Northwind Outfitters support agent. Look an order up before refunding it. "
    "Refund only delivered or returned orders, never more than what is left to refund, and "
    "always pass the idempotency key r-<order number>."
)

TOOLS: list[Any] = [
    {
        "name": "get_order",
        "description": "Look up an order: status, total, items and the amount already refunded.",
        "input_schema": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
    {
        "name": "refund_order",
        "description": "Refund an order to its original payment method.",
        "input_schema": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "amount_usd": {"type": "number"},
                "idempotency_key": {"type": "string"},
                "reason": {"type": "string"},
            },
            "required": ["order_id", "amount_usd", "idempotency_key"],
        },
    },
]


def _result(block: Any, response: httpx.Response) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": block.id,
        "content": json.dumps({"http_status": response.status_code, "result": response.json()}),
        "is_error": response.is_error,
    }


def use_tool(http: httpx.Client, block: Any) -> dict[str, Any]:
    """Run one ``tool_use`` block against the shop's API; its ``tool_result`` block."""
    args = dict(block.input)
    if block.name == "get_order":
        return _result(block, http.get(f"/orders/{args['order_id']}"))
    order_id = args.pop("order_id")
    return _result(block, http.post(f"/orders/{order_id}/refunds", json=args))


def _text(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def solve(task: str, *, stream: bool = False) -> str:
    """The agent: call tools until the model ends its turn."""
    messages: list[Any] = [{"role": "user", "content": task}]
    with anthropic.Anthropic() as client, httpx.Client(base_url=API, timeout=10) as http:
        for _ in range(MAX_TURNS):
            request = {"model": MODEL, "max_tokens": 2048, "system": SYSTEM, "tools": TOOLS}
            if stream:
                with client.messages.stream(messages=messages, **request) as events:
                    message = events.get_final_message()
            else:
                message = client.messages.create(messages=messages, **request)
            messages.append({"role": "assistant", "content": message.content})
            if message.stop_reason != "tool_use":
                return _text(message)
            results = [use_tool(http, b) for b in message.content if b.type == "tool_use"]
            messages.append({"role": "user", "content": results})
    return "I could not finish within the turn limit."


async def asolve(task: str) -> str:
    """The same agent with ``AsyncAnthropic`` and ``httpx.AsyncClient``."""
    messages: list[Any] = [{"role": "user", "content": task}]
    async with (
        anthropic.AsyncAnthropic() as client,
        httpx.AsyncClient(base_url=API, timeout=10) as http,
    ):
        for _ in range(MAX_TURNS):
            message = await client.messages.create(
                model=MODEL, max_tokens=2048, system=SYSTEM, tools=TOOLS, messages=messages
            )
            messages.append({"role": "assistant", "content": message.content})
            if message.stop_reason != "tool_use":
                return _text(message)
            results = []
            for block in message.content:
                if block.type == "tool_use":
                    args = dict(block.input)
                    if block.name == "get_order":
                        answer = await http.get(f"/orders/{args['order_id']}")
                    else:
                        order_id = args.pop("order_id")
                        answer = await http.post(f"/orders/{order_id}/refunds", json=args)
                    results.append(_result(block, answer))
            messages.append({"role": "user", "content": results})
    return "I could not finish within the turn limit."


# ---- entry points -------------------------------------------------------------------------
def run(ctx: Any) -> str:
    """agentbox entry (``agents/anthropic_refund_agent.py:run``): solve the scenario's input."""
    return solve(ctx.input)


def run_stream(ctx: Any) -> str:
    """agentbox entry for the ``messages.stream`` variant."""
    return solve(ctx.input, stream=True)


async def run_async(ctx: Any) -> str:
    """agentbox entry for the async variant."""
    return await asolve(ctx.input)


if __name__ == "__main__":  # outside agentbox: real Anthropic and the real API
    import sys

    task = " ".join(sys.argv[1:])
    print(asyncio.run(asolve(task)) if os.environ.get("ASYNC") else solve(task))
