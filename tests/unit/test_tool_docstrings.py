"""Unit tests of what a tool's Google-style docstring becomes: the description the model
sees and one description per argument in the JSON schema (through :func:`make_tool`, the
public path, whichever parser sits behind it)."""

from __future__ import annotations

from typing import Any

from agentbox.sandbox.state import State
from agentbox.sandbox.tools import make_tool


def refund(state: State, order_id: str, amount_usd: float, reason: str = "") -> dict[str, Any]:
    """Create a refund request for a delivered order.

    The amount may not exceed the order's total.

    Args:
        order_id: The order to refund,
            as printed on the receipt.
        amount_usd: Amount in USD.
        reason (str): Why, in the customer's words.

    Returns:
        The refund record.

    Raises:
        ToolError: the order is unknown.
    """
    return {}


def undocumented(state: State, x: int) -> int:
    return x


def one_line(state: State, x: int) -> int:
    """Double x."""
    return 2 * x


def props(fn: Any) -> dict[str, Any]:
    return make_tool(fn, effect="read").parameters["properties"]  # type: ignore[no-any-return]


def test_the_summary_paragraphs_become_the_description() -> None:
    spec = make_tool(refund, effect="write")
    assert spec.description.startswith("Create a refund request for a delivered order.")
    assert "The amount may not exceed the order's total." in spec.description
    for section_text in ("Args", "Returns", "The refund record", "Raises", "ToolError"):
        assert section_text not in spec.description


def test_each_argument_gets_its_description_joined_across_lines() -> None:
    p = props(refund)
    assert p["order_id"]["description"] == "The order to refund, as printed on the receipt."
    assert p["amount_usd"]["description"] == "Amount in USD."
    assert p["reason"]["description"] == "Why, in the customer's words."
    assert p["amount_usd"]["type"] == "number"


def test_no_docstring_means_no_descriptions() -> None:
    spec = make_tool(undocumented, effect="read")
    assert spec.description == ""
    assert "description" not in spec.parameters["properties"]["x"]
    assert make_tool(one_line, effect="read").description == "Double x."
