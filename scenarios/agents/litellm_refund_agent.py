"""A refund agent that calls ``litellm.completion`` directly.

Nothing here knows about agentbox: a tool-calling loop over
``litellm.completion(model="openai/...")`` whose tools call the shop's REST API
(``https://api.northwind.test``) with httpx. Run under agentbox
(``scenarios/stack-litellm.yaml``), litellm's chat-completions requests are answered by
the run's model and the API calls by the retail sandbox's HTTP mocks through the policy
gate. Outside agentbox it would talk to OpenAI and the real API.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download
import litellm

API = os.environ.get("NORTHWIND_API", "https://api.northwind.test")
MODEL = os.environ.get("REFUND_AGENT_MODEL", "openai/gpt-4o-mini")
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


def _answer(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text}
    return json.dumps({"http_status": response.status_code, "result": body})


def call_tool(http: httpx.Client, name: str, args: dict[str, Any]) -> str:
    """Run one tool call against the shop's API; the text the model sees."""
    if name == "get_order":
        return _answer(http.get(f"/orders/{args['order_id']}"))
    order_id = args.pop("order_id")
    return _answer(http.post(f"/orders/{order_id}/refunds", json=args))


def solve(task: str, *, stream: bool = False) -> str:
    """The agent: litellm chat with tools until the model answers without calling one.

    With ``stream=True`` each answer arrives as chunks, joined by ``stream_chunk_builder``.
    """
    messages: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": task}]
    with httpx.Client(base_url=API, timeout=10) as http:
        for _ in range(MAX_TURNS):
            if stream:
                chunks = list(
                    litellm.completion(model=MODEL, messages=messages, tools=TOOLS, stream=True)
                )
                response = litellm.stream_chunk_builder(chunks, messages=messages)
            else:
                response = litellm.completion(model=MODEL, messages=messages, tools=TOOLS)
            message = response.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                return message.content or ""
            for call in message.tool_calls:
                args = json.loads(call.function.arguments or "{}")
                content = call_tool(http, call.function.name, args)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    return "I could not finish within the turn limit."


def run(ctx: Any) -> str:
    """agentbox entry (``agents/litellm_refund_agent.py:run``): solve the scenario's input."""
    return solve(ctx.input)


def run_stream(ctx: Any) -> str:
    """agentbox entry for the ``stream=True`` variant."""
    return solve(ctx.input, stream=True)


if __name__ == "__main__":  # outside agentbox: real OpenAI and the real API
    import sys

    print(solve(" ".join(sys.argv[1:])))
