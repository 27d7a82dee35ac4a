"""Unit tests of :mod:`agentbox.paths`, the one dotted-path grammar (expectations,
``fork --set``, derived expectations, error field names)."""

from __future__ import annotations

import pytest

from agentbox.paths import format_path, is_name, parse_path, to_pointer


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("refunds[-1].status", ["refunds", -1, "status"]),
        ("orders.ord_1.items[0].qty", ["orders", "ord_1", "items", 0, "qty"]),
        ("a[0][1]", ["a", 0, 1]),
        ("a.0", ["a", "0"]),  # a name that looks like a number stays a name
        ("a..b", ["a", "b"]),
        ("", []),
    ],
)
def test_parse_path(text: str, segments: list[str | int]) -> None:
    assert parse_path(text) == segments


@pytest.mark.parametrize("text", ["refunds[-1].status", "orders.ord_1.items[0].qty", "a[0][1]"])
def test_format_path_is_the_inverse_of_parse_path(text: str) -> None:
    assert format_path(parse_path(text)) == text


def test_is_name() -> None:
    assert is_name("ord_5531") and is_name("a-b c")
    assert not any(is_name(t) for t in ("", "a.b", "a[0]", "x]"))


def test_to_pointer_escapes_per_rfc_6901() -> None:
    assert to_pointer(["files", "a/b~c", 0]) == "/files/a~1b~0c/0"
    assert to_pointer([]) == ""
