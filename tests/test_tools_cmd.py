"""``agentbox tools SANDBOX`` and ``agentbox --version``, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import agentbox
from tests.test_sandbox_authoring import write_sandbox


def test_tools_lists_effects_schemas_and_collections(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("tools", "retail")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "create_refund [write]" in out
    assert "get_order [read]" in out
    assert 'amount_usd: {"type": "number"} required — Amount in US dollars' in out
    assert "orders: 820 records  ord_5001, ord_5002, ord_5003, …" in out
    assert "refunds: 0 records" in out
    assert "HTTP mocks (9;" in out
    assert "  http POST api.northwind.test/orders/{order_id}/refunds [write]" in out


def test_tools_json_has_full_schemas_and_sample_ids(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("tools", "retail", "--json", "--samples", "2")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    tools = {t["name"]: t for t in info["tools"]}
    assert tools["create_refund"]["effect"] == "write"
    assert tools["create_refund"]["parameters"]["required"] == [
        "order_id",
        "amount_usd",
        "idempotency_key",
    ]
    mocks = {m["name"]: m for m in info["http_mocks"]}
    assert mocks["http GET api.northwind.test/orders/{order_id}"]["effect"] == "read"
    customers = next(c for c in info["collections"] if c["name"] == "customers")
    assert customers == {"name": "customers", "count": 130, "sample_ids": ["cus_1001", "cus_1002"]}


def test_tools_shows_bounds_and_argument_policies(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write_sandbox(tmp_path)
    result = cli("tools", str(folder))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert 'seats: {"maximum": 50, "minimum": 1, "type": "integer"} required' in out
    assert "quote [read]  args=raw" in out
    assert "move [write]  extra=ignore" in out
    assert "users: 2 records  u1, u2" in out
    assert "hooks state_fingerprint" in out


def test_tools_of_an_unknown_sandbox_is_exit_2_with_the_available_ones(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("tools", "nope")
    assert result.exit_code == 2
    assert "no sandbox 'nope'" in result.stderr
    assert "retail, tau_retail" in result.stderr


def test_version(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"agentbox {agentbox.__version__}\n"


def test_tools_shows_docstring_literals_bare_and_json_keeps_the_raw_text(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("tools", "retail").stdout
    assert 'customer_id: {"type": "string"} required — The customer id, e.g. cus_1042.' in out
    assert "``" not in out
    info = json.loads(cli("tools", "retail", "--json").stdout)
    lookup = next(t for t in info["tools"] if t["name"] == "lookup_customer")
    prop = lookup["parameters"]["properties"]["customer_id"]
    assert prop["description"] == "The customer id, e.g. ``cus_1042``."  # as the model sees it
