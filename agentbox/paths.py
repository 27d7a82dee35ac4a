"""Dotted paths into JSON-like data: ``refunds[-1].status``, ``orders.ord_1.items[0].qty``.

One grammar for every place agentbox reads or writes such a path: ``expect.state`` checks
(:func:`agentbox.evals.resolve_path`), ``fork --set``, the expectations ``export``
derives from a run, and the field named in a scenario error. A path is a name followed
by ``.name`` and ``[index]`` segments; a name holds no ``.``, ``[`` or ``]``. Turning a
path into a JSON pointer (RFC 6901, for patches) is jsonpointer's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from jsonpointer import JsonPointer

Segment = str | int
"""A name (``str``) or a list index (``int``, negative counts from the end)."""

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")
_NAME = re.compile(r"[^.\[\]]+")


def parse_path(path: str) -> list[Segment]:
    """The segments of ``path``: ``"a.b[0][-1].c"`` -> ``["a", "b", 0, -1, "c"]``.

    Lenient: characters that form no segment (a doubled ``.``, a stray ``]``) are skipped.
    ``[]`` and ``[x]`` are not indexes. Never raises.
    """
    return [m.group(1) if m.group(2) is None else int(m.group(2)) for m in _SEGMENT.finditer(path)]


def is_name(text: str) -> bool:
    """Whether ``text`` can be written as a name segment (non-empty, no ``.``/``[``/``]``)."""
    return _NAME.fullmatch(text) is not None


def format_path(segments: Iterable[Segment]) -> str:
    """The dotted form of ``segments`` (the inverse of :func:`parse_path` for names that
    pass :func:`is_name`): ``["a", 0, "b"]`` -> ``"a[0].b"``."""
    text = ""
    for part in segments:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def to_pointer(segments: Iterable[Segment]) -> str:
    """The JSON pointer of ``segments`` (``["a/b", 0]`` -> ``"/a~1b/0"``)."""
    return str(JsonPointer.from_parts([str(s) for s in segments]).path)
