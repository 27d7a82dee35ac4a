"""A LangGraph agent with its *own* plain-Python tools, gated by agentbox.adapters.gated.

`refund_order` stands in for a function that calls your payments API. `@gated` makes each
call a tool step of the run: the yellow rule on refund_order holds it, recommend mode
records it without running it, and `agentbox replay` serves its recorded result. Outside
agentbox, `@gated` just calls the function.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from agentbox.adapters import gated

ORDERS = {"ord_5531": {"id": "ord_5531", "status": "delivered", "total_usd": 240.0}}


@tool
@gated(effect="read")
def lookup_order(order_id: str) -> dict:
    """Look up an order by id (e.g. ord_5531)."""
    return ORDERS.get(order_id) or {"error": f"order {order_id} not found"}


@tool
@gated(effect="write")
def refund_order(order_id: str, amount_usd: float, reason: str = "") -> dict:
    """Refund an order to the customer's card."""
    log = os.environ.get("REFUNDS_LOG")  # what really ran (the tests read it)
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"order_id": order_id, "amount_usd": amount_usd}) + "\n")
    return {"order_id": order_id, "refunded_usd": amount_usd, "status": "succeeded"}


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def run(ctx) -> str:
    tools = [lookup_order, refund_order]
    model = ChatOpenAI(model="gpt-4o-mini", max_retries=0).bind_tools(tools)

    def think(chat: Chat) -> Chat:
        return {"messages": [model.invoke(chat["messages"])]}

    def route(chat: Chat) -> str:
        return "tools" if chat["messages"][-1].tool_calls else END

    graph = StateGraph(Chat)
    graph.add_node("model", think)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_edge("tools", "model")
    final = graph.compile().invoke(
        {"messages": [SystemMessage(ctx.system), HumanMessage(ctx.input)]},
        {"recursion_limit": 12},
    )
    return str(final["messages"][-1].content)
