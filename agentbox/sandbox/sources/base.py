"""State sources: where a run's state comes from, read lazily and recorded.

A :class:`StateSource` answers three questions about its data: which collections it has,
the record under one key, and every record of a collection in order. A JSON/YAML snapshot
(:class:`DictSource`, today's behaviour) answers from memory; a database source
(``sqlite.py``, ``postgres.py``) answers from one read-only snapshot held for the run.

:class:`SourceView` adapts a source into the ``{collection: {key: record}}`` mapping that
:class:`~agentbox.sandbox.state.State` reads through, and records every record it hands
out (the *read set*). The read set is what the runner stores as the run's seed, so replay,
fork, ``show --state`` and export work later without the source.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

Record = Any


class StateSource(Protocol):
    """What a run's state is read from (records are JSON-like dicts)."""

    def collections(self) -> list[str]:
        """Collection names, in a stable order."""
        ...

    def get(self, collection: str, key: str) -> Record | None:
        """The record under ``key``, or None when there is none."""
        ...

    def scan(self, collection: str) -> Iterator[tuple[str, Record]]:
        """``(key, record)`` for every record of ``collection``, in key order."""
        ...

    def identity(self) -> dict[str, Any]:
        """What this snapshot is: ``{"kind", "url", "snapshot", "tables"}`` (stored with the run)."""
        ...

    def close(self) -> None:
        """End the snapshot (release the read transaction); idempotent."""
        ...


class DictSource:
    """A source over in-memory collections (a JSON/YAML snapshot already loaded)."""

    def __init__(self, data: Mapping[str, Mapping[str, Record]], name: str = "") -> None:
        self.data = data
        self.name = name

    def collections(self) -> list[str]:
        """Collection names in file order."""
        return list(self.data)

    def get(self, collection: str, key: str) -> Record | None:
        """The record under ``key`` or None."""
        return self.data.get(collection, {}).get(key)

    def scan(self, collection: str) -> Iterator[tuple[str, Record]]:
        """Records in file order."""
        yield from self.data.get(collection, {}).items()

    def identity(self) -> dict[str, Any]:
        """``{"kind": "file", "url": name}``."""
        return {"kind": "file", "url": self.name}

    def close(self) -> None:
        """Nothing to release."""


class _CollectionView(Mapping[str, Record]):
    """One collection of a :class:`SourceView`: lookups go to the source once, then memory."""

    def __init__(self, view: SourceView, name: str) -> None:
        self._view = view
        self._name = name
        self._rows: dict[str, Record | None] = {}  # key -> record (None: known missing)
        self._complete = False

    def _fetch(self, key: str) -> Record | None:
        if key in self._rows:
            return self._rows[key]
        if self._complete:
            return None
        record = self._view.source.get(self._name, key)
        self._rows[key] = record
        if record is not None:
            self._view.dirty = True
        return record

    def __getitem__(self, key: str) -> Record:
        record = self._fetch(key)
        if record is None:
            raise KeyError(key)
        return record

    def get(self, key: str, default: Any = None) -> Any:
        record = self._fetch(key)
        return default if record is None else record

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._fetch(key) is not None

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.items())

    def __len__(self) -> int:
        return sum(1 for _ in self.items())

    def items(self) -> Iterator[tuple[str, Record]]:  # type: ignore[override]
        if self._complete:
            yield from ((k, v) for k, v in self._rows.items() if v is not None)
            return
        seen: dict[str, Record | None] = {}
        for key, record in self._view.source.scan(self._name):
            known = self._rows.get(key)
            value = known if known is not None else record  # keep handed-out objects
            seen[key] = value
            if key not in self._rows:
                self._rows[key] = value
                self._view.dirty = True
            yield key, value
        # a full scan: keep the source's order (replay iterates the read set in it)
        self._rows = {**seen, **{k: v for k, v in self._rows.items() if k not in seen}}
        self._complete = True
        self._view.dirty = True

    def values(self) -> Iterator[Record]:  # type: ignore[override]
        return (v for _, v in self.items())

    def keys(self) -> Iterator[str]:  # type: ignore[override]
        return (k for k, _ in self.items())

    def read(self) -> dict[str, Record]:
        """The records read so far (missing keys left out)."""
        return {k: v for k, v in self._rows.items() if v is not None}


class SourceView(Mapping[str, Mapping[str, Record]]):
    """``{collection: {key: record}}`` over a :class:`StateSource`, recording what is read.

    Nothing is loaded up front: a record is fetched the first time it is asked for and
    kept (the same object is handed out again, as with a loaded seed). A collection is
    read whole only when something iterates it.

    Attributes:
        source: the source read through.
        dirty: True when the read set grew since :meth:`read_set` was last called.
    """

    def __init__(self, source: StateSource) -> None:
        self.source = source
        self.dirty = False
        self._names = source.collections()
        self._views = {name: _CollectionView(self, name) for name in self._names}

    def __getitem__(self, name: str) -> Mapping[str, Record]:
        return self._views[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def read_set(self) -> dict[str, dict[str, Record]]:
        """Every record read so far, ``{collection: {key: record}}`` (clears ``dirty``).

        Collections that were never touched are present and empty, so a replay sees the
        same collection names.
        """
        self.dirty = False
        return {name: view.read() for name, view in self._views.items()}
