"""A PostgreSQL database as a state source: one ``REPEATABLE READ, READ ONLY`` transaction.

The transaction is held for the whole run, so every read sees the same snapshot; its
identity (``pg_current_snapshot()`` and ``pg_current_wal_lsn()``) is stored with the run.
The recommended set-up is a role with ``SELECT`` only (see the README); a connecting role
that could write to a mapped table is refused unless the mapping says
``writable_role: warn``.

psycopg 3 is imported here only (the ``postgres`` extra).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agentbox.errors import SandboxError
from agentbox.sandbox.sources.sql import SqlSource, Table, quote_ident, resolve_tables

_INT_TYPES = {"smallint", "integer", "bigint"}
_CURSORS = itertools.count()


def public_url(url: str) -> str:
    """``url`` without its password (what is stored with the run and shown)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresSource(SqlSource):
    """Rows of PostgreSQL tables (schema ``public`` by default), read in one snapshot.

    Args:
        url: a libpq URL, ``postgresql://user@host:port/db``.
        tables: the ``tables`` mapping (None: every table of the schema).
        where: what to name in mapping errors.
        options: ``schema`` (default ``public``), ``writable_role`` (``error`` or ``warn``),
            ``connect_timeout`` (seconds, default 5).

    Attributes:
        warnings: what the caller should tell the user (e.g. a writable role accepted).

    Raises:
        SandboxError: the database is unreachable, the mapping is wrong, or the role can
            write to a mapped table (unless ``writable_role: warn``).
    """

    placeholder = "%s"

    def __init__(
        self,
        url: str,
        tables: Mapping[str, Any] | None = None,
        where: str = "tables",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            import psycopg  # the postgres extra; only shadow runs over PostgreSQL need it
        except ImportError:
            raise SandboxError(
                "a postgresql:// state source needs psycopg 3",
                "pip install 'agentbox[postgres]'",
            ) from None
        options = dict(options or {})
        self.warnings: list[str] = []
        shown = public_url(url)
        try:
            self.conn = psycopg.connect(url, connect_timeout=int(options.get("connect_timeout", 5)))
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SandboxError(
                f"cannot connect to the state source {shown}: {first}",
                "check that the database is running and the URL (host, port, user, db)",
            ) from None
        try:
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.conn.read_only = True
            self._open(shown, tables, where, options)
        except BaseException:
            self.conn.close()
            raise

    def _open(
        self, shown: str, tables: Mapping[str, Any] | None, where: str, options: dict[str, Any]
    ) -> None:
        schema = str(options.get("schema", "public"))
        snap, lsn = self.conn.execute(
            "SELECT pg_current_snapshot()::text, "
            "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
            "ELSE pg_current_wal_lsn() END::text"
        ).fetchone()
        rows = self.conn.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
            "COALESCE(a.attnum = ANY(i.indkey), false) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm') "
            "ORDER BY c.relname, a.attnum",
            (schema,),
        ).fetchall()
        available: dict[str, tuple[list[str], list[str]]] = {}
        types: dict[str, dict[str, str]] = {}
        for table, column, type_, is_pk in rows:
            cols, pk = available.setdefault(table, ([], []))
            cols.append(column)
            if is_pk:
                pk.append(column)
            types.setdefault(table, {})[column] = type_
        self.tables = resolve_tables(tables, available, where)
        for table in self.tables.values():
            table.int_key = types[table.table][table.key] in _INT_TYPES
            if schema != "public":
                table.table = f"{schema}.{table.table}"  # quoted per part below
        self.schema = schema
        self._check_role(shown, schema, options)
        self._identity_data = {
            "kind": "postgresql",
            "url": shown,
            "snapshot": snap,
            "wal_lsn": lsn,
            "isolation": "repeatable read, read only",
            **({"warnings": self.warnings} if self.warnings else {}),
        }

    def _check_role(self, shown: str, schema: str, options: dict[str, Any]) -> None:
        writable = []
        for table in self.tables.values():
            name = table.table.split(".")[-1]
            (can_write,) = self.conn.execute(
                "SELECT has_table_privilege(format('%%I.%%I', %s::text, %s::text), "
                "'INSERT,UPDATE,DELETE,TRUNCATE')",
                (schema, name),
            ).fetchone()
            if can_write:
                writable.append(name)
        if not writable:
            return
        (role,) = self.conn.execute("SELECT current_user").fetchone()
        message = (
            f"the state source {shown}: role {role!r} can write to {', '.join(writable)} "
            "(agentbox opens a READ ONLY transaction, but a read-only role is the safe set-up)"
        )
        fix = (
            "connect as a role with SELECT only (README: PostgreSQL shadow runs), "
            "or set `writable_role: warn` in state_source to accept it"
        )
        if options.get("writable_role", "error") == "warn":
            self.warnings.append(f"{message}; {fix}")
            return
        raise SandboxError(message, fix)

    def _select(self, table: Table) -> str:
        name = ".".join(quote_ident(p) for p in table.table.split(".", 1))
        cols = ", ".join(quote_ident(c) for c in table.columns)
        return f"SELECT {cols} FROM {name}"

    def _iterate(self, sql: str) -> Iterator[tuple[Any, ...]]:
        # a server-side cursor: a scan of a big table streams instead of loading
        with self.conn.cursor(name=f"agentbox_scan_{next(_CURSORS)}") as cur:
            cur.itersize = 2000
            cur.execute(sql)
            yield from cur

    def close(self) -> None:
        """Roll back the read transaction and close the connection (idempotent)."""
        try:
            self.conn.rollback()
            self.conn.close()
        except Exception:  # the server may be gone already; nothing to release then
            pass
