"""Sandbox authoring: what a third-party sandbox needs from ``@tool`` and the loader.

A sandbox written the way an outside author would (Annotated bounds, raw arguments, a
nested TypedDict, a sibling module, a dated seed file mapped to a collection, the
state fingerprint hook) loads, shows the right schemas and runs a scenario end to end.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field
from typing_extensions import TypedDict

import agentbox
from agentbox import Sandbox, State, ToolError, tool
from agentbox.errors import SandboxError
from agentbox.sandbox.tools import make_tool, parse_docstring

TOOLS = '''
from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict
from typing_extensions import TypedDict

from agentbox import State, ToolError, tool

from .pricing import with_tax  # a sibling module, imported relatively
import labels  # a sibling module, imported by name


class Address(TypedDict):
    city: str


@tool
def get_user(state: State, user_id: str) -> dict:
    """Look a user up.

    Args:
        user_id: the user's id, such as 'u1'.
    """
    user = state.get("users", user_id)
    if user is None:
        raise ToolError("no such user")
    return user


@tool(effect="write")
def set_seats(state: State, user_id: str, seats: Annotated[int, Field(ge=1, le=50)]) -> int:
    """Set how many seats a user pays for.

    Args:
        user_id: the user.
        seats: how many seats (1 to 50).
    """
    with state.edit("users", user_id) as user:
        user["seats"] = seats
    return seats


@tool(args="raw")
def quote(state: State, amount: float, note: str = "none") -> dict:
    """Quote a price as sent."""
    return {"amount": amount, "type": type(amount).__name__, "taxed": with_tax(amount),
            "label": labels.LABEL, "note": note}


@tool(effect="write", extra="ignore")
def move(state: State, user_id: str, address: Address) -> dict:
    """Move a user (unknown address keys are ignored, as the real API does)."""
    with state.edit("users", user_id) as user:
        user["address"] = address
    return address


@tool
def strict_move(state: State, address: Address) -> dict:
    """Check an address strictly (the default: unknown keys are an error)."""
    return address


def state_fingerprint(state: State) -> str:
    return ",".join(f"{k}:{u.get('seats', 0)}" for k, u in state.items("users"))
'''

SCENARIO = """
name: authoring
sandbox: billing
agent: {type: llm, model: scripted}
input: set seats
script:
  - tool_calls: [{set_seats: {user_id: u1, seats: 3}}]
  - tool_calls: [{set_seats: {user_id: u1, seats: 0}}]
  - tool_calls: [{quote: {amount: 255}}]
  - tool_calls: [{move: {user_id: u1, address: {city: Oslo, floor: 3}, extra_arg: 1}}]
  - say: done
approvals: fail
expect:
  status: completed
  state_hash: "u1:3,u2:0"
"""


def write_sandbox(root: Path, tools: str = TOOLS, toml: str | None = None) -> Path:
    """A sandbox ``billing`` under ``root/sandboxes`` with a dated users file."""
    box = root / "sandboxes" / "billing"
    (box / "data").mkdir(parents=True)
    (box / "tools.py").write_text(textwrap.dedent(tools))
    (box / "pricing.py").write_text("def with_tax(x):\n    return round(x * 1.25, 2)\n")
    (box / "labels.py").write_text("LABEL = 'billing'\n")
    (box / "data" / "users.2024-11.json").write_text(
        '[{"id": "u1", "name": "Ada"}, {"id": "u2", "name": "Bo"}]'
    )
    (box / "data" / "notes.json").write_text("{}")  # not a collection: not mapped
    (box / "sandbox.toml").write_text(
        toml if toml is not None else 'seed = "data"\n[collections]\nusers = "users.2024-11.json"\n'
    )
    return box


@pytest.fixture()
def box(tmp_path: Path) -> Sandbox:
    return Sandbox.load(write_sandbox(tmp_path))


def test_the_sandbox_loads_with_its_sibling_modules_and_mapped_collection(box: Sandbox) -> None:
    assert list(box.tools) == ["get_user", "set_seats", "quote", "move", "strict_move"]
    assert list(box.seed) == ["users"]  # users.2024-11.json as `users`; notes.json left out
    assert box.call("quote", box.state(), amount=2)["label"] == "billing"


def test_annotated_bounds_reach_the_schema_and_the_validation(box: Sandbox) -> None:
    seats = box.tools["set_seats"]
    prop = seats.parameters["properties"]["seats"]
    assert (prop["minimum"], prop["maximum"]) == (1, 50)
    assert prop["description"] == "how many seats (1 to 50)."
    args, errors = seats.validate({"user_id": "u1", "seats": 0})
    assert args is None and errors == ["seats: Input should be greater than or equal to 1"]
    assert seats.validate({"user_id": "u1", "seats": 7}) == ({"user_id": "u1", "seats": 7}, [])


def test_annotated_field_description_is_kept_without_a_docstring_entry() -> None:
    def pick(state: State, n: Annotated[int, Field(ge=0, description="how many")]) -> int:
        """Pick."""
        return n

    prop = make_tool(pick, effect="read").parameters["properties"]["n"]
    assert prop == {"description": "how many", "minimum": 0, "type": "integer"}


def test_raw_arguments_reach_the_tool_untouched(box: Sandbox) -> None:
    out = box.call("quote", box.state(), amount=255)
    assert out["amount"] == 255 and out["type"] == "int"
    assert box.call("quote", box.state(), amount=2.5)["type"] == "float"
    raw = box.tools["quote"]
    # checked strictly against the schema: no string-to-number coercion
    args, errors = raw.validate({"amount": "255"})
    assert args is None and errors == ["amount: Input should be a valid number"]
    assert raw.validate({"amount": float("nan")})[0] is None


def test_validated_arguments_are_coerced_as_before() -> None:
    @tool
    def price(state: State, amount: float) -> str:
        """Price."""
        return type(amount).__name__

    spec = price.__agentbox_tool__  # type: ignore[attr-defined]
    assert spec.args == "validated"
    assert spec.validate({"amount": 255}) == ({"amount": 255.0}, [])
    assert isinstance(spec.validate({"amount": 255})[0]["amount"], float)


def test_unknown_nested_keys_are_errors_by_default_and_ignored_when_asked(box: Sandbox) -> None:
    address = {"city": "Oslo", "floor": 3}
    args, errors = box.tools["strict_move"].validate({"address": address})
    assert args is None and errors == ["address.floor: unknown argument"]
    checked, errors = box.tools["move"].validate({"user_id": "u1", "address": address, "x": 1})
    assert errors == [] and checked == {"user_id": "u1", "address": {"city": "Oslo"}}
    assert "additionalProperties" not in box.tools["move"].parameters
    assert box.tools["strict_move"].parameters["additionalProperties"] is False


class Item(TypedDict):
    sku: str


def test_raw_tool_with_extra_ignore_keeps_nested_keys() -> None:
    def order(state: State, item: Item) -> Any:
        """Order."""
        return item

    spec = make_tool(order, effect="read", args="raw", extra="ignore")
    given = {"item": {"sku": "a", "colour": "red"}, "unknown": True}
    assert spec.validate(given) == ({"item": {"sku": "a", "colour": "red"}}, [])


def test_bad_tool_options_are_refused() -> None:
    with pytest.raises(ValueError, match="args must be one of 'validated', 'raw'"):
        tool(args="coerced")
    with pytest.raises(ValueError, match="extra must be one of"):
        tool(extra="allow")
    with pytest.raises(ValueError, match="effect must be one of"):
        tool(effect="delete")


def test_the_scenario_runs_end_to_end_through_the_public_api(tmp_path: Path) -> None:
    write_sandbox(tmp_path)
    scenario = tmp_path / "scenarios" / "authoring.yaml"
    scenario.parent.mkdir()
    scenario.write_text(SCENARIO)
    result = agentbox.run(scenario, store=tmp_path / "t.db", root=tmp_path)
    assert result.status == "completed", result.reason
    assert result.passed, result.expectations  # state_hash via the state_fingerprint hook
    with agentbox.open_store(tmp_path / "t.db") as store:
        tools = [s for s in store.steps(result.run_id) if s.kind == "tool"]
    seats_ok, seats_bad, quote, move = tools
    assert json.loads(seats_ok.data["result"]) == 3
    assert seats_bad.status == "invalid"
    assert seats_bad.data["validation_errors"] == [
        "seats: Input should be greater than or equal to 1"
    ]
    assert quote.data["args"] == {"amount": 255}
    assert json.loads(quote.data["result"])["type"] == "int"
    assert move.data["args"] == {"user_id": "u1", "address": {"city": "Oslo"}}


def test_a_second_sandbox_gets_its_own_sibling_module(tmp_path: Path) -> None:
    first = Sandbox.load(write_sandbox(tmp_path / "a"))
    other = write_sandbox(tmp_path / "b")
    (other / "labels.py").write_text("LABEL = 'other'\n")
    second = Sandbox.load(other)
    assert first.call("quote", first.state(), amount=1)["label"] == "billing"
    assert second.call("quote", second.state(), amount=1)["label"] == "other"


def test_state_values_can_be_iterated_twice(box: Sandbox) -> None:
    values = box.state().values("users")
    assert [u["name"] for u in values] == ["Ada", "Bo"]
    assert [u["name"] for u in values] == ["Ada", "Bo"]
    assert len(values) == 2


def test_the_old_state_hash_hook_still_works_and_warns(tmp_path: Path) -> None:
    tools = TOOLS.replace("def state_fingerprint(", "def state_hash(")
    folder = write_sandbox(tmp_path, tools)
    with pytest.warns(FutureWarning, match="renamed|now called `state_fingerprint"):
        box = Sandbox.load(folder)
    assert box.state_hasher is not None
    assert box.state_hasher(box.state()) == "u1:0,u2:0"


def test_a_missing_mapped_collection_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_sandbox(tmp_path, toml='seed = "data"\n[collections]\nusers = "users.json"\n')
    with pytest.raises(SandboxError, match=r"no file for collection\(s\) users \(users.json\)"):
        Sandbox.load(folder)


def test_a_malformed_collections_setting_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_sandbox(tmp_path, toml='seed = "data"\ncollections = 3\n')
    with pytest.raises(SandboxError, match="collections: expected a list of file stems"):
        Sandbox.load(folder)


def test_call_refuses_invalid_arguments_as_a_tool_error(box: Sandbox) -> None:
    with pytest.raises(ToolError, match="seats: Input should be greater than or equal to 1"):
        box.call("set_seats", box.state(), user_id="u1", seats=0)


def test_google_docstrings_are_parsed_by_docstring_parser() -> None:
    doc = """Refund an order.

    Only delivered orders; the amount may not exceed
    the order total.

    Args:
        order_id: the order, such as
            'ord_1'.
        amount_usd (float): dollars.

    Returns:
        The refund record.
    """
    description, args = parse_docstring(doc)
    assert description == (
        "Refund an order.\n\nOnly delivered orders; the amount may not exceed the order total."
    )
    assert args == {"order_id": "the order, such as 'ord_1'.", "amount_usd": "dollars."}
    assert parse_docstring(None) == ("", {})


def test_a_state_hash_expectation_without_the_hook_says_which_hook(tmp_path: Path) -> None:
    write_sandbox(tmp_path, TOOLS.replace("def state_fingerprint(", "def _not_a_hook("))
    scenario = tmp_path / "no-hook.yaml"
    scenario.write_text(SCENARIO)
    result = agentbox.run(scenario, store=tmp_path / "t.db", root=tmp_path)
    check = next(e for e in result.expectations if e.name == "state_hash")
    assert not check.passed
    assert check.detail == "the sandbox defines no state_fingerprint hook (tools.py)"


def test_a_sibling_package_imported_by_name_is_forgotten_after_loading(tmp_path: Path) -> None:
    import sys

    box = tmp_path / "sandboxes" / "pkgbox"
    (box / "helpers").mkdir(parents=True)
    (box / "helpers" / "__init__.py").write_text("")
    (box / "helpers" / "names.py").write_text("NAME = 'pkgbox'\n")
    (box / "tools.py").write_text(
        "from agentbox import State, tool\n"
        "from helpers.names import NAME\n\n"
        "@tool\n"
        "def who(state: State) -> str:\n"
        '    """Say the name."""\n'
        "    return NAME\n"
    )
    loaded = Sandbox.load(box)
    assert loaded.call("who", loaded.state()) == "pkgbox"
    assert "helpers" not in sys.modules and "helpers.names" not in sys.modules
    assert "agentbox.sandbox.loader" in sys.modules
