"""Build a SQLite copy of the retail seed: the database a shadow run reads (stdlib only).

Usage::

    python sandboxes/retail/make_sqlite.py OUT.db [SEED_DIR]

One table per collection (``customers``, ``orders``, ...), primary key ``id``; scalar
fields become ``TEXT``/``INTEGER``/``REAL`` columns, nested objects and lists ``JSON``
columns (agentbox parses those back). A field a record lacks is ``NULL``, so it reads
back as ``null``. The file is never committed; tests build it in a temporary folder.
``scenarios/shadow-sqlite.yaml`` expects it at ``scenarios/snapshots/retail.db``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# the empty collections' records, as the tools write them
EMPTY_TABLES = {
    "refunds": {
        "id": "",
        "order_id": "",
        "customer_id": "",
        "amount_usd": 0.0,
        "reason": "",
        "idempotency_key": "",
        "status": "",
        "payment_method_id": "",
        "created_at": "",
    },
    "emails": {
        "id": "",
        "customer_id": "",
        "to": "",
        "subject": "",
        "body": "",
        "status": "",
        "sent_at": "",
    },
}


def _type(values: list[Any]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds & {dict, list}:
        return "JSON"
    if kinds <= {int, bool}:
        return "INTEGER"
    if kinds <= {int, float}:
        return "REAL"
    return "TEXT"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def build(out: Path, seed: Path = HERE / "seed") -> Path:
    """Write ``out`` (replacing it) from the JSON files of ``seed``; returns ``out``."""
    out.unlink(missing_ok=True)
    conn = sqlite3.connect(out)
    with conn:
        for path in sorted(seed.glob("*.json")):
            records: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
            sample = list(records.values()) or [EMPTY_TABLES.get(path.stem, {"id": ""})]
            columns: list[str] = []
            for record in sample:
                columns += [c for c in record if c not in columns]
            types = {c: _type([r.get(c) for r in sample]) for c in columns}
            ddl = ", ".join(
                f"{_q(c)} {types[c]}" + (" PRIMARY KEY" if c == "id" else "") for c in columns
            )
            conn.execute(f"CREATE TABLE {_q(path.stem)} ({ddl})")
            marks = ", ".join("?" for _ in columns)
            rows = [
                tuple(
                    json.dumps(r.get(c)) if types[c] == "JSON" and c in r else r.get(c)
                    for c in columns
                )
                for r in records.values()
            ]
            conn.executemany(f"INSERT INTO {_q(path.stem)} VALUES ({marks})", rows)
    conn.close()
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    seed_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "seed"
    print(build(Path(sys.argv[1]), seed_dir))
