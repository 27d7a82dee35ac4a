"""A refund agent written against the openai SDK's Responses API (``client.responses``).

Nothing here knows about agentbox: a tool-calling loop over ``responses.create`` whose
tools call the shop's REST API (``https://api.northwind.test``) with httpx. Run under
agentbox (``scenarios/openai-responses-agent.yaml``), its ``POST /v1/responses`` calls are
answered by the run's model and its API calls by the retail sandbox's HTTP mocks, all
traced and gated. Outside agentbox it would talk to OpenAI and the real API.

Four variants of the same loop, one per way people call the API:

- ``run``: the caller keeps the conversation (``input`` grows with each response's
  ``output`` items and the ``function_call_output`` items);
- ``run_chained``: the server keeps it (``previous_response_id``);
- ``run_stream``: ``client.responses.stream(...)`` and its final response;
- ``run_async``: ``AsyncOpenAI`` with ``stream=True``, reading the raw events.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
from openai import AsyncOpenAI, OpenAI

API = os.environ.get("NORTHWIND_API", "https://api.northwind.test")
MODEL = os.environ.get("REFUND_AGENT_MODEL", "gpt-5-mini")
MAX_TURNS = 8
INSTRUCTIONS = (
    "You are a Northwind Outfitters support agent. Look an order up before refunding it. "
    "Refund only delivered or returned orders, never more than what is left to refund, and "
    "always pass the idempotency key r-<order number>."
)

TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_order",
        "description": "Look up an order: status, total, items and the amount already refunded.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
    {
        "type": "function",
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
]


def _answer(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text}
    return json.dumps({"http_status": response.status_code, "result": body})


def call_tool(http: httpx.Client, name: str, arguments: str) -> str:
    """Run one function call against the shop's API; the JSON text the model sees."""
    args = json.loads(arguments or "{}")
    if name == "get_order":
        return _answer(http.get(f"/orders/{args['order_id']}"))
    if name == "refund_order":
        order_id = args.pop("order_id")
        return _answer(http.post(f"/orders/{order_id}/refunds", json=args))
    return json.dumps({"error": f"unknown tool {name}"})


def _outputs(http: httpx.Client, output: list[Any]) -> list[Any]:
    return [
        {
            "type": "function_call_output",
            "call_id": item.call_id,
            "output": call_tool(http, item.name, item.arguments),
        }
        for item in output
        if item.type == "function_call"
    ]


def solve(task: str) -> str:
    """The agent: the conversation is kept here and sent whole each turn."""
    conversation: list[Any] = [{"role": "user", "content": task}]
    with OpenAI() as client, httpx.Client(base_url=API, timeout=10) as http:
        for _ in range(MAX_TURNS):
            response = client.responses.create(
                model=MODEL, instructions=INSTRUCTIONS, input=conversation, tools=TOOLS
            )
            conversation += response.output
            results = _outputs(http, response.output)
            if not results:
                return response.output_text
            conversation += results
    return "I could not finish within the turn limit."


def solve_chained(task: str) -> str:
    """The same agent, continuing each response with ``previous_response_id``."""
    with OpenAI() as client, httpx.Client(base_url=API, timeout=10) as http:
        response = client.responses.create(
            model=MODEL, instructions=INSTRUCTIONS, input=task, tools=TOOLS
        )
        for _ in range(MAX_TURNS):
            results = _outputs(http, response.output)
            if not results:
                return response.output_text
            response = client.responses.create(
                model=MODEL,
                instructions=INSTRUCTIONS,
                previous_response_id=response.id,
                input=results,
                tools=TOOLS,
            )
    return "I could not finish within the turn limit."


def solve_streaming(task: str) -> str:
    """The same agent reading each turn through ``client.responses.stream``."""
    conversation: list[Any] = [{"role": "user", "content": task}]
    with OpenAI() as client, httpx.Client(base_url=API, timeout=10) as http:
        for _ in range(MAX_TURNS):
            with client.responses.stream(
                model=MODEL, instructions=INSTRUCTIONS, input=conversation, tools=TOOLS
            ) as stream:
                for _event in stream:
                    pass  # a UI would show text deltas here
                response = stream.get_final_response()
            conversation += response.output
            results = _outputs(http, response.output)
            if not results:
                return response.output_text
            conversation += results
    return "I could not finish within the turn limit."


async def acall_tool(http: httpx.AsyncClient, name: str, arguments: str) -> str:
    """``call_tool`` with an async client."""
    args = json.loads(arguments or "{}")
    if name == "get_order":
        return _answer(await http.get(f"/orders/{args['order_id']}"))
    if name == "refund_order":
        order_id = args.pop("order_id")
        return _answer(await http.post(f"/orders/{order_id}/refunds", json=args))
    return json.dumps({"error": f"unknown tool {name}"})


async def asolve(task: str) -> str:
    """The same agent with ``AsyncOpenAI`` and ``stream=True``, from the raw events."""
    conversation: list[Any] = [{"role": "user", "content": task}]
    async with AsyncOpenAI() as client, httpx.AsyncClient(base_url=API, timeout=10) as http:
        for _ in range(MAX_TURNS):
            stream = await client.responses.create(
                model=MODEL, instructions=INSTRUCTIONS, input=conversation, tools=TOOLS, stream=True
            )
            text, calls = "", []
            async for event in stream:
                if event.type == "response.output_text.delta":
                    text += event.delta
                elif (
                    event.type == "response.output_item.done" and event.item.type == "function_call"
                ):
                    calls.append(event.item)
            if not calls:
                return text
            conversation += calls
            for call in calls:
                output = await acall_tool(http, call.name, call.arguments)
                conversation.append(
                    {"type": "function_call_output", "call_id": call.call_id, "output": output}
                )
    return "I could not finish within the turn limit."


# ---- entry points -------------------------------------------------------------------------
def run(ctx: Any) -> str:
    """agentbox entry (``agents/openai_responses_agent.py:run``): solve the scenario's input."""
    return solve(ctx.input)


def run_chained(ctx: Any) -> str:
    """agentbox entry for the ``previous_response_id`` variant."""
    return solve_chained(ctx.input)


def run_stream(ctx: Any) -> str:
    """agentbox entry for the ``responses.stream`` variant."""
    return solve_streaming(ctx.input)


async def run_async(ctx: Any) -> str:
    """agentbox entry for the async streaming variant."""
    return await asolve(ctx.input)


if __name__ == "__main__":  # outside agentbox: real OpenAI and the real API
    import sys

    print(
        asyncio.run(asolve(" ".join(sys.argv[1:])))
        if os.environ.get("ASYNC")
        else solve(" ".join(sys.argv[1:]))
    )
