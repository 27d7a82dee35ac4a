"""The walkthrough's agent (README, "Debug a failing run"): plain Python over AgentContext.

It looks the order up and writes a ticket note only when the order is delivered, then
asks the model for the reply.
"""


def run(ctx):  # ctx: agentbox.agents.AgentContext
    order = ctx.call_tool("get_order", order_id="ord_5771")
    if order.ok and order.value.get("status") == "delivered":
        ctx.call_tool("add_ticket_note", ticket_id="tkt_9024", text="Delivered: refund approved.")
    reply = ctx.complete(
        [{"role": "system", "content": ctx.system}, {"role": "user", "content": ctx.input}],
        tools=[],
    )
    return reply.text
