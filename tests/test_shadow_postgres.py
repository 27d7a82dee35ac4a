"""Shadow runs over a real PostgreSQL (issue 20): started per session by initdb + pg_ctl.

The source is read in one ``REPEATABLE READ, READ ONLY`` transaction by a role that may
only SELECT; its tables' row checksums are the same after every run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from shadow import kill_after_the_write, slow_shadow_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pgserver

from agentbox.config import load_settings
from agentbox.runner import Runner, RunOptions, plan_run
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "shadow-sqlite.yaml"  # same mapping, another database

_why = pgserver.available()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")


@pytest.fixture(scope="session")
def pg() -> Iterator[pgserver.PgServer]:
    server = pgserver.start_server()
    try:
        pgserver.load_retail(server)
        yield server
    finally:
        pgserver.remove(server)


@pytest.fixture()
def url(pg: pgserver.PgServer) -> str:
    return pg.url("shadow_ro", "shop")


def test_shadow_run_reads_its_own_writes_and_leaves_the_tables_untouched(
    cli, pg: pgserver.PgServer, url: str, stored_runs, store_path: Path
) -> None:
    before = pgserver.checksums(pg)
    result = cli("run", SCENARIO, "--state", url, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    changed = {(c["collection"], c["key"]) for c in data["changes"]}
    assert changed == {("customers", "cus_1042"), ("tickets", "tkt_9001")}
    assert pgserver.checksums(pg) == before
    (run,) = stored_runs()
    source = run.options["state_source"]
    assert source["kind"] == "postgresql"
    assert source["url"] == url and source["snapshot"] and source["wal_lsn"]
    assert source["isolation"] == "repeatable read, read only"
    reads = TraceStore(store_path).get_blob(run.seed_hash)
    assert list(reads["customers"]) == ["cus_1042"]  # lazy: one of 130 customers read
    # no session of the run is left open on the server
    assert pg.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE usename='shadow_ro'", db="shop"
    ) == [(0,)]


def test_a_write_to_the_source_during_the_run_is_not_seen(
    pg: pgserver.PgServer, url: str, tmp_path: Path
) -> None:
    plan = plan_run(SCENARIO, load_settings(ROOT), RunOptions(state_path=url))
    old = pg.execute("SELECT name FROM customers WHERE id='cus_1042'", db="shop")[0][0]
    pg.execute("UPDATE customers SET name='Changed Meanwhile' WHERE id='cus_1042'", db="shop")
    try:
        store = TraceStore(tmp_path / "t.db")
        result = Runner(plan, store).run()
        lookup = [s for s in store.steps(result.run_id) if s.name == "lookup_customer"][0]
        assert old in lookup.data["result"]
        assert "Changed Meanwhile" not in lookup.data["result"]
    finally:
        pg.execute("UPDATE customers SET name=%s WHERE id='cus_1042'", (old,), db="shop")


def test_replay_fork_and_export_work_with_the_database_stopped(
    cli, pg: pgserver.PgServer, url: str, stored_runs, tmp_path: Path
) -> None:
    assert cli("run", SCENARIO, "--state", url).exit_code == 0
    (run,) = stored_runs()
    pg.stop()
    try:
        down = cli("run", SCENARIO, "--state", url)
        assert down.exit_code == 2 and "cannot connect" in down.output  # it is really down
        replay = cli("replay", run.id)
        assert replay.exit_code == 0, replay.output
        assert "identical" in replay.output
        fork = cli("fork", run.id, "--at", "3", "--set", "customers.cus_1042.tier=gold")
        assert fork.exit_code == 0, fork.output
        shown = cli("show", run.id, "--state", "--json")
        assert shown.exit_code == 0 and "88 Lake Shore Dr" in shown.output
        suite = tmp_path / "suite"
        assert cli("export", run.id, "--suite", suite, "--name", "pg").exit_code == 0
        tested = cli("test", suite)
        assert tested.exit_code == 0, tested.output
    finally:
        pg.start()


def test_sigkill_mid_run_leaves_the_source_untouched(
    pg: pgserver.PgServer, url: str, tmp_path: Path
) -> None:
    before = pgserver.checksums(pg)
    kill_after_the_write(slow_shadow_scenario(tmp_path, url), tmp_path / "traces.db")
    assert pgserver.checksums(pg) == before
    (line1,) = pg.execute("SELECT address->>'line1' FROM customers WHERE id='cus_1042'", db="shop")[
        0
    ]
    assert line1 != "1 Kill St"


def test_an_unreachable_database_is_a_clear_error_and_writes_nothing(cli, store_path: Path) -> None:
    result = cli("run", SCENARIO, "--state", "postgresql://nobody@127.0.0.1:1/shop")
    assert result.exit_code == 2, result.output
    assert "cannot connect to the state source postgresql://nobody@127.0.0.1:1/shop" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert not store_path.exists()


def test_a_password_never_reaches_the_store_or_the_error(cli, store_path: Path) -> None:
    result = cli("run", SCENARIO, "--state", "postgresql://nobody:s3cr3t-pw@127.0.0.1:1/shop")
    assert result.exit_code == 2
    assert "s3cr3t-pw" not in result.output


def test_a_role_that_can_write_is_refused_with_the_fix(
    cli, pg: pgserver.PgServer, store_path: Path
) -> None:
    result = cli("run", SCENARIO, "--state", pg.url("postgres", "shop"))
    assert result.exit_code == 2, result.output
    assert "role 'postgres' can write to customers" in result.output
    assert "SELECT only" in result.output and "writable_role: warn" in result.output
    assert not store_path.exists()


def test_a_writable_role_accepted_with_warn_is_warned_about(
    cli, pg: pgserver.PgServer, tmp_path: Path
) -> None:
    data = yaml.safe_load(SCENARIO.read_text())
    data["state"] = pg.url("postgres", "shop")
    data["state_source"]["writable_role"] = "warn"
    path = tmp_path / "warned.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    before = pgserver.checksums(pg)
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "can write to" in result.output
    assert pgserver.checksums(pg) == before


def test_a_wrong_key_column_is_a_clear_error(
    cli, url: str, tmp_path: Path, store_path: Path
) -> None:
    data = yaml.safe_load(SCENARIO.read_text())
    data["state"] = url
    data["state_source"]["tables"]["orders"] = {"table": "orders", "key": "order_no"}
    path = tmp_path / "badkey.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = cli("run", path)
    assert result.exit_code == 2, result.output
    assert "state_source.tables.orders: table 'orders' has no column 'order_no'" in result.output
    assert not store_path.exists()


def test_shadow_diff_sql_applied_to_a_copy_gives_the_overlay(
    cli, pg: pgserver.PgServer, url: str, tmp_path: Path, stored_runs
) -> None:
    import psycopg

    from agentbox.sandbox.sources.postgres import PostgresSource

    data = yaml.safe_load(SCENARIO.read_text())
    data["state"] = url
    data["script"] = [
        {
            "tool_calls": [
                {
                    "update_address": {
                        "customer_id": "cus_1042",
                        "line1": "1 O'Hare Way",
                        "city": "Chicago",
                        "state_code": "IL",
                        "zip": "60666",
                    }
                },
                {"create_refund": {"order_id": "ord_5120", "amount_usd": 64.5}},
            ]
        },
        {"say": "done"},
    ]
    data["script"][0]["tool_calls"][1]["create_refund"]["idempotency_key"] = "r-5120"
    data.pop("expect")
    path = tmp_path / "refund.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert cli("run", path).exit_code == 0
    (run,) = stored_runs()
    diff = {
        t["collection"]: t
        for t in json.loads(cli("shadow-diff", run.id, "--json").stdout)["tables"]
    }
    statements = cli("shadow-diff", run.id, "--sql").stdout
    pg.execute("DROP DATABASE IF EXISTS shop_copy")
    pg.execute("CREATE DATABASE shop_copy TEMPLATE shop")
    with psycopg.connect(pg.url(db="shop_copy"), autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[call-overload]
    copy = PostgresSource(pg.url(db="shop_copy"), options={"writable_role": "warn"})
    try:
        assert copy.get("customers", "cus_1042") == diff["customers"]["rows"][0]["after"]
        refund = diff["refunds"]["rows"][0]
        assert refund["op"] == "insert"
        assert copy.get("refunds", refund["key"])["id"] == refund["key"]
    finally:
        copy.close()
        pg.execute("DROP DATABASE shop_copy")
