"""What the SQLite and PostgreSQL sources share: table mapping, row conversion, queries.

These modules read the user's database through a read-only snapshot; they never write
to it, and they have nothing to do with the trace store (``store.py`` still owns every
write of SQL).

Row values become JSON-like values: dates, times and timestamps as ISO 8601 strings;
``NUMERIC``/``DECIMAL`` as floats (exact digits beyond a float's 15–17 are lost: map
money to integer cents or text if that matters); UUIDs as strings; bytes as hex strings;
JSON columns (PostgreSQL ``json``/``jsonb``, SQLite columns declared ``JSON``) as the
parsed value. Keys are strings (``str()`` of the key column's value).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentbox.errors import SandboxError

Record = dict[str, Any]


@dataclass
class Table:
    """One mapped table.

    Attributes:
        collection: the state collection name the tools use.
        table: the database table.
        key: the column whose value is the record key.
        columns: column names in table order.
        json_columns: columns whose text is parsed as JSON.
        int_key: whether the key column is an integer (lookups convert the key).
    """

    collection: str
    table: str
    key: str
    columns: list[str] = field(default_factory=list)
    json_columns: set[str] = field(default_factory=set)
    int_key: bool = False


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (``"a""b"``), valid in SQLite and PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


def json_value(value: Any) -> Any:
    """A database value as a JSON-like value (see the module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def resolve_tables(
    mapping: Mapping[str, Any] | None,
    available: dict[str, tuple[list[str], list[str]]],
    where: str,
) -> dict[str, Table]:
    """Check a ``tables`` mapping against the database and fill in defaults.

    Args:
        mapping: ``{collection: {table: NAME, key: COLUMN}}`` (a bare string is the table
            name); None maps every table to a collection of the same name.
        available: ``{table: (columns, primary key columns)}`` read from the database.
        where: what to name in errors (e.g. ``state_source.tables``).

    Raises:
        SandboxError: an unknown table or column, or a table without a usable key.
    """
    wanted: dict[str, dict[str, Any]] = {}
    if mapping is None:
        wanted = {name: {"table": name} for name in available}
    else:
        for collection, spec in mapping.items():
            spec = {"table": spec} if isinstance(spec, str) else dict(spec or {})
            spec.setdefault("table", collection)
            unknown = set(spec) - {"table", "key", "json"}
            if unknown:
                raise SandboxError(
                    f"{where}.{collection}: unknown field(s) {', '.join(sorted(unknown))}",
                    "a table mapping has `table`, `key` and `json` (a list of JSON columns)",
                )
            wanted[str(collection)] = spec
    tables: dict[str, Table] = {}
    for collection, spec in wanted.items():
        name = str(spec["table"])
        if name not in available:
            listing = ", ".join(sorted(available)) or "none"
            raise SandboxError(
                f"{where}.{collection}: no table {name!r} in the database (tables: {listing})",
                "fix the table name in the state_source mapping",
            )
        columns, primary = available[name]
        key = spec.get("key")
        if key is None:
            if len(primary) != 1:
                raise SandboxError(
                    f"{where}.{collection}: table {name!r} has "
                    + ("no primary key" if not primary else "a composite primary key")
                    + "; say which column is the key",
                    f"add `key: COLUMN` (columns: {', '.join(columns)})",
                )
            key = primary[0]
        if key not in columns:
            raise SandboxError(
                f"{where}.{collection}: table {name!r} has no column {key!r} "
                f"(columns: {', '.join(columns)})",
                "fix `key` in the state_source mapping",
            )
        extra_json = {str(c) for c in spec.get("json") or []}
        bad = extra_json - set(columns)
        if bad:
            raise SandboxError(
                f"{where}.{collection}: table {name!r} has no column(s) {', '.join(sorted(bad))}",
                "fix `json` in the state_source mapping",
            )
        tables[collection] = Table(collection, name, str(key), columns, extra_json)
    return tables


class SqlSource:
    """Base of the database sources: lookups by key and ordered scans over one snapshot.

    Subclasses set ``conn`` (a DB-API connection inside a read-only transaction),
    ``tables``, ``placeholder`` and :meth:`_identity`.
    """

    placeholder = "?"
    tables: dict[str, Table]
    conn: Any
    _identity_data: dict[str, Any]

    def collections(self) -> list[str]:
        """Mapped collection names, in mapping order."""
        return list(self.tables)

    def _record(self, table: Table, row: tuple[Any, ...]) -> tuple[str, Record]:
        record: Record = {}
        for column, value in zip(table.columns, row, strict=True):
            if column in table.json_columns and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            record[column] = json_value(value)
        return str(record[table.key]), record

    def _key_param(self, table: Table, key: str) -> Any:
        if table.int_key:
            try:
                return int(key)
            except ValueError:
                return None
        return key

    def _select(self, table: Table) -> str:
        cols = ", ".join(quote_ident(c) for c in table.columns)
        return f"SELECT {cols} FROM {quote_ident(table.table)}"

    def get(self, collection: str, key: str) -> Record | None:
        """The row whose key column equals ``key``, as a record; None when absent."""
        table = self.tables.get(collection)
        if table is None:
            return None
        param = self._key_param(table, key)
        if param is None:
            return None
        sql = f"{self._select(table)} WHERE {quote_ident(table.key)} = {self.placeholder}"
        row = self._fetchone(sql, (param,))
        return None if row is None else self._record(table, row)[1]

    def scan(self, collection: str) -> Iterator[tuple[str, Record]]:
        """Every row of the table in key order."""
        table = self.tables.get(collection)
        if table is None:
            return
        sql = f"{self._select(table)} ORDER BY {quote_ident(table.key)}"
        for row in self._iterate(sql):
            yield self._record(table, row)

    def identity(self) -> dict[str, Any]:
        """Kind, URL (no password), snapshot id and the table mapping."""
        return {
            **self._identity_data,
            "tables": {c: {"table": t.table, "key": t.key} for c, t in self.tables.items()},
        }

    def _fetchone(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        return self.conn.execute(sql, params).fetchone()  # type: ignore[no-any-return]

    def _iterate(self, sql: str) -> Iterator[tuple[Any, ...]]:
        yield from self.conn.execute(sql)


Opener = Callable[[str, Mapping[str, Any] | None, Mapping[str, Any]], SqlSource]
