"""The shadow diff as an artifact: per table and row, and as SQL statements for review.

Input is what :meth:`State.changes` / ``lifecycle.state_diff`` return: ``(collection,
key, before, after)`` with ``before`` None for an insert and ``after`` None for a delete.
The table mapping comes from the run's stored source identity. agentbox never applies
the statements: they are printed for a human to review.
"""

from __future__ import annotations

import json
import math
from typing import Any

from agentbox.sandbox.sources.sql import quote_ident

Change = tuple[str, str, Any, Any]


def by_table(changes: list[Change], identity: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The changes grouped per collection, each row with its columns before and after.

    Returns:
        ``[{"collection", "table", "key", "rows": [{"key", "op", "before", "after",
        "columns": {column: {"before", "after"}}}]}]``; ``table``/``key`` are None for a
        collection that has no table in the source (or a run without a database).
    """
    tables = (identity or {}).get("tables") or {}
    out: dict[str, dict[str, Any]] = {}
    for coll, key, before, after in changes:
        mapped = tables.get(coll) or {}
        group = out.setdefault(
            coll,
            {
                "collection": coll,
                "table": mapped.get("table"),
                "key": mapped.get("key"),
                "rows": [],
            },
        )
        op = "insert" if before is None else "delete" if after is None else "update"
        columns: dict[str, Any] = {}
        if isinstance(before, dict) and isinstance(after, dict):
            for column in [*before, *(c for c in after if c not in before)]:
                if before.get(column) != after.get(column) or (column in before) != (
                    column in after
                ):
                    columns[column] = {"before": before.get(column), "after": after.get(column)}
        group["rows"].append(
            {"key": key, "op": op, "before": before, "after": after, "columns": columns}
        )
    return list(out.values())


def sql_literal(value: Any) -> str:
    """A SQL literal for a JSON-like value (strings quoted with ``''``; objects as JSON text)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"'{value}'"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return "'" + str(value).replace("'", "''") + "'"


def _name(table: str) -> str:
    return ".".join(quote_ident(p) for p in table.split(".", 1))


def to_sql(tables: list[dict[str, Any]], header: str = "") -> str:
    """Statements that would apply :func:`by_table`'s diff to the source, in one transaction.

    Updates set only the columns that changed; collections without a source table are
    listed in comments, not guessed.
    """
    lines = [f"-- {line}" for line in header.splitlines()]
    lines.append("BEGIN;")
    for group in tables:
        if not group["table"]:
            lines.append(
                f"-- collection {group['collection']!r} has no table in the source: "
                f"{len(group['rows'])} change(s) not expressible"
            )
            continue
        table, key = _name(group["table"]), quote_ident(group["key"])
        for row in group["rows"]:
            where = f"{key} = {sql_literal(row['key'])}"
            if row["op"] == "delete":
                lines.append(f"DELETE FROM {table} WHERE {where};")
            elif row["op"] == "insert":
                record = row["after"] if isinstance(row["after"], dict) else {}
                cols = ", ".join(quote_ident(c) for c in record)
                vals = ", ".join(sql_literal(v) for v in record.values())
                lines.append(f"INSERT INTO {table} ({cols}) VALUES ({vals});")
            elif row["columns"]:
                sets = ", ".join(
                    f"{quote_ident(c)} = {sql_literal(v['after'])}"
                    for c, v in row["columns"].items()
                )
                lines.append(f"UPDATE {table} SET {sets} WHERE {where};")
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"
