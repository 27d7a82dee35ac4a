"""A throwaway PostgreSQL server for tests and benchmarks (initdb + pg_ctl in a temp dir).

PostgreSQL refuses to run as root: when we are root, the data folder belongs to the
``postgres`` user and the server runs through ``runuser -u postgres``. The server listens
on 127.0.0.1 only, on a free port, with ``trust`` authentication (loopback tests only).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RETAIL_SEED = Path(__file__).resolve().parent.parent / "sandboxes" / "retail" / "seed"


def available() -> str | None:
    """None when a server can be started here, else why not."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        return "PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'agentbox[postgres]')"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL refuses to run as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running server; ``url(user, db)`` connects to it."""

    folder: Path
    port: int

    def _as_owner(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def url(self, user: str = "postgres", db: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            self._as_owner(
                "pg_ctl", "-D", str(self.folder / "data"), "-o", opts,
                "-l", str(self.folder / "log"), "-w", "start",
            ),
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            self._as_owner("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop"),
            check=False, capture_output=True,
        )  # fmt: skip

    def execute(self, sql: str, params: Any = None, db: str = "postgres") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url(db=db), autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []


def start_server() -> PgServer:
    """initdb a temp folder and start a server on a free loopback port (~3 s)."""
    folder = Path(tempfile.mkdtemp(prefix="agentbox-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PgServer(folder, _free_port())
    subprocess.run(
        server._as_owner(
            "initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "--no-sync"
        ),
        check=True,
        capture_output=True,
    )
    server.start()
    return server


def remove(server: PgServer) -> None:
    """Stop the server and delete its folder."""
    server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


def _empty_tables() -> dict[str, dict[str, Any]]:
    """The columns of the retail seed's empty collections (from make_sqlite.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_sqlite", RETAIL_SEED.parent / "make_sqlite.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EMPTY_TABLES  # type: ignore[no-any-return]


def load_retail(server: PgServer, db: str = "shop", reader: str = "shadow_ro") -> None:
    """Create database ``db`` holding the retail seed (one table per collection, jsonb for
    nested values) and a role ``reader`` that may only SELECT (the recommended set-up)."""
    import psycopg

    server.execute(f"CREATE DATABASE {db}")
    with psycopg.connect(server.url(db=db), autocommit=True) as conn:
        for path in sorted(RETAIL_SEED.glob("*.json")):
            records = list(json.loads(path.read_text(encoding="utf-8")).values())
            sample = records or [_empty_tables().get(path.stem, {"id": ""})]
            columns: list[str] = []
            for record in sample:
                columns += [c for c in record if c not in columns]
            nested = {c for r in sample for c, v in r.items() if isinstance(v, dict | list)}
            floats = {c for r in sample for c, v in r.items() if isinstance(v, float)}

            def kind(c: str, nested: set[str] = nested, floats: set[str] = floats) -> str:
                return "jsonb" if c in nested else "double precision" if c in floats else "text"

            ddl = ", ".join(
                f'"{c}" {kind(c)}' + (" PRIMARY KEY" if c == "id" else "") for c in columns
            )
            conn.execute(f'CREATE TABLE "{path.stem}" ({ddl})')
            if records:
                marks = ", ".join("%s" for _ in columns)
                with conn.cursor() as cur:
                    cur.executemany(
                        f'INSERT INTO "{path.stem}" VALUES ({marks})',
                        [
                            tuple(
                                psycopg.types.json.Jsonb(r[c]) if c in nested and c in r
                                else r.get(c)
                                for c in columns
                            )
                            for r in records
                        ],
                    )  # fmt: skip
        conn.execute(f"CREATE ROLE {reader} LOGIN")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}")


def checksums(server: PgServer, db: str = "shop") -> dict[str, str]:
    """md5 of every table's rows in key order: ``{table: md5}``."""
    tables = [
        r[0]
        for r in server.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1", db=db
        )
    ]
    return {
        t: str(
            server.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                f'FROM "{t}" t',
                db=db,
            )[0][0]
        )
        for t in tables
    }
