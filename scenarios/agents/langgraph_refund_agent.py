"""A refund agent written with LangGraph's prebuilt ReAct agent and ``ChatOpenAI``.

Nothing here knows about agentbox: LangChain tools that call the shop's REST API
(``https://api.northwind.test``) with httpx, an agent graph around
``langchain_openai.ChatOpenAI`` (OpenAI Chat Completions), invoked with the user's
message. ``run`` builds the graph with ``langchain.agents.create_agent``, where LangGraph
1.x moved ``create_react_agent``; ``run_prebuilt`` uses the older
``langgraph.prebuilt.create_react_agent`` (deprecated, still shipped). Run under agentbox
(``scenarios/stack-langgraph.yaml``), the model calls are answered by the run's model and
the API calls by the retail sandbox's HTTP mocks through the policy gate. Outside agentbox
it would talk to OpenAI and the real API.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

API = os.environ.get("NORTHWIND_API", "https://api.northwind.test")
MODEL = os.environ.get("REFUND_AGENT_MODEL", "gpt-4o-mini")
SYSTEM = (
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


@tool
def get_order(order_id: str) -> dict[str, Any]:
    """Look up an order: status, total, items and the amount already refunded."""
    with httpx.Client(base_url=API, timeout=10) as http:
        return _answer(http.get(f"/orders/{order_id}"))


@tool
def refund_order(
    order_id: str, amount_usd: float, idempotency_key: str, reason: str = ""
) -> dict[str, Any]:
    """Refund an order to its original payment method (idempotency key r-<order number>)."""
    body = {"amount_usd": amount_usd, "idempotency_key": idempotency_key, "reason": reason}
    with httpx.Client(base_url=API, timeout=10) as http:
        return _answer(http.post(f"/orders/{order_id}/refunds", json=body))


TOOLS = [get_order, refund_order]


def _reply(state: dict[str, Any]) -> str:
    return str(state["messages"][-1].content)


def solve(task: str) -> str:
    """The agent: ``create_agent`` (LangGraph 1.x's ReAct agent) around ChatOpenAI."""
    graph = create_agent(ChatOpenAI(model=MODEL), tools=TOOLS, system_prompt=SYSTEM)
    return _reply(graph.invoke({"messages": [{"role": "user", "content": task}]}))


def solve_prebuilt(task: str) -> str:
    """The same agent with ``langgraph.prebuilt.create_react_agent``."""
    from langgraph.prebuilt import create_react_agent

    graph = create_react_agent(ChatOpenAI(model=MODEL), tools=TOOLS, prompt=SYSTEM)
    return _reply(graph.invoke({"messages": [{"role": "user", "content": task}]}))


def solve_streaming(task: str) -> str:
    """The ``create_agent`` graph streamed token by token (``stream_mode="messages"``)."""
    model = ChatOpenAI(model=MODEL, streaming=True)
    graph = create_agent(model, tools=TOOLS, system_prompt=SYSTEM)
    final: dict[str, Any] = {}
    for mode, chunk in graph.stream(
        {"messages": [{"role": "user", "content": task}]}, stream_mode=["messages", "values"]
    ):
        if mode == "values":
            final = chunk
    return _reply(final)


def run(ctx: Any) -> str:
    """agentbox entry (``agents/langgraph_refund_agent.py:run``): solve the scenario's input."""
    return solve(ctx.input)


def run_stream(ctx: Any) -> str:
    """agentbox entry for the streaming variant."""
    return solve_streaming(ctx.input)


def run_prebuilt(ctx: Any) -> str:
    """agentbox entry for the ``create_react_agent`` variant."""
    return solve_prebuilt(ctx.input)


if __name__ == "__main__":  # outside agentbox: real OpenAI and the real API
    import sys

    print(solve(" ".join(sys.argv[1:])))
