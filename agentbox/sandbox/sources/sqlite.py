"""A SQLite database file as a state source, opened read-only (``mode=ro``).

The run holds one read transaction from start to end, so it sees one consistent
snapshot; the snapshot's identity is the sha256 of the database file when it was opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from agentbox.errors import SandboxError
from agentbox.sandbox.sources.sql import SqlSource, quote_ident, resolve_tables


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class SqliteSource(SqlSource):
    """Rows of a SQLite file, read through one read-only transaction.

    Args:
        path: the database file (must exist; it is never created or written).
        tables: the ``tables`` mapping (None: every table, keyed by its primary key).
        where: what to name in mapping errors.

    Raises:
        SandboxError: the file is missing or not a database, or the mapping is wrong.
    """

    placeholder = "?"

    def __init__(
        self, path: Path, tables: Mapping[str, Any] | None = None, where: str = "tables"
    ) -> None:
        if not path.is_file():
            raise SandboxError(
                f"state source not found: {path}", "pass an existing SQLite database file"
            )
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        try:
            self.conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False
            )
            self.conn.execute("BEGIN")  # one snapshot for the whole run
            names = [
                r[0]
                for r in self.conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
                )
            ]
            available: dict[str, tuple[list[str], list[str]]] = {}
            types: dict[str, dict[str, str]] = {}
            for name in names:
                info = self.conn.execute(f"PRAGMA table_info({quote_ident(name)})").fetchall()
                cols = [str(r[1]) for r in info]
                pk = [str(r[1]) for r in sorted(info, key=lambda r: r[5]) if r[5]]
                available[name] = (cols, pk)
                types[name] = {str(r[1]): str(r[2]).upper() for r in info}
        except sqlite3.DatabaseError as exc:
            raise SandboxError(
                f"{path}: cannot read as a SQLite database: {exc}",
                "point the state source at a SQLite file",
            ) from None
        self.tables = resolve_tables(tables, available, where)
        for table in self.tables.values():
            declared = types[table.table]
            table.json_columns |= {c for c, t in declared.items() if "JSON" in t}
            table.int_key = "INT" in declared.get(table.key, "")
        self.path = path
        self._identity_data = {
            "kind": "sqlite",
            "url": f"sqlite:///{path.resolve()}",
            "snapshot": f"sha256:{file_sha256(path)}",
        }

    def close(self) -> None:
        """End the read transaction and close the connection (idempotent)."""
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
