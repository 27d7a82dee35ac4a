"""YAML loading that remembers where every value came from (for file:line errors)."""

from __future__ import annotations

import re
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


MAX_BYTES = 32 * 1024 * 1024
"""Largest YAML file read (scenario or case): 32 MiB."""
MAX_DEPTH = 100
"""Deepest nesting of mappings and sequences accepted."""
MAX_ALIAS_NODES = 100_000
"""Most nodes that aliases (``*name``) may add when expanded: a few kilobytes of
anchors can otherwise expand to gigabytes ("billion laughs")."""
MAX_INT_DIGITS = 4000
"""Longest integer accepted (Python refuses to convert more than 4,300 digits)."""

_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT = re.compile(r"[-+]?(0b|0o|0x)?[0-9a-fA-F_:]+")


def read_text(path: Path, hint: str = "") -> str:
    """Read a YAML file as UTF-8, refusing files over :data:`MAX_BYTES`.

    Raises:
        ScenarioError: missing, unreadable, too large, or not UTF-8 (naming the line).
    """
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(
            [Problem(str(path), None, "", f"cannot read: {exc.strerror or exc}")],
            hint or "check the path (scenario files live in the scenarios folder)",
        ) from exc
    if len(raw) > MAX_BYTES:
        raise ScenarioError(
            [Problem(str(path), None, "", f"file is larger than {MAX_BYTES // 2**20} MiB")],
            "split it, or keep large data in the sandbox's seed files",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            [
                Problem(
                    str(path),
                    line,
                    "",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                )
            ],
            "save the file as UTF-8",
        ) from None


def yaml_problem(exc: yaml.YAMLError, file: str, text: str = "") -> Problem:
    """A PyYAML error as a ``file:line: invalid YAML: ...`` problem."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = f"invalid YAML: {exc.problem or exc}"
        if exc.context:
            message += f" ({exc.context})"
        return Problem(file, line, "", message)
    if isinstance(exc, yaml.reader.ReaderError):  # a control character in the file
        line = text[: exc.position].count("\n") + 1 if text else None
        what = (
            f"character U+{exc.character:04X}"
            if isinstance(exc.character, int)
            else f"byte {exc.character!r}"
        )
        return Problem(
            file,
            line,
            "",
            f"invalid YAML: {what} is not allowed in a YAML file "
            '(write control characters as escapes in a double-quoted string, e.g. "\\e")',
        )
    return Problem(file, None, "", f"invalid YAML: {exc}")


def check_bounds(text: str, file: str) -> None:
    """Refuse YAML that would take unbounded time or memory to load, before loading it:
    nesting deeper than :data:`MAX_DEPTH`, aliases that expand to more than
    :data:`MAX_ALIAS_NODES` extra nodes or refer to their own enclosing node, integers
    longer than :data:`MAX_INT_DIGITS` digits, and strings holding lone surrogates
    (``"\\ud800"``), which no file, terminal or database can store.

    One pass over the parser's events (libyaml's when installed): linear in the text.

    Raises:
        ScenarioError: the first problem, with its line.
    """
    loader = _PARSER(text)
    sizes: dict[str, int] = {}  # anchor -> nodes it expands to
    open_anchors: set[str] = set()
    stack: list[list[Any]] = [[None, 0]]  # [anchor, nodes so far] per open collection
    extra = 0  # nodes added by aliases

    def fail(event: Any, message: str, hint: str = "") -> None:
        raise ScenarioError([Problem(file, event.start_mark.line + 1, "", message)], hint)

    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) > MAX_DEPTH:
                    fail(event, f"nested deeper than {MAX_DEPTH} levels", "flatten the data")
                stack.append([event.anchor, 1])
                if event.anchor:
                    open_anchors.add(event.anchor)
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, size = stack.pop()
                stack[-1][1] += size
                if anchor:
                    sizes[anchor] = size
                    open_anchors.discard(anchor)
            elif isinstance(event, yaml.ScalarEvent):
                value = event.value
                if _SURROGATE.search(value):
                    fail(event, "a string holds a lone surrogate (such as \\ud800)")
                if (
                    len(value) > MAX_INT_DIGITS
                    and event.implicit[0]
                    and not event.style
                    and _INT.fullmatch(value)
                ):
                    fail(event, f"a number longer than {MAX_INT_DIGITS} digits")
                stack[-1][1] += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor in open_anchors:
                    fail(event, f"alias *{event.anchor} refers to a node that contains it")
                size = sizes.get(event.anchor or "", 1)
                extra += size
                stack[-1][1] += size
                if extra > MAX_ALIAS_NODES:
                    fail(
                        event,
                        f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                        f"(at *{event.anchor})",
                        "write the data out instead of nesting aliases of aliases",
                    )
    except yaml.YAMLError as exc:
        raise ScenarioError([yaml_problem(exc, file, text)]) from None
    finally:
        loader.dispose()


def load_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file, bounded (see :func:`check_bounds`).

    Returns:
        ``(data, lines)`` where ``lines`` maps a location tuple (keys and list indexes
        from the document root) to its 1-based line number.

    Raises:
        ScenarioError: the file is missing, unreadable, too large, not UTF-8, not valid
            YAML or unbounded (with its line).
    """
    return load_yaml_text(read_text(path), path)


def load_yaml_text(text: str, path: Path | str) -> tuple[Any, dict[Loc, int]]:
    """:func:`load_yaml` for text already read; ``path`` names it in errors."""
    check_bounds(text, str(path))
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ScenarioError([yaml_problem(exc, str(path), text)]) from exc
    except ValueError as exc:  # a value the constructor cannot build (a bad date...)
        raise ScenarioError([Problem(str(path), None, "", f"invalid value: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    if node is not None:
        duplicates: list[Problem] = []
        _find_duplicates(node, path, duplicates)
        if duplicates:
            raise ScenarioError(duplicates)
        _walk(node, (), lines)
    return data, lines


def _find_duplicates(node: yaml.Node, path: Path | str, out: list[Problem]) -> None:
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
