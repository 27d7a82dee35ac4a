"""tau-bench retail in agentbox: the 16 retail tools of sierra-research/tau-bench (MIT).

Names, parameters and descriptions are those of tau's ``tools.json``; behaviour reproduces
tau-bench's reference tools exactly: the same checks in the same order, the same error
texts, the same ``json.dumps`` of records (key order kept) and the same float/int
arithmetic and rounding. tau tools return ``"Error: ..."`` strings; here they raise
:class:`ToolError` with the text after ``Error: ``, which the runner shows to the agent as
``Error: <text>``: the same string, but traced as a tool error. Any other exception inside a
tool becomes ``Error: <exception text>`` too, as in tau's environment loop.

Collections: ``orders``, ``products``, ``users`` (tau's JSON files, keyed as there). The data
is not part of this repository; see ``sandbox.toml``.

Also defined here: ``state_fingerprint`` (tau's data hash, for ``expect.state_hash``) and
``task_scenario`` (``agentbox run sandboxes/tau_retail/task.yaml --task N``).
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import hashlib
import json
import operator
import os
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

from agentbox import Sandbox, State, ToolError, tool
from agentbox.errors import EndRun, SandboxError

HERE = Path(__file__).resolve().parent
CANCEL_REASONS = ("no longer needed", "ordered by mistake")
HASHED_COLLECTIONS = ("orders", "products", "users")


# ---- tool plumbing --------------------------------------------------------------------
class CancelReason(str):
    """A plain string whose JSON schema lists tau's two reasons (``enum``).

    The enum is shown to the model, as in tau, but not enforced by validation: the tool
    itself answers ``Error: invalid reason`` (after the order status check), as tau does.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.str_schema()

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        out = handler(schema)
        out["enum"] = list(CANCEL_REASONS)
        return out


def _tau_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn any unexpected exception into a tool error ``Error: <exception>`` (tau's env)."""

    @functools.wraps(fn)
    def run(db: State, /, **kwargs: Any) -> Any:
        try:
            return fn(db, **kwargs)
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(str(exc)) from exc

    return run


def _dumps(record: Any) -> str:
    return json.dumps(record)


def _order(db: State, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] | None = db.get("orders", order_id)
    if order is None:
        raise ToolError("order not found")
    return order


def _check_items_in_order(order: dict[str, Any], item_ids: list[str], message: str | None) -> None:
    """tau's duplicate-aware check: no item id more often than the order holds it."""
    all_item_ids = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > all_item_ids.count(item_id):
            raise ToolError(message or f"{item_id} not found")


def _price_difference(
    db: State, order: dict[str, Any], item_ids: list[str], new_item_ids: list[str]
) -> Any:
    """Sum of (new - old) prices in tau's order; checks each new item (int 0 when empty)."""
    if len(item_ids) != len(new_item_ids):
        raise ToolError("the number of items to be exchanged should match")
    diff_price: Any = 0
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = [it for it in order["items"] if it["item_id"] == item_id][0]
        variants = db.get("products", item["product_id"])["variants"]
        if not (new_item_id in variants and variants[new_item_id]["available"]):
            raise ToolError(f"new item {new_item_id} not found or available")
        diff_price += variants[new_item_id]["price"] - item["price"]
    return diff_price


def _payment_method(db: State, order: dict[str, Any], payment_method_id: str) -> dict[str, Any]:
    methods: dict[str, dict[str, Any]] = db.get("users", order["user_id"])["payment_methods"]
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    return methods[payment_method_id]


# ---- read tools -----------------------------------------------------------------------
@tool
@_tau_errors
def calculate(state: State, expression: str) -> str:
    """Calculate the result of a mathematical expression.

    Args:
        expression: The mathematical expression to calculate, such as '2 + 2'. The
            expression can contain numbers, operators (+, -, *, /), parentheses, and spaces.
    """
    if not all(char in "0123456789+-*/(). " for char in expression):
        raise ToolError("invalid characters in expression")
    return str(round(float(_evaluate(expression)), 2))


@tool
@_tau_errors
def find_user_id_by_email(state: State, email: str) -> str:
    """Find user id by email. If the user is not found, the function will return an error message.

    Args:
        email: The email of the user, such as 'something@example.com'.
    """
    wanted = email.lower()
    for user_id, profile in state.items("users"):
        if profile["email"].lower() == wanted:
            return str(user_id)
    raise ToolError("user not found")


@tool
@_tau_errors
def find_user_id_by_name_zip(state: State, first_name: str, last_name: str, zip: str) -> str:
    """Find user id by first name, last name, and zip code. If the user is not found, the function
    will return an error message. By default, find user id by email, and only call this
    function if the user is not found by email or cannot remember email.

    Args:
        first_name: The first name of the customer, such as 'John'.
        last_name: The last name of the customer, such as 'Doe'.
        zip: The zip code of the customer, such as '12345'.
    """
    first, last = first_name.lower(), last_name.lower()
    for user_id, profile in state.items("users"):
        if (
            profile["name"]["first_name"].lower() == first
            and profile["name"]["last_name"].lower() == last
            and profile["address"]["zip"] == zip
        ):
            return str(user_id)
    raise ToolError("user not found")


@tool
@_tau_errors
def get_order_details(state: State, order_id: str) -> str:
    """Get the status and details of an order.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
    """
    return _dumps(_order(state, order_id))


@tool
@_tau_errors
def get_product_details(state: State, product_id: str) -> str:
    """Get the inventory details of a product.

    Args:
        product_id: The product id, such as '6086499569'. Be careful the product id is
            different from the item id.
    """
    product = state.get("products", product_id)
    if product is None:
        raise ToolError("product not found")
    return _dumps(product)


@tool
@_tau_errors
def get_user_details(state: State, user_id: str) -> str:
    """Get the details of a user, including their orders.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
    """
    user = state.get("users", user_id)
    if user is None:
        raise ToolError("user not found")
    return _dumps(user)


@tool
@_tau_errors
def list_all_product_types(state: State) -> str:
    """List the name and product id of all product types. Each product type has a variety of
    different items with unique item ids and options. There are only 50 product types in the
    store.
    """
    product_dict = {product["name"]: product["product_id"] for product in state.values("products")}
    return _dumps(dict(sorted(product_dict.items())))


@tool
@_tau_errors
def think(state: State, thought: str) -> str:
    """Use the tool to think about something. It will not obtain new information or change the
    database, but just append the thought to the log. Use it when complex reasoning or some
    cache memory is needed.

    Args:
        thought: A thought to think about.
    """
    return ""


@tool
@_tau_errors
def transfer_to_human_agents(state: State, summary: str) -> str:
    """Transfer the user to a human agent, with a summary of the user's issue. Only transfer if the
    user explicitly asks for a human agent, or if the user's issue cannot be resolved by the
    agent with the available tools.

    Args:
        summary: A summary of the user's issue.
    """
    raise EndRun("Transfer successful")


# ---- write tools ----------------------------------------------------------------------
@tool(effect="write")
@_tau_errors
def cancel_pending_order(state: State, order_id: str, reason: CancelReason) -> str:
    """Cancel a pending order. If the order is already processed or delivered, it cannot be
    cancelled. The agent needs to explain the cancellation detail and ask for explicit user
    confirmation (yes/no) to proceed. If the user confirms, the order status will be changed
    to 'cancelled' and the payment will be refunded. The refund will be added to the user's
    gift card balance immediately if the payment was made using a gift card, otherwise the
    refund would take 5-7 business days to process. The function returns the order details
    after the cancellation.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        reason: The reason for cancellation, which should be either 'no longer needed' or
            'ordered by mistake'.
    """
    order = _order(state, order_id)
    if order["status"] != "pending":
        raise ToolError("non-pending order cannot be cancelled")
    if reason not in CANCEL_REASONS:
        raise ToolError("invalid reason")
    refunds = [
        {
            "transaction_type": "refund",
            "amount": payment["amount"],
            "payment_method_id": payment["payment_method_id"],
        }
        for payment in order["payment_history"]
    ]
    gift_card_refunds = [r for r in refunds if "gift_card" in r["payment_method_id"]]
    if gift_card_refunds:
        with state.edit("users", order["user_id"]) as user:
            for refund in gift_card_refunds:
                method = user["payment_methods"][refund["payment_method_id"]]
                method["balance"] += refund["amount"]
                method["balance"] = round(method["balance"], 2)
    with state.edit("orders", order_id) as draft:
        draft["status"] = "cancelled"
        draft["cancel_reason"] = reason
        draft["payment_history"].extend(refunds)
    return _dumps(draft)


@tool(effect="write")
@_tau_errors
def exchange_delivered_order_items(
    state: State,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
) -> str:
    """Exchange items in a delivered order to new items of the same product type. For a delivered
    order, return or exchange can be only done once by the agent. The agent needs to explain
    the exchange detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        item_ids: The item ids to be exchanged, each such as '1008292230'. There could be
            duplicate items in the list.
        new_item_ids: The item ids to be exchanged for, each such as '1008292230'. There
            could be duplicate items in the list. Each new item id should match the item id
            in the same position and be of the same product.
        payment_method_id: The payment method id to pay or receive refund for the item price
            difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be
            looked up from the user or order details.
    """
    order = _order(state, order_id)
    if order["status"] != "delivered":
        raise ToolError("non-delivered order cannot be exchanged")
    _check_items_in_order(order, item_ids, None)
    diff_price = round(_price_difference(state, order, item_ids, new_item_ids), 2)
    method = _payment_method(state, order, payment_method_id)
    if method["source"] == "gift_card" and method["balance"] < diff_price:
        raise ToolError("insufficient gift card balance to pay for the price difference")
    with state.edit("orders", order_id) as draft:
        draft["status"] = "exchange requested"
        draft["exchange_items"] = sorted(item_ids)
        draft["exchange_new_items"] = sorted(new_item_ids)
        draft["exchange_payment_method_id"] = payment_method_id
        draft["exchange_price_difference"] = diff_price
    return _dumps(draft)


@tool(effect="write")  # tau's `state` argument (a US state): the State is `db`, positional-only
@_tau_errors
def modify_pending_order_address(
    db: State,
    /,
    order_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
) -> str:
    """Modify the shipping address of a pending order. The agent needs to explain the modification
    detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1' or ''.
        city: The city, such as 'San Francisco'.
        state: The state, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """
    order = _order(db, order_id)
    if order["status"] != "pending":
        raise ToolError("non-pending order cannot be modified")
    with db.edit("orders", order_id) as draft:
        draft["address"] = {
            "address1": address1,
            "address2": address2,
            "city": city,
            "state": state,
            "country": country,
            "zip": zip,
        }
    return _dumps(draft)


@tool(effect="write")
@_tau_errors
def modify_pending_order_items(
    state: State,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
) -> str:
    """Modify items in a pending order to new items of the same product type. For a pending order,
    this function can only be called once. The agent needs to explain the exchange detail
    and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        item_ids: The item ids to be modified, each such as '1008292230'. There could be
            duplicate items in the list.
        new_item_ids: The item ids to be modified for, each such as '1008292230'. There
            could be duplicate items in the list. Each new item id should match the item id
            in the same position and be of the same product.
        payment_method_id: The payment method id to pay or receive refund for the item price
            difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be
            looked up from the user or order details.
    """
    order = _order(state, order_id)
    if order["status"] != "pending":
        raise ToolError("non-pending order cannot be modified")
    _check_items_in_order(order, item_ids, None)
    diff_price = _price_difference(state, order, item_ids, new_item_ids)  # not rounded in tau
    method = _payment_method(state, order, payment_method_id)
    if method["source"] == "gift_card" and method["balance"] < diff_price:
        raise ToolError("insufficient gift card balance to pay for the new item")
    if method["source"] == "gift_card":
        with state.edit("users", order["user_id"]) as user:
            card = user["payment_methods"][payment_method_id]
            card["balance"] -= diff_price
            card["balance"] = round(card["balance"], 2)
    with state.edit("orders", order_id) as draft:
        draft["payment_history"].append(
            {
                "transaction_type": "payment" if diff_price > 0 else "refund",
                "amount": abs(diff_price),
                "payment_method_id": payment_method_id,
            }
        )
        for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
            # tau's first-match lookup, on the items as changed so far (duplicates matter)
            item = [it for it in draft["items"] if it["item_id"] == item_id][0]
            variant = state.get("products", item["product_id"])["variants"][new_item_id]
            item["item_id"] = new_item_id
            item["price"] = variant["price"]
            item["options"] = copy.deepcopy(variant["options"])
        draft["status"] = "pending (item modified)"
    return _dumps(draft)


@tool(effect="write")
@_tau_errors
def modify_pending_order_payment(state: State, order_id: str, payment_method_id: str) -> str:
    """Modify the payment method of a pending order. The agent needs to explain the modification
    detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        payment_method_id: The payment method id to pay or receive refund for the item price
            difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be
            looked up from the user or order details.
    """
    order = _order(state, order_id)
    if order["status"] != "pending":
        raise ToolError("non-pending order cannot be modified")
    method = _payment_method(state, order, payment_method_id)
    history = order["payment_history"]
    if len(history) > 1 or history[0]["transaction_type"] != "payment":
        raise ToolError("there should be exactly one payment for a pending order")
    old_method_id = history[0]["payment_method_id"]
    if old_method_id == payment_method_id:
        raise ToolError("the new payment method should be different from the current one")
    amount = history[0]["amount"]
    if method["source"] == "gift_card" and method["balance"] < amount:
        raise ToolError("insufficient gift card balance to pay for the order")
    with state.edit("orders", order_id) as draft:
        draft["payment_history"].extend(
            [
                {
                    "transaction_type": "payment",
                    "amount": amount,
                    "payment_method_id": payment_method_id,
                },
                {
                    "transaction_type": "refund",
                    "amount": amount,
                    "payment_method_id": old_method_id,
                },
            ]
        )
    if method["source"] == "gift_card" or "gift_card" in old_method_id:
        with state.edit("users", order["user_id"]) as user:
            methods = user["payment_methods"]
            if method["source"] == "gift_card":
                methods[payment_method_id]["balance"] -= amount
                methods[payment_method_id]["balance"] = round(
                    methods[payment_method_id]["balance"], 2
                )
            if "gift_card" in old_method_id:
                methods[old_method_id]["balance"] += amount
                methods[old_method_id]["balance"] = round(methods[old_method_id]["balance"], 2)
    return _dumps(draft)


@tool(effect="write")  # tau's `state` argument (a US state): the State is `db`, positional-only
@_tau_errors
def modify_user_address(
    db: State,
    /,
    user_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
) -> str:
    """Modify the default address of a user. The agent needs to explain the modification detail and
    ask for explicit user confirmation (yes/no) to proceed.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1' or ''.
        city: The city, such as 'San Francisco'.
        state: The state, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """
    if not db.has("users", user_id):
        raise ToolError("user not found")
    with db.edit("users", user_id) as draft:
        draft["address"] = {
            "address1": address1,
            "address2": address2,
            "city": city,
            "state": state,
            "country": country,
            "zip": zip,
        }
    return _dumps(draft)


@tool(effect="write")
@_tau_errors
def return_delivered_order_items(
    state: State, order_id: str, item_ids: list[str], payment_method_id: str
) -> str:
    """Return some items of a delivered order. The order status will be changed to 'return
    requested'. The agent needs to explain the return detail and ask for explicit user
    confirmation (yes/no) to proceed. The user will receive follow-up email for how and
    where to return the item.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        item_ids: The item ids to be returned, each such as '1008292230'. There could be
            duplicate items in the list.
        payment_method_id: The payment method id to pay or receive refund for the item price
            difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be
            looked up from the user or order details.
    """
    order = _order(state, order_id)
    if order["status"] != "delivered":
        raise ToolError("non-delivered order cannot be returned")
    _payment_method(state, order, payment_method_id)
    if (
        "gift_card" not in payment_method_id
        and payment_method_id != order["payment_history"][0]["payment_method_id"]
    ):
        raise ToolError(
            "payment method should be either the original payment method or a gift card"
        )
    _check_items_in_order(order, item_ids, "some item not found")
    with state.edit("orders", order_id) as draft:
        draft["status"] = "return requested"
        draft["return_items"] = sorted(item_ids)
        draft["return_payment_method_id"] = payment_method_id
    return _dumps(draft)


# ---- calculate: tau's eval, without the unbounded powers ------------------------------
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_POWER_BITS = 1_000_000


def _evaluate(expression: str) -> Any:
    """``eval(expression)`` as tau does it (same results and error texts), but a power whose
    result would exceed about a million bits is refused instead of hanging the process."""
    text = expression.lstrip(" \t")  # eval() of a string ignores leading spaces
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "(1)(2)"
        tree = ast.parse(text, "<string>", "eval")
    try:
        return _walk(tree.body)
    except _Unsupported:
        pass
    if any(isinstance(node, ast.Pow) for node in ast.walk(tree)):
        raise ToolError("unsupported expression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = compile(text, "<string>", "eval")
    return eval(code, {"__builtins__": None}, {})  # no names, no powers: plain arithmetic


class _Unsupported(Exception):
    """Raised by _walk for syntax it does not evaluate itself."""


def _walk(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _walk(node.left), _walk(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand))
    if isinstance(node, ast.Tuple):
        return tuple(_walk(e) for e in node.elts)
    raise _Unsupported


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and abs(base).bit_length() * exponent > _MAX_POWER_BITS
    ):
        raise ToolError("exponent too large")


# ---- tau's data hash ------------------------------------------------------------------
def to_hashable(item: Any) -> Any:
    """tau-bench's ``to_hashable``: dicts become key-sorted tuples of pairs, lists tuples."""
    if isinstance(item, dict):
        return tuple((key, to_hashable(value)) for key, value in sorted(item.items()))
    if isinstance(item, list):
        return tuple(to_hashable(element) for element in item)
    if isinstance(item, set):
        return tuple(sorted(to_hashable(element) for element in item))
    return item


_RECORD_TEXT: dict[int, tuple[Any, str]] = {}
_RECORD_TEXT_LIMIT = 200_000
_ABSENT = object()


def _tuple_text(parts: list[str]) -> str:
    """``str()`` of a tuple whose elements' reprs are ``parts``."""
    if len(parts) == 1:
        return f"({parts[0]},)"
    return "(" + ", ".join(parts) + ")"


def _record_text(record: Any) -> str:
    """``str(to_hashable(record))``, cached per record object.

    Records handed out by State are read-only and a change always stores a new object
    (``edit`` saves a private copy): an unchanged record is the very object of the shared
    seed, so its text is computed once per process. The cache holds the record itself, so
    an id is never reused while its entry exists.
    """
    hit = _RECORD_TEXT.get(id(record))
    if hit is not None and hit[0] is record:
        return hit[1]
    text = str(to_hashable(record))
    if len(_RECORD_TEXT) >= _RECORD_TEXT_LIMIT:
        _RECORD_TEXT.clear()
    _RECORD_TEXT[id(record)] = (record, text)
    return text


_CHUNK = 32  # records per cached chunk of a collection's text


@dataclass
class _CollectionText:
    """One collection's text as last assembled, in UTF-8 chunks to splice changes into.

    The collection's ``str()`` is ``"(" + ", ".join(parts) + ")"`` (``"(part,)"`` for one
    record); ``chunks[j]`` is ``", ".join(parts[j*_CHUNK:(j+1)*_CHUNK])`` encoded.
    """

    records: dict[str, Any]  # key -> the record object its part was made from
    index: dict[str, int]  # key -> position in ``parts`` (sorted key order)
    parts: list[str]  # "(key, record text)" per record
    chunks: list[bytes]


_COLLECTION_TEXT: dict[str, _CollectionText] = {}


def _join_chunk(parts: list[str], j: int) -> bytes:
    return ", ".join(parts[j * _CHUNK : (j + 1) * _CHUNK]).encode("utf-8")


def _collection_chunks(collection: str, records: dict[str, Any]) -> list[bytes]:
    """UTF-8 chunks of ``str(to_hashable(records))`` between its outer parentheses.

    Compared by identity with the last assembled text of this collection (normally the
    seed's): only records that are different objects are converted again, and only the
    chunks holding them are re-encoded. A different key set (records added or removed,
    another seed) rebuilds the text from the per-record cache.
    """
    memo = _COLLECTION_TEXT.get(collection)
    if memo is not None and len(records) == len(memo.records) and len(records) > 1:
        stale = [k for k, r in records.items() if memo.records.get(k, _ABSENT) is not r]
        if not stale:
            return memo.chunks
        # a few changed records: splice them in; most records changed (another seed
        # object, e.g. one decoded from a trace store): rebuild and remember it below
        if len(stale) <= len(records) // 4 and all(k in memo.index for k in stale):
            parts = memo.parts.copy()
            for key in stale:
                parts[memo.index[key]] = f"({key!r}, {to_hashable(records[key])})"
            chunks = memo.chunks.copy()
            for j in {memo.index[key] // _CHUNK for key in stale}:
                chunks[j] = _join_chunk(parts, j)
            return chunks
    keys = sorted(records)
    parts = [f"({key!r}, {_record_text(records[key])})" for key in keys]
    if len(parts) == 1:
        return [(parts[0] + ",").encode("utf-8")]
    chunks = [_join_chunk(parts, j) for j in range((len(parts) + _CHUNK - 1) // _CHUNK)]
    index = {k: i for i, k in enumerate(keys)}
    _COLLECTION_TEXT[collection] = _CollectionText(records, index, parts, chunks)
    return chunks


def state_fingerprint(state: State) -> str:
    """tau-bench's data hash of the current state.

    ``sha256(str(to_hashable({"orders": ..., "products": ..., "users": ...})))``, fed to
    sha256 piece by piece exactly as ``str()`` writes the nested tuples, from cached texts:
    unchanged seed records reuse theirs and only records this run changed are converted
    again (about 1 ms for tau's 1,550 records). Equal to :func:`direct_state_hash`.
    """
    digest = hashlib.sha256(b"(")
    for i, collection in enumerate(sorted(HASHED_COLLECTIONS)):
        digest.update(f"{', ' if i else ''}({collection!r}, (".encode())
        for j, chunk in enumerate(_collection_chunks(collection, dict(state.items(collection)))):
            digest.update(b", " + chunk if j else chunk)
        digest.update(b"))")
    digest.update(b")")
    return digest.hexdigest()


def direct_state_hash(data: dict[str, Any]) -> str:
    """The reference computation, for checking :func:`state_fingerprint` (slow: no caching)."""
    picked = {c: data.get(c, {}) for c in HASHED_COLLECTIONS}
    return hashlib.sha256(str(to_hashable(picked)).encode("utf-8")).hexdigest()


# ---- tasks ----------------------------------------------------------------------------
_JSON_CACHE: dict[tuple[str, int, int], Any] = {}


def _read_json(path: Path) -> Any:
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _JSON_CACHE:
        _JSON_CACHE[key] = json.loads(path.read_text(encoding="utf-8"))
    return _JSON_CACHE[key]


def _config() -> dict[str, Any]:
    try:
        return tomllib.loads((HERE / "sandbox.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _configured_data_folder(config: dict[str, Any]) -> Path:
    """The seed folder as the loader resolves it: $AGENTBOX_TAU_DATA, else ``seed``."""
    env = config.get("seed_env")
    raw = (os.environ.get(str(env)) if env else None) or str(config.get("seed", "seed"))
    return (HERE / os.path.expandvars(os.path.expanduser(raw))).resolve()


def _loaded_sandbox(sandbox: Any = None) -> Any:
    """The sandbox whose seed a ``--task`` run uses.

    agentbox passes it (``sandbox=``, the seed of ``--data`` or the configured one); called
    without it, this is the sandbox with the configured seed, or None when that is missing.
    """
    if sandbox is not None:
        return sandbox
    try:
        return Sandbox.load(HERE)
    except SandboxError:
        return None


def _data_folder(box: Any) -> Path:
    source = Path(box.seed_source) if box is not None else _configured_data_folder(_config())
    return source if source.is_dir() else source.parent


def _replayed_hash(box: Any, folder: Path, actions: list[dict[str, Any]]) -> str:
    """Replay ground-truth actions on fresh data (what tau-bench does to score a task)."""
    from agentbox.sandbox import load_state_source

    seed = box.seed if box is not None else load_state_source(folder, list(HASHED_COLLECTIONS))
    db = State(seed)
    for action in actions:
        fn = TOOLS[action["name"]]
        with contextlib.suppress(ToolError, EndRun):
            fn(db, **action["kwargs"])
    return state_fingerprint(db)


def _customer_message(task: int, instruction: str) -> str:
    return (
        f"tau-bench retail, task {task}. The customer's situation, as given to the customer "
        f"(written in the second person):\n\n{instruction}\n\n"
        "The customer cannot answer follow-up questions in this run. Authenticate them from "
        "the details above, take this message as their explicit confirmation (yes) for exactly "
        "the changes it asks for, and end with your reply to the customer."
    )


def task_scenario(
    data: dict[str, Any], task: int, sandbox: Any = None, model: str | None = None
) -> dict[str, Any]:
    """Turn tau-bench retail test task ``task`` (0-based) into scenario data.

    Reads ``tasks_test.json`` (and ``reference_gt_replay_test.json`` when present) from the
    data folder in use. Sets ``name`` and ``expect.state_hash`` (tau's reward: the data
    hash after the ground-truth actions; from the reference file, else computed by
    replaying them), plus ``output_contains`` for the task's required outputs, keeping the
    file's other expectations. ``model`` is the run's ``--model`` (None: the file's).

    - A template with ``user: {turns: [...]}`` (conversation.yaml) becomes a conversation
      with the scripted customer of ``users.yaml``; with the scripted model the agent
      asks who they are, plays the ground-truth actions and asks before each write.
    - Otherwise, with the scripted model: the input states the task (the customer's
      confirmation included) and the script plays the ground-truth actions; no user.
    - Otherwise (a real model): tau-bench's conversation -- the template's ``user`` is a
      simulated customer played by the run's model from the task's instruction, and it
      opens the conversation (empty input).

    Raises:
        SandboxError: the task file is missing, ``task`` is out of range, or a
            conversation template names a task ``users.yaml`` has no customer for.
    """
    box = _loaded_sandbox(sandbox)
    folder = _data_folder(box)
    tasks_file = folder / "tasks_test.json"
    if not tasks_file.is_file():
        raise SandboxError(
            f"tau_retail: no task file at {tasks_file}",
            str(_config().get("seed_hint", "pass --data FOLDER")),
        )
    tasks = _read_json(tasks_file)
    if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task < len(tasks):
        raise SandboxError(
            f"tau_retail: task {task} is out of range: {tasks_file.name} has "
            f"{len(tasks)} tasks, numbered 0 to {len(tasks) - 1}",
            "pass --task N with 0 <= N < " + str(len(tasks)),
        )
    spec = tasks[task]
    actions = spec["actions"]
    outputs = [str(o) for o in spec.get("outputs") or []]

    reference_file = folder / "reference_gt_replay_test.json"
    gt_hash = None
    if reference_file.is_file():
        entries = _read_json(reference_file).get("tasks", [])
        entry = entries[task] if task < len(entries) else None
        if entry is not None and entry.get("task_id", task) == task:
            gt_hash = entry["gt_data_hash"]
    if gt_hash is None:
        gt_hash = _replayed_hash(box, folder, actions)

    out = copy.deepcopy(data)
    out["name"] = f"tau-retail-task-{task}"
    out["description"] = (
        f"tau-bench retail test task {task} (annotator {spec.get('annotator')}, "
        f"user {spec.get('user_id')}); pass = tau's data hash after the "
        "ground-truth actions"
    )
    agent = out.setdefault("agent", {}) or {}
    out["agent"] = agent
    policy_file = HERE / str(_config().get("policy", "policy.md"))
    wiki = folder / "wiki.md"
    if not policy_file.is_file() and wiki.is_file():
        system = str(agent.get("system") or "").strip()
        agent["system"] = "\n\n".join(p for p in (system, wiki.read_text(encoding="utf-8")) if p)
    effective = model or agent.get("model")
    live = agent.get("type") != "scripted" and effective not in (None, "scripted")
    user = out.get("user")
    expect = dict(out.get("expect") or {})
    final = "Your request has been handled."
    if outputs:
        final += " For your reference: " + ", ".join(outputs) + "."
    if isinstance(user, dict) and "turns" in user:  # conversation.yaml: a scripted customer
        customer = _scripted_customer(task)
        writes = [a for a in actions if a["name"] in WRITE_TOOLS]
        out["input"] = customer["opening"]
        confirm = {"say": customer["confirm"], "when": "'shall i proceed' in lower(last)"}
        closing = {"say": customer["closing"], "when": "'anything else' in lower(last)"}
        out["user"] = {"turns": [customer["identity"], *[confirm] * len(writes), closing]}
        expect.setdefault("confirmed_before", sorted({a["name"] for a in writes}))
        if live:
            out.pop("script", None)
        else:
            script: list[dict[str, Any]] = [
                {
                    "say": "I can help with that. First, what is your name and zip code, or your email?"
                }
            ]
            for action in actions:
                if action["name"] in WRITE_TOOLS:
                    args = json.dumps(action["kwargs"], sort_keys=True)
                    script.append(
                        {"say": f"To confirm: {action['name']} with {args}. Shall I proceed?"}
                    )
                script.append({"tool_calls": [{action["name"]: action["kwargs"]}]})
            script.append({"say": final + " Is there anything else I can help with?"})
            script.append({"say": final + " Goodbye!"})
            out["script"] = script
            expect.setdefault("user_turns", len(out["user"]["turns"]))
            _enough_steps(agent, len(script))
    elif live:  # tau-bench's conversation: a simulated customer from the instruction
        out["input"] = ""
        simulated = dict(user) if isinstance(user, dict) else {}
        simulated.pop("script", None)
        simulated["model"] = effective
        simulated["instructions"] = spec["instruction"]
        if agent.get("params") and "params" not in simulated:
            simulated["params"] = agent["params"]
        out["user"] = simulated
        out.pop("script", None)
    else:  # one turn: the input states the task, the script plays the ground truth
        out.pop("user", None)
        out["input"] = _customer_message(task, spec["instruction"])
        turns = [{"tool_calls": [{action["name"]: action["kwargs"]}]} for action in actions]
        turns.append({"say": final})
        out["script"] = turns
        _enough_steps(agent, len(turns))
    expect["state_hash"] = gt_hash
    if outputs:
        existing = expect.get("output_contains") or []
        existing = [existing] if isinstance(existing, str) else list(existing)
        expect["output_contains"] = existing + [o for o in outputs if o not in existing]
    out["expect"] = expect
    return out


def _enough_steps(agent: dict[str, Any], turns: int) -> None:
    if agent.get("max_steps") is not None and agent["max_steps"] < turns:
        agent["max_steps"] = turns


WRITE_TOOLS = frozenset(
    {
        "cancel_pending_order",
        "exchange_delivered_order_items",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_user_address",
        "return_delivered_order_items",
    }
)
"""Tools that change the customer's data: tau's policy wants an explicit yes first."""


def _scripted_customer(task: int) -> dict[str, str]:
    """The hand-written customer of ``task`` from users.yaml.

    Raises:
        SandboxError: users.yaml has no customer for the task.
    """
    import yaml

    customers = yaml.safe_load((HERE / "users.yaml").read_text(encoding="utf-8")) or {}
    if task not in customers:
        raise SandboxError(
            f"tau_retail: users.yaml has no scripted customer for task {task} "
            f"(it has tasks {', '.join(str(t) for t in sorted(customers))})",
            "pick one of those tasks, or write the customer's lines in users.yaml",
        )
    return {k: str(v) for k, v in customers[task].items()}


TOOLS: dict[str, Callable[..., Any]] = {
    fn.__name__: fn
    for fn in (
        calculate,
        cancel_pending_order,
        exchange_delivered_order_items,
        find_user_id_by_email,
        find_user_id_by_name_zip,
        get_order_details,
        get_product_details,
        get_user_details,
        list_all_product_types,
        modify_pending_order_address,
        modify_pending_order_items,
        modify_pending_order_payment,
        modify_user_address,
        return_delivered_order_items,
        think,
        transfer_to_human_agents,
    )
}
