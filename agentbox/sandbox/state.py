"""Sandbox state: collections of JSON-like records, copy-on-write over a shared seed.

A run never copies the whole state. It reads through an overlay that holds only the
records the run changed; the seed (``base``) is shared between runs and never modified.
Every change is recorded as RFC 6902 operations with paths ``/<collection>/<key>/...``,
which the runner drains after each tool call and stores with the step. The cost of a
write is proportional to the record it touches, never to the size of the state.

Records handed out by the read methods are the stored objects: treat them as read-only
and change state only through :meth:`State.put`, :meth:`State.edit` and
:meth:`State.delete` (``edit`` hands out a private copy and records what changed).

A tool declared ``effect="read"`` runs with the state read-only (:func:`reading_only`):
its writes raise :class:`ReadOnlyStateError` before anything changes, in every mode.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import jsonpatch
from jsonpointer import escape, unescape

from agentbox.errors import SandboxError, ToolError
from agentbox.sandbox.sources.base import SourceView, StateSource

Record = Any
Collections = Mapping[str, Mapping[str, Record]]
Op = dict[str, Any]

_DELETED = object()


class ReadOnlyStateError(ToolError):
    """A tool declared ``effect="read"`` tried to change the state; nothing was changed.

    A :class:`ToolError`, so the call is recorded as a tool error and the run goes on.
    """


def copy_json(value: Any) -> Any:
    """Deep-copy a JSON-like value (dicts, lists, scalars); ~5x faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


class _Unsupported(Exception):
    """A change :func:`_edit_ops` leaves to jsonpatch's general diff."""


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON, types included (``1``, ``1.0`` and ``True`` differ, as in jsonpatch)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) or (a != a and b != b)  # NaN is NaN in JSON's eyes


_SCALARS = frozenset({str, int, float, bool})


def _escape(key: str) -> str:
    """``jsonpointer.escape`` with a fast path for keys with nothing to escape."""
    if type(key) is str and "~" not in key and "/" not in key:
        return key
    return escape(key)


def _edit_ops(path: str, old: Any, new: Any, ops: list[Op]) -> None:
    """The operations ``jsonpatch.make_patch`` gives for the usual edit of a record --
    fields set to new values, items appended to a list -- found in one walk, without a
    general diff; anything else (a key added or removed, a list reordered, a string
    extended) raises :class:`_Unsupported`."""
    if isinstance(old, dict) and isinstance(new, dict):
        if old.keys() != new.keys():
            raise _Unsupported
        for k, v in old.items():
            w = new[k]
            if v is w or (type(v) is type(w) and type(v) in _SCALARS and v == w):
                continue  # unchanged (a draft shares its scalars with the record)
            _edit_ops(f"{path}/{_escape(k)}", v, w, ops)
    elif isinstance(old, list) and isinstance(new, list):
        if len(new) < len(old) or not all(_same(x, y) for x, y in zip(old, new, strict=False)):
            raise _Unsupported
        ops.extend(
            {"op": "add", "path": f"{path}/{i}", "value": new[i]} for i in range(len(old), len(new))
        )
    elif not _same(old, new):
        if isinstance(old, str) and isinstance(new, str) and new.startswith(old):
            raise _Unsupported  # jsonpatch may write an ``append``
        ops.append({"op": "replace", "path": path, "value": new})


def record_diff(collection: str, key: str, old: Record, new: Record) -> list[Op]:
    """RFC 6902 operations turning ``old`` into ``new`` at ``/collection/key``.

    The same operations as ``jsonpatch.make_patch``; a field edit or a list append is
    found in one walk of the record (~20x faster), other changes take the general diff.
    """
    prefix = f"/{escape(collection)}/{escape(key)}"
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[Op] = []
        try:
            _edit_ops(prefix, old, new, ops)
        except (_Unsupported, TypeError):
            pass
        else:
            return ops
    if isinstance(old, dict | list) and isinstance(new, dict | list):
        ops = jsonpatch.make_patch(old, new).patch
        return [{**op, "path": prefix + op["path"]} for op in ops]
    if old == new and type(old) is type(new):
        return []
    return [{"op": "replace", "path": prefix, "value": copy_json(new)}]


class State:
    """The state one run sees and changes.

    Args:
        base: the seed, ``{collection: {key: record}}``; shared and never modified. A
            :class:`~agentbox.sandbox.sources.StateSource` (e.g. a database) is read
            lazily through a recording view: a record is fetched when first asked for.
    """

    def __init__(self, base: Collections | StateSource) -> None:
        if not isinstance(base, Mapping):
            base = SourceView(base)
        self._base: Collections = base
        self._overlay: dict[str, dict[str, Any]] = {}
        self._new_collections: list[str] = []
        self._ops: list[Op] = []
        self._readers: list[str] = []  # read tools running now (innermost last)

    # ---- reading -------------------------------------------------------------------
    def collections(self) -> list[str]:
        """Names of the collections, seed order first."""
        return [*self._base.keys(), *self._new_collections]

    def has(self, collection: str, key: str) -> bool:
        """Whether ``collection`` holds a record under ``key``."""
        return self._lookup(collection, key) is not _DELETED

    def get(self, collection: str, key: str, default: Any = None) -> Record:
        """The record under ``key`` (read-only), or ``default``."""
        value = self._lookup(collection, key)
        return default if value is _DELETED else value

    def items(self, collection: str) -> Iterator[tuple[str, Record]]:
        """``(key, record)`` pairs in insertion order (records are read-only)."""
        base = self._base.get(collection, {})
        changed = self._overlay.get(collection)
        if not changed:
            yield from base.items()
            return
        for key, value in base.items():
            current = changed.get(key, value)
            if current is not _DELETED:
                yield key, current
        for key, value in changed.items():
            if key not in base and value is not _DELETED:
                yield key, value

    def keys(self, collection: str) -> list[str]:
        """Keys of ``collection`` in insertion order."""
        return [k for k, _ in self.items(collection)]

    def values(self, collection: str) -> list[Record]:
        """Records of ``collection`` in insertion order (read-only), as a new list."""
        return [v for _, v in self.items(collection)]

    def count(self, collection: str) -> int:
        """Number of records in ``collection``."""
        return sum(1 for _ in self.items(collection))

    # ---- writing -------------------------------------------------------------------
    @contextmanager
    def read_only(self, tool: str) -> Iterator[None]:
        """Refuse writes while the block runs (``tool`` names the read tool in the error)."""
        self._readers.append(tool)
        try:
            yield
        finally:
            self._readers.pop()

    def _check_writable(self, what: str, collection: str, key: str) -> None:
        if self._readers:
            tool = self._readers[-1]
            raise ReadOnlyStateError(
                f"read tool {tool} tried to {what} {collection}/{key}; the write was refused "
                f'(declare the tool @tool(effect="write") if it changes state)'
            )

    def put(self, collection: str, key: str, record: Record) -> None:
        """Insert or replace the record under ``key``; records the change as a patch.

        Raises:
            ReadOnlyStateError: called from a read tool.
        """
        self._check_writable("put", collection, key)
        self._ensure_collection(collection)
        old = self._lookup(collection, key)
        new = copy_json(record)
        if old is _DELETED:
            path = f"/{escape(collection)}/{escape(key)}"
            self._ops.append({"op": "add", "path": path, "value": copy_json(new)})
        else:
            self._ops.extend(record_diff(collection, key, old, new))
        self._overlay.setdefault(collection, {})[key] = new

    @contextmanager
    def edit(self, collection: str, key: str) -> Iterator[Record]:
        """Yield a private copy of a record; what the block changes is saved and patched.

        Raises:
            KeyError: no record under ``key`` (tools usually turn this into a ToolError).
            ReadOnlyStateError: called from a read tool.
        """
        self._check_writable("edit", collection, key)
        old = self._lookup(collection, key)
        if old is _DELETED:
            raise KeyError(f"{collection}/{key}")
        draft = copy_json(old)
        yield draft
        self._ops.extend(record_diff(collection, key, old, draft))
        self._overlay.setdefault(collection, {})[key] = draft

    def delete(self, collection: str, key: str) -> None:
        """Remove the record under ``key``.

        Raises:
            KeyError: no record under ``key``.
            ReadOnlyStateError: called from a read tool.
        """
        self._check_writable("delete", collection, key)
        if self._lookup(collection, key) is _DELETED:
            raise KeyError(f"{collection}/{key}")
        self._ops.append({"op": "remove", "path": f"/{escape(collection)}/{escape(key)}"})
        self._overlay.setdefault(collection, {})[key] = _DELETED

    def drain_patch(self) -> list[Op]:
        """Return and forget the operations recorded since the last call."""
        ops, self._ops = self._ops, []
        return ops

    def apply_patch(self, ops: list[Op]) -> None:
        """Apply RFC 6902 operations (as recorded by this class) through the overlay.

        Used to rebuild the state at a step from the seed and the stored patches, and to
        apply edits before a fork. Raises SandboxError on a path outside the state.
        """
        grouped: dict[tuple[str, str], list[Op]] = {}
        order: list[tuple[str, str]] = []
        for op in ops:
            parts = [unescape(p) for p in op["path"].split("/")[1:]]
            if len(parts) == 1:  # a whole collection
                if op["op"] == "add" and parts[0] not in self.collections():
                    self._new_collections.append(parts[0])
                    for key, value in (op.get("value") or {}).items():
                        self._overlay.setdefault(parts[0], {})[key] = copy_json(value)
                    continue
                raise SandboxError(f"unsupported patch on a whole collection: {op}")
            if len(parts) < 2:
                raise SandboxError(f"patch path outside the state: {op['path']!r}")
            coll, key, rest = parts[0], parts[1], parts[2:]
            if not rest:
                self._flush(grouped, order)
                grouped, order = {}, []
                if op["op"] == "remove":
                    self._overlay.setdefault(coll, {})[key] = _DELETED
                else:
                    self._ensure_collection(coll)
                    self._overlay.setdefault(coll, {})[key] = copy_json(op["value"])
                continue
            sub = {**op, "path": "/" + "/".join(escape(p) for p in rest)}
            if (coll, key) not in grouped:
                order.append((coll, key))
            grouped.setdefault((coll, key), []).append(sub)
        self._flush(grouped, order)

    def _flush(
        self, grouped: dict[tuple[str, str], list[Op]], order: list[tuple[str, str]]
    ) -> None:
        for coll, key in order:
            current = self._lookup(coll, key)
            if current is _DELETED:
                raise SandboxError(f"patch touches a missing record: /{coll}/{key}")
            try:
                updated = jsonpatch.apply_patch(current, grouped[(coll, key)], in_place=False)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise SandboxError(f"patch does not apply to /{coll}/{key}: {exc}") from exc
            self._overlay.setdefault(coll, {})[key] = updated

    # ---- whole-state views ---------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, Record]]:
        """The whole current state as plain dicts (shares unchanged records with the seed)."""
        return {c: dict(self.items(c)) for c in self.collections()}

    def changes(self) -> list[tuple[str, str, Record | None, Record | None]]:
        """``(collection, key, before, after)`` for every record this run changed.

        ``before`` is None for an inserted record and ``after`` None for a deleted one;
        records changed and changed back are left out.
        """
        out = []
        for coll, changed in self._overlay.items():
            base = self._base.get(coll, {})
            for key, after in changed.items():
                before = base.get(key)
                after_value = None if after is _DELETED else after
                if before != after_value:
                    out.append((coll, key, before, after_value))
        return out

    def _lookup(self, collection: str, key: str) -> Any:
        changed = self._overlay.get(collection)
        if changed is not None and key in changed:
            return changed[key]
        return self._base.get(collection, {}).get(key, _DELETED)

    def _ensure_collection(self, collection: str) -> None:
        if collection not in self._base and collection not in self._new_collections:
            self._new_collections.append(collection)
            self._ops.append({"op": "add", "path": f"/{escape(collection)}", "value": {}})


def reading_only(fn: Callable[..., Any], tool: str) -> Callable[..., Any]:
    """``fn(state, ...)`` run with ``state`` read-only (how read tools are called).

    A first argument that is not a :class:`State` is passed through untouched.
    """
    if getattr(fn, "__agentbox_read_only__", False):
        return fn

    @functools.wraps(fn)
    def call(state: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(state, State):
            return fn(state, *args, **kwargs)
        with state.read_only(tool):
            return fn(state, *args, **kwargs)

    call.__agentbox_read_only__ = True  # type: ignore[attr-defined]
    return call
