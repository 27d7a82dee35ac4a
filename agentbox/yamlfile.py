"""YAML loading that remembers where every value came from (for file:line errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agentbox.errors import Problem, ScenarioError

Loc = tuple[str | int, ...]


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*loc, key), lines)
            lines[(*loc, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), lines)


def load_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file.

    Returns:
        ``(data, lines)`` where ``lines`` maps a location tuple (keys and list indexes
        from the document root) to its 1-based line number.

    Raises:
        ScenarioError: the file is missing, unreadable or not valid YAML (with its line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(
            [Problem(str(path), None, "", f"cannot read: {exc.strerror}")],
            "check the path (scenario files live in the scenarios folder)",
        ) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = f"invalid YAML: {exc.problem or exc}"
        if exc.context:
            message += f" ({exc.context})"
        raise ScenarioError([Problem(str(path), line, "", message)]) from exc
    lines: dict[Loc, int] = {}
    if node is not None:
        duplicates: list[Problem] = []
        _find_duplicates(node, path, duplicates)
        if duplicates:
            raise ScenarioError(duplicates)
        _walk(node, (), lines)
    return data, lines


def _find_duplicates(node: yaml.Node, path: Path, out: list[Problem]) -> None:
    """A repeated mapping key silently replaces the first: report it instead."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key != "<<" and key in seen:
                out.append(
                    Problem(
                        str(path), line, "", f"duplicate key {key!r} (first at line {seen[key]})"
                    )
                )
            seen.setdefault(key, line)
            _find_duplicates(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _find_duplicates(item, path, out)


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, or of its nearest enclosing location that has one."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
