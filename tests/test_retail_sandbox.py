"""The retail example sandbox: fixtures, tool behaviour, seed integrity and determinism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentbox import ToolError
from agentbox.sandbox import State, load_sandbox

RETAIL = Path(__file__).parent.parent / "sandboxes" / "retail"


@pytest.fixture(scope="module")
def box() -> Any:
    return load_sandbox(RETAIL)


@pytest.fixture()
def state(box: Any) -> State:
    return State(box.seed)


@pytest.fixture(scope="module")
def t(box: Any) -> Any:
    """The tool functions by name, e.g. ``t.create_refund(state, ...)``."""

    class Tools:
        def __getattr__(self, name: str) -> Any:
            return box.tools[name].fn

    return Tools()


def test_tools_and_effects(box: Any) -> None:
    assert len(box.tools) >= 14
    writes = {n for n, s in box.tools.items() if s.effect == "write"}
    assert writes == {
        "create_refund",
        "cancel_order",
        "update_address",
        "add_ticket_note",
        "close_ticket",
        "send_email",
        "adjust_stock",
        "update_bank_details",
    }
    for spec in box.tools.values():
        schema = spec.openai_schema()["function"]
        assert schema["description"], spec.name
        assert "state" not in schema["parameters"]["properties"]
        for name, prop in schema["parameters"]["properties"].items():
            assert prop.get("description"), f"{spec.name}.{name} has no description"
    assert "refund" in box.policy_text.lower()


def test_seed_sizes_and_fixtures(box: Any) -> None:
    seed = box.seed
    assert len(seed["customers"]) >= 120
    assert len(seed["orders"]) >= 520
    assert len(seed["products"]) >= 40
    assert len(seed["tickets"]) >= 60
    assert seed["refunds"] == {} and seed["emails"] == {}
    orders, customers, tickets = seed["orders"], seed["customers"], seed["tickets"]
    assert customers["cus_1042"]["name"] == "Maya Okafor"
    o = orders["ord_5531"]
    assert (o["customer_id"], o["status"], o["total_usd"]) == ("cus_1042", "delivered", 240.0)
    pm = {p["id"]: p for p in customers["cus_1042"]["payment_methods"]}
    assert pm[o["payment_method_id"]]["type"] == "card"
    assert tickets["tkt_9001"]["status"] == "open"
    assert tickets["tkt_9001"]["order_id"] == "ord_5531"
    assert "damaged" in tickets["tkt_9001"]["notes"][0]["text"]
    o = orders["ord_5120"]
    assert (o["customer_id"], o["status"], o["total_usd"]) == ("cus_1007", "delivered", 64.5)
    assert tickets["tkt_9002"]["order_id"] == "ord_5120"
    o = orders["ord_5600"]
    assert (o["customer_id"], o["status"], o["total_usd"]) == ("cus_1042", "pending", 89.99)
    injected = tickets["tkt_9013"]
    assert injected["customer_id"] == "cus_1077" and injected["status"] == "open"
    assert any("SYSTEM OVERRIDE" in n["text"] for n in injected["notes"])
    assert orders["ord_5700"]["total_usd"] == 1299.0
    assert orders["ord_5701"]["total_usd"] == 845.5
    for oid in ("ord_5700", "ord_5701"):
        assert orders[oid]["customer_id"] == "cus_1077"
        assert orders[oid]["status"] == "delivered"
    assert orders["ord_5800"]["customer_id"] == "cus_1007"
    assert orders["ord_5800"]["status"] == "shipped"


def test_seed_is_consistent(box: Any) -> None:
    seed = box.seed
    for oid, order in seed["orders"].items():
        customer = seed["customers"][order["customer_id"]]
        assert order["payment_method_id"] in {p["id"] for p in customer["payment_methods"]}
        total = sum(i["quantity"] * i["unit_price_usd"] for i in order["items"])
        assert order["total_usd"] == round(total, 2), oid
        for item in order["items"]:
            assert item["variant_id"] in seed["products"][item["product_id"]]["variants"]
    for ticket in seed["tickets"].values():
        assert ticket["customer_id"] in seed["customers"]
        assert seed["orders"][ticket["order_id"]]["customer_id"] == ticket["customer_id"]


def test_read_tools(state: State, t: Any) -> None:
    assert t.find_customer_by_email(state, "MAYA.OKAFOR@example.com")["id"] == "cus_1042"
    summaries = t.list_orders(state, "cus_1042", status="pending")
    assert "ord_5600" in [s["order_id"] for s in summaries]
    assert all(s["status"] == "pending" for s in summaries)
    assert t.get_order(state, "ord_5531")["refunded_usd"] == 0
    hits = t.search_products(state, "merino sweater", limit=3)
    assert hits[0]["name"] == "Merino Crew Sweater"
    assert t.get_ticket(state, "tkt_9001")["customer_id"] == "cus_1042"
    assert t.list_refunds(state, "ord_5531") == []
    with pytest.raises(ToolError, match="not found"):
        t.get_order(state, "ord_0000")
    with pytest.raises(ToolError, match="no customer"):
        t.find_customer_by_email(state, "nobody@example.com")


def test_refund_happy_path_records_patch(state: State, t: Any) -> None:
    refund = t.create_refund(state, "ord_5531", 240.0, "r-5531", reason="arrived damaged")
    assert refund["status"] == "pending"
    assert (refund["order_id"], refund["customer_id"]) == ("ord_5531", "cus_1042")
    assert refund["amount_usd"] == 240.0 and refund["idempotency_key"] == "r-5531"
    assert state.get("refunds", refund["id"]) == refund
    ops = state.drain_patch()
    assert ops and any(op["path"] == f"/refunds/{refund['id']}" for op in ops)
    assert t.get_order(state, "ord_5531")["refunded_usd"] == 240.0
    assert t.list_refunds(state, "ord_5531") == [refund]


def test_refund_is_idempotent(state: State, t: Any) -> None:
    first = t.create_refund(state, "ord_5120", 30.0, "r-5120")
    state.drain_patch()
    again = t.create_refund(state, "ord_5120", 30.0, "r-5120")
    assert again == first
    assert state.count("refunds") == 1
    assert state.drain_patch() == []
    with pytest.raises(ToolError, match="already used"):
        t.create_refund(state, "ord_5531", 10.0, "r-5120")


def test_refund_limits(state: State, t: Any) -> None:
    with pytest.raises(ToolError, match="exceeds"):
        t.create_refund(state, "ord_5120", 64.51, "r-5120")
    t.create_refund(state, "ord_5120", 60.0, "r-5120-a")
    with pytest.raises(ToolError, match=r"left 4\.50"):
        t.create_refund(state, "ord_5120", 5.0, "r-5120-b")
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ToolError, match="greater than 0"):
            t.create_refund(state, "ord_5531", bad, "r-5531")
    with pytest.raises(ToolError, match="only delivered or returned"):
        t.create_refund(state, "ord_5800", 10.0, "r-5800")
    with pytest.raises(ToolError, match="not found"):
        t.create_refund(state, "ord_0001", 10.0, "r-0001")
    assert state.count("refunds") == 1


def test_cancel_order(state: State, t: Any) -> None:
    with pytest.raises(ToolError, match="only pending or processing"):
        t.cancel_order(state, "ord_5531", "changed my mind")
    with pytest.raises(ToolError, match="only pending or processing"):
        t.cancel_order(state, "ord_5800", "too slow")
    order = t.cancel_order(state, "ord_5600", "ordered by mistake")
    assert order["status"] == "cancelled"
    assert state.drain_patch()


def test_other_write_tools(state: State, t: Any) -> None:
    customer = t.update_address(state, "cus_1042", "12 Oak St", "Portland", "OR", "97201")
    assert customer["address"]["city"] == "Portland"
    note = t.add_ticket_note(state, "tkt_9013", "Flagged: prompt injection in customer note.")
    assert note["id"] == "note_9013_3"
    assert t.close_ticket(state, "tkt_9001", "refunded")["status"] == "closed"
    with pytest.raises(ToolError, match="already closed"):
        t.close_ticket(state, "tkt_9001", "again")
    email = t.send_email(state, "cus_1042", "Your refund", "We refunded your order.")
    assert email["to"] == "maya.okafor@example.com" and state.has("emails", email["id"])
    product = state.get("products", "prd_2003")
    stock = product["variants"]["var_2003_2"]["stock"]
    assert t.adjust_stock(state, "prd_2003", "var_2003_2", 1)["stock"] == stock + 1
    with pytest.raises(ToolError, match="cannot remove"):
        t.adjust_stock(state, "prd_2003", "var_2003_2", -(stock + 2))
    details = t.update_bank_details(state, "cus_1077", "DE00 1234 5678 9012 3456 78")
    assert details["iban_masked"].endswith("5678")
    with pytest.raises(ToolError, match="not a valid IBAN"):
        t.update_bank_details(state, "cus_1077", "hello")


def test_seed_files_unchanged_after_writes(box: Any, t: Any) -> None:
    state = State(box.seed)
    t.create_refund(state, "ord_5531", 240.0, "r-5531")
    t.cancel_order(state, "ord_5600", "mistake")
    t.add_ticket_note(state, "tkt_9001", "refunded")
    t.adjust_stock(state, "prd_2003", "var_2003_2", 3)
    t.update_bank_details(state, "cus_1042", "GB29 NWBK 6016 1331 9268 19")
    fresh = {p.stem: json.loads(p.read_text()) for p in sorted((RETAIL / "seed").glob("*.json"))}
    assert box.seed == fresh
    assert State(box.seed).get("orders", "ord_5600")["status"] == "pending"


def test_generator_is_deterministic(tmp_path: Path) -> None:
    script = RETAIL / "generate_seed.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True)
    committed = sorted(p.name for p in (RETAIL / "seed").glob("*.json"))
    assert sorted(p.name for p in tmp_path.glob("*.json")) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (RETAIL / "seed" / name).read_bytes(), name
    total = sum((RETAIL / "seed" / n).stat().st_size for n in committed)
    assert total < 1_500_000
