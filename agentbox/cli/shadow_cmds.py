"""``agentbox shadow-diff``: what a shadow run would have changed, per table and row.

The statements printed by ``--sql`` are for review; agentbox never applies them.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from agentbox.cli.base import (
    JsonOpt,
    StoreOpt,
    _console,
    _open_store,
    _settings,
    command,
    fail,
    to_json,
)


@command("shadow-diff")
def shadow_diff_cmd(
    run_id: Annotated[
        str, typer.Argument(help="Run id or a unique prefix of it.", show_default=False)
    ],
    sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Print the UPDATE/INSERT/DELETE statements that would apply the diff to the source (never run).",
        ),
    ] = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Print the shadow diff of a run: every changed row, before and after, per table.

    The source was never written; with --sql the statements that would apply the diff
    are printed for review (agentbox never runs them). Works without the database: the
    run's recorded reads and patches are enough.

    Examples:

      agentbox shadow-diff 3fa2

      agentbox shadow-diff 3fa2 --json

      agentbox shadow-diff 3fa2 --sql > review.sql
    """
    from rich.markup import escape
    from rich.table import Table

    from agentbox.lifecycle import state_diff
    from agentbox.sandbox.sources.shadow_diff import by_table, to_sql

    trace_store = _open_store(_settings(), store)
    run = trace_store.get_run(run_id)
    identity = run.options.get("state_source")
    last = trace_store.step_count(run.id) - 1
    tables = by_table(state_diff(trace_store, run, -1, last), identity)
    if sql:
        if not identity:
            fail(
                f"run {run.id} did not read a database (its state came from "
                f"{run.options.get('seed_source') or 'the sandbox seed'})",
                "--sql needs a run whose state is sqlite:///... or postgresql://...",
            )
        header = (
            f"shadow diff of run {run.id} ({run.scenario}) against {identity.get('url')}\n"
            f"snapshot {identity.get('snapshot')}; the source may have changed since.\n"
            "For review: agentbox never applies these statements."
        )
        print(to_sql(tables, header), end="")
        return
    if as_json:
        print(to_json({"run": run.id, "mode": run.mode, "source": identity, "tables": tables}))
        return
    console = _console()
    if not tables:
        console.print(f"run {run.id}: no changes")
        return
    for group in tables:
        where = f" (table {group['table']}, key {group['key']})" if group["table"] else ""
        grid = Table(title=f"{group['collection']}{where}", title_justify="left", show_edge=False)
        for column in ("key", "op", "column", "before", "after"):
            grid.add_column(column)
        for row in group["rows"]:
            if row["op"] == "update":
                for column, before, after in _cells(row["columns"]):
                    grid.add_row(
                        escape(row["key"]), "update", escape(column), escape(before), escape(after)
                    )
            else:
                record = row["after"] if row["op"] == "insert" else row["before"]
                grid.add_row(escape(row["key"]), row["op"], "", "", escape(to_json(record)))
        console.print(grid)


def _cells(columns: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(column or column/path, before, after)`` lines; nested values by what changed."""
    import json

    import jsonpatch
    from jsonpointer import resolve_pointer

    def short(value: Any) -> str:
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:79] + "…"

    out = []
    for column, values in columns.items():
        before, after = values["before"], values["after"]
        if not (isinstance(before, dict | list) and isinstance(after, dict | list)):
            out.append((column, short(before), short(after)))
            continue
        for op in jsonpatch.make_patch(before, after).patch:
            old = resolve_pointer(before, op["path"], None) if op["op"] != "add" else None
            new = op.get("value") if op["op"] != "remove" else None
            out.append((f"{column}{op['path']}", short(old), short(new)))
    return out
