"""A python agent: plain code driving the sandbox through agentbox's AgentContext.

Everything it does (tool calls, the model call) is traced and policy-gated.
"""

from __future__ import annotations

import re

REFUND_LIMIT_USD = 200


def run(ctx):  # ctx: agentbox.agents.AgentContext
    for ticket_id in re.findall(r"tkt_\d+", ctx.input):
        ticket = ctx.call_tool("get_ticket", ticket_id=ticket_id)
        if not ticket.ok:
            continue
        order_id = ticket.value["order_id"]
        order = ctx.call_tool("get_order", order_id=order_id)
        if not order.ok or order.value["status"] not in ("delivered", "returned"):
            ctx.call_tool("add_ticket_note", ticket_id=ticket_id, text="Not refundable yet.")
            continue
        amount = order.value["total_usd"] - order.value.get("refunded_usd", 0)
        refund = ctx.call_tool(
            "create_refund",
            order_id=order_id,
            amount_usd=amount,
            idempotency_key="r-" + order_id.removeprefix("ord_"),
            reason=ticket.value["subject"],
        )
        note = f"Refund {refund.status}: ${amount:.2f}" + (
            "" if refund.ok else f" ({refund.content})"
        )
        ctx.call_tool("add_ticket_note", ticket_id=ticket_id, text=note)
    reply = ctx.complete(
        [{"role": "system", "content": ctx.system}, {"role": "user", "content": ctx.input}],
        tools=[],
    )
    return reply.text
