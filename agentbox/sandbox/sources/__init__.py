"""State sources: JSON/YAML snapshots, SQLite files and PostgreSQL databases.

:func:`open_source` turns what ``state:`` / ``--state`` says into a source; a database
source is wrapped in a :class:`SourceView` so that :class:`~agentbox.sandbox.state.State`
reads it lazily and the run records what it read (see ``base.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentbox.errors import SandboxError
from agentbox.sandbox.sources.base import DictSource, SourceView, StateSource

__all__ = ["DictSource", "SourceView", "StateSource", "is_source_url", "open_source"]

_SCHEMES = ("sqlite:", "postgresql:", "postgres:")


def is_source_url(text: str | Path | None) -> bool:
    """Whether ``text`` names a database (``sqlite:///...``, ``postgresql://...``)."""
    return isinstance(text, str) and text.startswith(_SCHEMES)


def sqlite_path(url: str, base: Path) -> Path:
    """The file of a ``sqlite:///rel.db`` (relative to ``base``) or ``sqlite:////abs.db`` URL.

    Raises:
        SandboxError: the URL has no path.
    """
    rest = url[len("sqlite:") :]
    if not rest.startswith("///") or len(rest) == 3:
        raise SandboxError(
            f"bad SQLite URL {url!r}",
            "write sqlite:///relative/path.db or sqlite:////absolute/path.db",
        )
    path = Path(rest[3:])
    return path if path.is_absolute() else (base / path).resolve()


def open_source(
    url: str,
    base: Path,
    tables: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    where: str = "state_source.tables",
) -> SourceView:
    """Open a database source for one run (read-only, one snapshot) as a lazy view.

    Args:
        url: ``sqlite:///path.db`` or ``postgresql://user@host:port/db``.
        base: the folder relative SQLite paths are resolved against.
        tables: ``{collection: {table, key, json}}``; None maps every table.
        options: source options (PostgreSQL: ``schema``, ``writable_role``).
        where: the mapping's location, named in errors.

    Raises:
        SandboxError: unreachable database, wrong mapping, writable role.
    """
    source: Any
    if url.startswith("sqlite:"):
        from agentbox.sandbox.sources.sqlite import SqliteSource  # each driver only when used

        source = SqliteSource(sqlite_path(url, base), tables, where)
    else:
        from agentbox.sandbox.sources.postgres import PostgresSource  # psycopg: optional extra

        source = PostgresSource(url, tables, where, options)
    return SourceView(source)
