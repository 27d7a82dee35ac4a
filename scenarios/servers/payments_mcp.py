"""A tiny MCP server (stdio) for scenarios/mcp-proxy.yaml: a payments API with charges.

Run it alone with `python scenarios/servers/payments_mcp.py`; agentbox starts it for the
scenario and sits between the agent and it. Every refund it really makes is appended to
the file named by $PAYMENTS_LOG (if set), so tests can see what was forwarded.
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("payments")

CHARGES = {
    "ch_5531": {"id": "ch_5531", "order_id": "ord_5531", "amount_usd": 240.0, "refunded_usd": 0.0},
    "ch_5600": {"id": "ch_5600", "order_id": "ord_5600", "amount_usd": 35.0, "refunded_usd": 0.0},
}


@server.tool()
def get_charge(charge_id: str) -> dict:
    """Look up a card charge by id (e.g. ch_5531)."""
    charge = CHARGES.get(charge_id)
    if charge is None:
        raise ValueError(f"charge {charge_id} not found")
    return charge


@server.tool()
def refund_charge(charge_id: str, amount_usd: float, reason: str = "") -> dict:
    """Refund part or all of a charge to the customer's card."""
    charge = get_charge(charge_id)
    if amount_usd <= 0 or charge["refunded_usd"] + amount_usd > charge["amount_usd"]:
        raise ValueError(f"cannot refund ${amount_usd:g} of charge {charge_id}")
    charge["refunded_usd"] += amount_usd
    log = os.environ.get("PAYMENTS_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{charge_id} {amount_usd:g}\n")
    return {"charge_id": charge_id, "refunded_usd": amount_usd, "status": "succeeded"}


if __name__ == "__main__":
    server.run()
