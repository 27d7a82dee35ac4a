"""A LangGraph agent whose tools are the retail sandbox's, via agentbox.adapters.

`langchain_tools(ctx)` gives `StructuredTool`s that call `ctx.call_tool`; the graph is the
usual model -> tools -> model loop. ChatOpenAI's calls are answered by the run's model
(scripted in scenarios/adapter-langgraph.yaml).
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from agentbox.adapters import langchain_tools


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def run(ctx) -> str:
    tools = langchain_tools(ctx)
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
    app = graph.compile()
    final = app.invoke(
        {"messages": [SystemMessage(ctx.system), HumanMessage(ctx.input)]},
        {"recursion_limit": 12},
    )
    return str(final["messages"][-1].content)
