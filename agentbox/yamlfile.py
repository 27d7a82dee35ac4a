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


def yaml_error(exc: yaml.YAMLError, file: str, text: str = "") -> ScenarioError:
    """A PyYAML syntax error as a :class:`ScenarioError` (:func:`yaml_problem`) whose
    hint is about YAML syntax (no field is named, so no schema hint)."""
    problem = yaml_problem(exc, file, text)
    near = f" near line {problem.line}" if problem.line else ""
    if isinstance(exc, yaml.reader.ReaderError):
        hint = f"remove or escape the character{near}"
    else:
        hint = f"check the indentation (spaces, not tabs), colons and quotes{near}"
    return ScenarioError([problem], hint)


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
    try:
        _Composer(loader, file, text, build=False).run()
    finally:
        loader.dispose()


def load_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file, bounded (see :func:`check_bounds`).

    Returns:
        ``(data, lines)`` where ``lines`` maps a location tuple (keys and list indexes
        from the document root) to its 1-based line number.

    Raises:
        ScenarioError: the file is missing, unreadable, too large, not UTF-8, not valid
            YAML, has a duplicate key or is unbounded (with its line).
    """
    return load_yaml_text(read_text(path), path)


def load_yaml_text(text: str, path: Path | str) -> tuple[Any, dict[Loc, int]]:
    """:func:`load_yaml` for text already read; ``path`` names it in errors.

    The text is parsed once: one pass over libyaml's events checks the bounds, builds
    PyYAML's node tree (iteratively: depth costs no stack), finds duplicate keys and
    notes every location's line; PyYAML's safe constructor then builds the values.
    """
    loader = _PARSER(text)
    try:
        composer = _Composer(loader, str(path), text, build=True)
        node = composer.run()
        if composer.duplicates:
            raise ScenarioError(composer.duplicates)
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, str(path), text) from exc
    except ValueError as exc:  # a value the constructor cannot build (a bad date...)
        raise ScenarioError([Problem(str(path), None, "", f"invalid value: {exc}")]) from None
    finally:
        loader.dispose()
    return data, composer.lines


class _Composer:
    """One pass over a loader's parser events: the bounds of :func:`check_bounds`, and
    with ``build`` what PyYAML's ``Composer.get_single_node`` returns (same nodes, same
    errors), the duplicate keys and the line of every location (:func:`load_yaml`).

    The stack holds one frame per open collection: ``[node, anchor, nodes so far,
    location (None inside a mapping key), index or pending key, keys seen]``.
    """

    def __init__(self, loader: Any, file: str, text: str, *, build: bool) -> None:
        self.loader, self.file, self.text, self.build = loader, file, text, build
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[Problem] = []
        self.sizes: dict[str, int] = {}  # anchor -> nodes it expands to
        self.open_anchors: set[str] = set()
        self.anchors: dict[str, yaml.Node] = {}
        self.extra = 0  # nodes added by aliases

    def fail(self, event: Any, message: str, hint: str = "") -> None:
        raise ScenarioError([Problem(self.file, event.start_mark.line + 1, "", message)], hint)

    def run(self) -> yaml.Node | None:
        """The document's root node (None: empty stream; always None without ``build``).

        Raises:
            ScenarioError: a bound is exceeded, or the text is not valid YAML.
        """
        loader = self.loader
        try:
            loader.get_event()  # StreamStart
            if loader.check_event(yaml.StreamEndEvent):
                return None
            first = loader.get_event()  # DocumentStart
            root = self._document()
            loader.get_event()  # DocumentEnd
            if not loader.check_event(yaml.StreamEndEvent):
                event = loader.get_event()
                raise yaml.composer.ComposerError(
                    "expected a single document in the stream",
                    first.start_mark,
                    "but found another document",
                    event.start_mark,
                )
            return root
        except yaml.YAMLError as exc:
            raise yaml_error(exc, self.file, self.text) from None

    def _document(self) -> yaml.Node | None:
        loader, build = self.loader, self.build
        stack: list[list[Any]] = [[None, None, 0, (), None, None]]
        node: yaml.Node | None
        while True:
            event: Any = loader.get_event()  # libyaml's and PyYAML's events alike
            frame = stack[-1]
            if _isa(event, yaml.CollectionEndEvent):
                node, anchor, size, _loc, _at, _keys = stack.pop()
                if build:
                    node.end_mark = event.end_mark
                stack[-1][2] += size
                if anchor:
                    self.sizes[anchor] = size
                    self.open_anchors.discard(anchor)
                if len(stack) == 1:
                    return node if build else None
                self._add(stack[-1], node, event)
                continue
            loc = self._location(frame)
            if _isa(event, yaml.AliasEvent):
                anchor = event.anchor or ""
                if anchor in self.open_anchors:
                    self.fail(event, f"alias *{anchor} refers to a node that contains it")
                size = self.sizes.get(anchor, 1)
                self.extra += size
                frame[2] += size
                if self.extra > MAX_ALIAS_NODES:
                    self.fail(
                        event,
                        f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (at *{anchor})",
                        "write the data out instead of nesting aliases of aliases",
                    )
                node = self.anchors.get(anchor) if build else None
                if build and node is None:
                    raise yaml.composer.ComposerError(
                        None, None, f"found undefined alias {anchor!r}", event.start_mark
                    )
                if node is not None and loc is not None:  # its lines, at this location too
                    _walk(node, loc, self.lines)
            elif _isa(event, yaml.ScalarEvent):
                value = event.value
                if _SURROGATE.search(value):
                    self.fail(event, "a string holds a lone surrogate (such as \\ud800)")
                if (
                    len(value) > MAX_INT_DIGITS
                    and event.implicit[0]
                    and not event.style
                    and _INT.fullmatch(value)
                ):
                    self.fail(event, f"a number longer than {MAX_INT_DIGITS} digits")
                frame[2] += 1
                node = None
                if event.anchor:
                    self.sizes[event.anchor] = 1
                if build:
                    tag = event.tag
                    if tag is None or tag == "!":
                        tag = loader.resolve(yaml.ScalarNode, value, event.implicit)
                    node = yaml.ScalarNode(
                        tag, value, event.start_mark, event.end_mark, style=event.style
                    )
                    self._anchor(event, node)
                    if loc is not None:
                        self.lines[loc] = event.start_mark.line + 1
            else:  # a collection starts
                if len(stack) > MAX_DEPTH:
                    self.fail(event, f"nested deeper than {MAX_DEPTH} levels", "flatten the data")
                node = None
                if build:
                    kind = (
                        yaml.SequenceNode
                        if _isa(event, yaml.SequenceStartEvent)
                        else yaml.MappingNode
                    )
                    tag = event.tag
                    if tag is None or tag == "!":
                        tag = loader.resolve(kind, None, event.implicit)
                    node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
                    self._anchor(event, node)
                    if loc is not None:
                        self.lines[loc] = event.start_mark.line + 1
                if event.anchor:
                    self.open_anchors.add(event.anchor)
                keys: dict[str, int] | None = {} if _isa(event, yaml.MappingStartEvent) else None
                stack.append([node, event.anchor, 1, loc, 0 if keys is None else None, keys])
                continue
            if len(stack) == 1:  # a scalar (or alias) document
                return node if build else None
            self._add(frame, node, event)

    def _anchor(self, event: Any, node: yaml.Node) -> None:
        anchor = event.anchor
        if anchor is None:
            return
        if anchor in self.anchors:
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {anchor!r}; first occurrence",
                self.anchors[anchor].start_mark,
                "second occurrence",
                event.start_mark,
            )
        self.anchors[anchor] = node

    def _location(self, frame: list[Any]) -> Loc | None:
        """Where the next node of ``frame`` sits (None: not built, inside a mapping key,
        a key itself, or the value of a key that is not a scalar)."""
        parent, _anchor, _size, loc, at, keys = frame
        if loc is None or not self.build:
            return None
        if keys is None:
            return loc if parent is None else (*loc, at)
        if not isinstance(at, yaml.ScalarNode):  # a key comes next, or a complex key's value
            return None
        return (*loc, at.value)

    def _add(self, frame: list[Any], node: Any, event: Any) -> None:
        """Put a finished node into its parent collection's frame."""
        parent, _anchor, _size, loc, at, keys = frame
        if keys is None:  # a sequence
            if self.build:
                parent.value.append(node)
            frame[4] = at + 1
            return
        if at is None:  # a key: its value comes next
            frame[4] = node if self.build else _KEY
            if self.build:
                name, line = str(node.value), node.start_mark.line + 1
                if name != "<<" and name in keys:
                    self.duplicates.append(
                        Problem(
                            self.file,
                            line,
                            "",
                            f"duplicate key {name!r} (first at line {keys[name]})",
                        )
                    )
                keys.setdefault(name, line)
            return
        if self.build:
            parent.value.append((at, node))
            if loc is not None and isinstance(at, yaml.ScalarNode):
                self.lines[(*loc, at.value)] = at.start_mark.line + 1
        frame[4] = None


def _isa(event: Any, kind: type) -> bool:
    """``isinstance`` that leaves ``event`` typed ``Any`` (libyaml's marks are another type)."""
    return isinstance(event, kind)


_KEY = object()
"""Stands for a finished mapping key when nodes are not built."""


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, or of its nearest enclosing location that has one."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
