"""A refund agent written only against the official ``openai`` SDK (3.x) and httpx.

Nothing here knows about agentbox: it is an ordinary chat-completions tool-calling loop
(openai 3.x sends through ``httpx2``) whose tools call the shop's REST API
(``https://api.northwind.test``) with ``httpx``. Run under agentbox
(``scenarios/openai-sdk-agent.yaml``), its chat-completions calls are answered by the
run's model and its API calls by the retail sandbox's HTTP mocks, all traced and gated.
Outside agentbox it would talk to OpenAI and the real API.

``run`` / ``run_async`` are the entry points agentbox calls (with its context, of which
only the task text is used); ``solve`` / ``asolve`` are the agent proper.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
from openai import AsyncOpenAI, OpenAI

API = os.environ.get("NORTHWIND_API", "https://api.northwind.test")
MODEL = os.environ.get("REFUND_AGENT_MODEL", "gpt-4o-mini")
MAX_TURNS = 8
SYSTEM = (
    "You are a Northwind Outfitters support agent. Look an order up before refunding it. "
    "Refund only delivered or returned orders, never more than what is left to refund, and "
    "always pass the idempotency key r-<order number>."
)

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look up an order: status, total, items and the amount already refunded.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "refund_order",
            "description": "Refund an order to its original payment method.",
            "parameters": {
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
    },
]


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text}
    return {"http_status": response.status_code, "result": body}


# ---- tools (sync) -----------------------------------------------------------------------
def get_order(http: httpx.Client, order_id: str) -> dict[str, Any]:
    return _answer(http.get(f"/orders/{order_id}"))


def refund_order(
    http: httpx.Client, order_id: str, amount_usd: float, idempotency_key: str, reason: str = ""
) -> dict[str, Any]:
    body = {"amount_usd": amount_usd, "idempotency_key": idempotency_key, "reason": reason}
    return _answer(http.post(f"/orders/{order_id}/refunds", json=body))


FUNCTIONS = {"get_order": get_order, "refund_order": refund_order}


def _tool_message(call: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}


def solve(task: str) -> str:
    """The agent: chat with tools until the model answers without calling one."""
    messages: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": task}]
    with OpenAI() as client, httpx.Client(base_url=API, timeout=10) as http:
        for _ in range(MAX_TURNS):
            completion = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
            message = completion.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                return message.content or ""
            for call in message.tool_calls:
                args = json.loads(call.function.arguments or "{}")
                result = FUNCTIONS[call.function.name](http, **args)
                messages.append(_tool_message(call, result))
    return "I could not finish within the turn limit."


# ---- the same agent, async ----------------------------------------------------------------
async def aget_order(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    return _answer(await http.get(f"/orders/{order_id}"))


async def arefund_order(
    http: httpx.AsyncClient,
    order_id: str,
    amount_usd: float,
    idempotency_key: str,
    reason: str = "",
) -> dict[str, Any]:
    body = {"amount_usd": amount_usd, "idempotency_key": idempotency_key, "reason": reason}
    return _answer(await http.post(f"/orders/{order_id}/refunds", json=body))


AFUNCTIONS = {"get_order": aget_order, "refund_order": arefund_order}


async def asolve(task: str) -> str:
    """The agent with ``AsyncOpenAI`` and ``httpx.AsyncClient``."""
    messages: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": task}]
    async with AsyncOpenAI() as client, httpx.AsyncClient(base_url=API, timeout=10) as http:
        for _ in range(MAX_TURNS):
            completion = await client.chat.completions.create(
                model=MODEL, messages=messages, tools=TOOLS
            )
            message = completion.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                return message.content or ""
            for call in message.tool_calls:
                args = json.loads(call.function.arguments or "{}")
                result = await AFUNCTIONS[call.function.name](http, **args)
                messages.append(_tool_message(call, result))
    return "I could not finish within the turn limit."


# ---- entry points -------------------------------------------------------------------------
def run(ctx: Any) -> str:
    """agentbox entry (``agents/openai_refund_agent.py:run``): solve the scenario's input."""
    return solve(ctx.input)


async def run_async(ctx: Any) -> str:
    """agentbox entry for the async variant (``agents/openai_refund_agent.py:run_async``)."""
    return await asolve(ctx.input)


if __name__ == "__main__":  # outside agentbox: real OpenAI and the real API
    import sys

    print(
        asyncio.run(asolve(" ".join(sys.argv[1:])))
        if os.environ.get("ASYNC")
        else solve(" ".join(sys.argv[1:]))
    )
