"""The Northwind Outfitters REST API (``https://api.northwind.test``), mocked over the state.

Python agents that call this API with httpx (directly or through an SDK) get answers from
the run's state; each request is a gated ``tool`` step named ``http METHOD
api.northwind.test/<path template>``. The handlers reuse the logic of ``tools.py``, so the
HTTP API and the function tools can never disagree.

    GET  /health                              canned {"ok": true}
    GET  /customers/{customer_id}             customer profile
    GET  /customers/{customer_id}/orders      order summaries (?status=delivered)
    GET  /orders/{order_id}                   one order (with refunded_usd)
    GET  /orders/{order_id}/refunds           refunds of an order
    POST /orders/{order_id}/refunds           create a refund (write)  -> 201
    POST /orders/{order_id}/cancel            cancel an order (write)
    GET  /tickets/{ticket_id}                 one support ticket
    POST /tickets/{ticket_id}/notes           add a ticket note (write) -> 201

Errors are JSON ``{"error": "..."}``: 404 for unknown ids, 422 for refused operations.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx

from agentbox import State, ToolError
from agentbox.http import http_mock, sandbox_tools

API = "https://api.northwind.test"
tools = sandbox_tools(__file__)


def _call(tool: str, state: State, status: int = 200, **args: Any) -> tuple[int, Any]:
    """Run a sandbox tool; its ToolError becomes a 404 (unknown id) or a 422 (refused)."""
    try:
        return status, tools[tool].fn(state, **args)
    except ToolError as exc:
        message = str(exc)
        return (404 if message.endswith("not found") else 422), {"error": message}


health = http_mock("GET", f"{API}/health", json={"ok": True, "service": "northwind-api"})


@http_mock("GET", f"{API}/customers/{{customer_id}}")
def get_customer(state: State, request: httpx.Request, customer_id: str) -> tuple[int, Any]:
    """Look up one customer profile."""
    return _call("lookup_customer", state, customer_id=customer_id)


@http_mock("GET", f"{API}/customers/{{customer_id}}/orders")
def list_customer_orders(
    state: State, request: httpx.Request, customer_id: str, status: str | None = None
) -> tuple[int, Any]:
    """List a customer's orders (optionally only those with ``status``)."""
    return _call("list_orders", state, customer_id=customer_id, status=status)


@http_mock("GET", f"{API}/orders/{{order_id}}")
def get_order(state: State, request: httpx.Request, order_id: str) -> tuple[int, Any]:
    """Look up one order, with the amount already refunded (``refunded_usd``)."""
    return _call("get_order", state, order_id=order_id)


@http_mock("GET", f"{API}/orders/{{order_id}}/refunds")
def list_refunds(state: State, request: httpx.Request, order_id: str) -> tuple[int, Any]:
    """List the refunds of an order."""
    return _call("list_refunds", state, order_id=order_id)


@http_mock("POST", f"{API}/orders/{{order_id}}/refunds", effect="write")
def create_refund(
    state: State,
    request: httpx.Request,
    order_id: str,
    amount_usd: float,
    idempotency_key: str,
    reason: str = "",
) -> tuple[int, Any]:
    """Refund a delivered or returned order to its original payment method.

    Args:
        order_id: The order to refund.
        amount_usd: Amount in US dollars.
        idempotency_key: ``r-<order number>``; reuse it when retrying.
        reason: Short reason shown to the customer.
    """
    return _call(
        "create_refund",
        state,
        201,
        order_id=order_id,
        amount_usd=amount_usd,
        idempotency_key=idempotency_key,
        reason=reason,
    )


@http_mock("POST", f"{API}/orders/{{order_id}}/cancel", effect="write")
def cancel_order(
    state: State, request: httpx.Request, order_id: str, reason: str
) -> tuple[int, Any]:
    """Cancel an order that has not shipped yet."""
    return _call("cancel_order", state, order_id=order_id, reason=reason)


@http_mock("GET", f"{API}/tickets/{{ticket_id}}")
def get_ticket(state: State, request: httpx.Request, ticket_id: str) -> tuple[int, Any]:
    """Look up one support ticket with its notes."""
    return _call("get_ticket", state, ticket_id=ticket_id)


@http_mock("POST", f"{API}/tickets/{{ticket_id}}/notes", effect="write")
def add_ticket_note(
    state: State,
    request: httpx.Request,
    ticket_id: str,
    text: str,
    author: Literal["agent", "system"] = "agent",
) -> tuple[int, Any]:
    """Add a note to a support ticket."""
    return _call("add_ticket_note", state, 201, ticket_id=ticket_id, text=text, author=author)
