"""Unit tests of :mod:`agentbox.yamlfile`: YAML with a line for every value, and the
bounds checked before anything large is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentbox.errors import ScenarioError
from agentbox.yamlfile import MAX_DEPTH, line_of, load_yaml, load_yaml_text

TEXT = """\
name: refund
agent:
  type: scripted
script:
  - say: hi
  - tool_calls:
      - get_order: {order_id: o1}
base: &base {a: 1}
merged:
  <<: *base
  b: 2
"""


def problem(text: str) -> tuple[int | None, str]:
    with pytest.raises(ScenarioError) as info:
        load_yaml_text(text, "s.yaml")
    (first, *_) = info.value.problems
    assert first.file == "s.yaml"
    return first.line, first.message


def test_values_and_their_lines() -> None:
    data, lines = load_yaml_text(TEXT, "s.yaml")
    assert data["script"][1]["tool_calls"][0] == {"get_order": {"order_id": "o1"}}
    assert data["merged"] == {"a": 1, "b": 2}
    assert lines[("name",)] == 1
    assert lines[("agent", "type")] == 3
    assert lines[("script", 0)] == 5
    assert lines[("script", 1, "tool_calls", 0, "get_order", "order_id")] == 7
    assert lines[("merged", "b")] == 11


def test_line_of_falls_back_to_the_nearest_enclosing_location() -> None:
    _, lines = load_yaml_text(TEXT, "s.yaml")
    assert line_of(lines, ("agent", "model")) == 2  # absent key: its mapping's line
    assert line_of(lines, ("script", 1, "tool_calls", 5)) == 6
    assert line_of({}, ("x",)) is None


def test_an_empty_document_is_none() -> None:
    assert load_yaml_text("", "s.yaml") == (None, {})
    assert load_yaml_text("# only a comment\n", "s.yaml") == (None, {})


def test_duplicate_keys_are_reported_with_both_lines() -> None:
    assert problem("a: 1\nb:\n  c: 1\n  c: 2\n") == (4, "duplicate key 'c' (first at line 3)")


def test_invalid_yaml_names_the_line() -> None:
    line, message = problem("a: 1\nb: [1, 2\nc: 3\n")
    assert line == 3
    assert message.startswith("invalid YAML: ")


def test_more_than_one_document_is_refused() -> None:
    line, message = problem("a: 1\n---\nb: 2\n")
    assert line == 2
    assert "expected a single document" in message


def test_an_undefined_alias_is_refused() -> None:
    line, message = problem("a: 1\nb: *nope\n")
    assert line == 2
    assert "nope" in message


def test_too_deep_nesting_is_refused_before_building_it() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert problem(deep) == (1, f"nested deeper than {MAX_DEPTH} levels")
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_yaml_text(ok, "s.yaml")[0] is not None


def test_billion_laughs_is_refused() -> None:
    rows = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 8):
        prev, cur = chr(ord("a") + n - 1), chr(ord("a") + n)
        rows.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    line, message = problem("\n".join(rows) + "\n")
    assert message.startswith("aliases expand to more than 100,000 nodes")
    assert line is not None and line >= 5


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert problem("a: &x\n  b: *x\n") == (2, "alias *x refers to a node that contains it")


def test_huge_integers_and_lone_surrogates_are_refused() -> None:
    assert problem("n: " + "9" * 5000 + "\n")[1] == "a number longer than 4000 digits"
    quoted = load_yaml_text("s: '" + "9" * 5000 + "'\n", "s.yaml")[0]  # a string: fine
    assert quoted == {"s": "9" * 5000}
    line, message = problem('a: 1\ns: "\\ud800"\n')  # libyaml refuses it as invalid YAML
    assert line == 2
    assert "surrogate" in message or "invalid Unicode character escape" in message


def test_a_bad_date_is_an_invalid_value() -> None:
    assert problem("d: 2024-02-30\n")[1].startswith("invalid value: ")


def test_load_yaml_reads_files_and_names_them(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(ScenarioError) as info:
        load_yaml(path)
    assert info.value.problems[0].line == 2
    assert "not UTF-8" in info.value.problems[0].message
    path.write_text("a: 1\n")
    assert load_yaml(path) == ({"a": 1}, {(): 1, ("a",): 1})
    with pytest.raises(ScenarioError, match="cannot read"):
        load_yaml(tmp_path / "missing.yaml")
