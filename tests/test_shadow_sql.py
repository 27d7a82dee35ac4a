"""Shadow runs over a real SQLite file (issue 20): lazy reads, an untouched source, a read
set that makes replay, fork, ``show --state`` and export work without the database."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from shadow import kill_after_the_write, slow_shadow_scenario

from agentbox.config import load_settings
from agentbox.runner import Runner, RunOptions, plan_run
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "shadow-sqlite.yaml"


def _build(out: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "make_sqlite", ROOT / "sandboxes/retail/make_sqlite.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(out)  # type: ignore[no-any-return]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _url(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path gives sqlite:////...


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return _build(tmp_path / "retail.db")


def test_shadow_run_reads_its_own_writes_and_leaves_the_file_untouched(
    cli, db: Path, stored_runs
) -> None:
    before = _sha(db)
    result = cli("run", SCENARIO, "--state", _url(db), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {c["collection"] for c in data["changes"]} == {"customers", "tickets"}
    assert _sha(db) == before
    assert not Path(f"{db}-journal").exists() and not Path(f"{db}-wal").exists()
    (run,) = stored_runs()
    source = run.options["state_source"]
    assert source["kind"] == "sqlite" and source["snapshot"] == f"sha256:{before}"
    assert source["tables"]["customers"] == {"table": "customers", "key": "id"}


def test_reads_are_lazy_and_recorded(db: Path, tmp_path: Path) -> None:
    settings = load_settings(ROOT)
    store = TraceStore(tmp_path / "t.db")
    plan = plan_run(SCENARIO, settings, RunOptions(state_path=_url(db)))
    assert plan.source is not None and plan.source.read_set()["customers"] == {}
    result = Runner(plan, store).run()
    assert result.status == "completed"
    run = store.get_run(result.run_id)
    reads = store.get_blob(run.seed_hash)
    # only what the tools asked for, not the 130 customers of the table
    assert list(reads["customers"]) == ["cus_1042"]
    assert list(reads["tickets"]) == ["tkt_9001"]
    assert reads["orders"] == {}
    # later reads see the run's own write (the overlay), the recorded seed does not
    lookup = [s for s in store.steps(run.id) if s.name == "lookup_customer"][0]
    assert "88 Lake Shore Dr" in lookup.data["result"]
    assert reads["customers"]["cus_1042"]["address"]["line1"] != "88 Lake Shore Dr"


def test_a_write_to_the_source_during_the_run_is_not_seen(db: Path, tmp_path: Path) -> None:
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")  # readers and a writer at once
    settings = load_settings(ROOT)
    plan = plan_run(SCENARIO, settings, RunOptions(state_path=_url(db)))  # snapshot taken
    with writer:
        writer.execute("UPDATE customers SET name='Changed Meanwhile' WHERE id='cus_1042'")
    assert writer.execute("SELECT name FROM customers WHERE id='cus_1042'").fetchone() == (
        "Changed Meanwhile",
    )
    store = TraceStore(tmp_path / "t.db")
    result = Runner(plan, store).run()
    lookup = [s for s in store.steps(result.run_id) if s.name == "lookup_customer"][0]
    assert "Maya Okafor" in lookup.data["result"]
    assert "Changed Meanwhile" not in lookup.data["result"]
    writer.close()


def test_replay_fork_show_and_export_work_with_the_database_gone(
    cli, db: Path, stored_runs, tmp_path: Path
) -> None:
    assert cli("run", SCENARIO, "--state", _url(db)).exit_code == 0
    (run,) = stored_runs()
    db.unlink()
    replay = cli("replay", run.id)
    assert replay.exit_code == 0, replay.output
    assert "identical" in replay.output
    shown = cli("show", run.id, "--state", "--json")
    assert shown.exit_code == 0, shown.output
    assert "88 Lake Shore Dr" in shown.output
    fork = cli("fork", run.id, "--at", "3", "--set", "customers.cus_1042.tier=gold")
    assert fork.exit_code == 0, fork.output
    suite = tmp_path / "suite"
    exported = cli("export", run.id, "--suite", suite, "--name", "shadow-db")
    assert exported.exit_code == 0, exported.output
    case = yaml.safe_load((suite / "shadow-db.yaml").read_text())
    assert case["scenario"]["state"] == "shadow-db.state.json"
    assert "state_source" not in case["scenario"]
    state = json.loads((suite / "shadow-db.state.json").read_text())
    assert list(state["customers"]) == ["cus_1042"]
    tested = cli("test", suite)
    assert tested.exit_code == 0, tested.output


def test_sigkill_mid_run_leaves_the_source_untouched(db: Path, tmp_path: Path) -> None:
    before = _sha(db)
    store_path = tmp_path / "traces.db"
    kill_after_the_write(slow_shadow_scenario(tmp_path, _url(db)), store_path)
    assert _sha(db) == before
    check = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    (address,) = check.execute("SELECT address FROM customers WHERE id='cus_1042'").fetchone()
    assert "1 Kill St" not in address
    check.close()
    store = TraceStore(store_path)
    (run,) = store.list_runs(limit=None)
    assert list(store.get_blob(run.seed_hash)["customers"]) == ["cus_1042"]  # reads saved
    store.close()


def _scenario_with(tmp_path: Path, db: Path, mapping: dict[str, Any]) -> Path:
    data = yaml.safe_load(SCENARIO.read_text())
    data["state"] = _url(db)
    data["state_source"] = {"tables": mapping}
    path = tmp_path / "mapped.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mapping", "says"),
    [
        ({"customers": {"table": "clients"}}, "no table 'clients' in the database"),
        ({"customers": {"table": "customers", "key": "uid"}}, "has no column 'uid'"),
    ],
    ids=["unknown-table", "unknown-key"],
)
def test_a_wrong_mapping_is_a_clear_error_and_writes_nothing(
    cli, db: Path, tmp_path: Path, store_path: Path, mapping: dict[str, Any], says: str
) -> None:
    path = _scenario_with(tmp_path, db, mapping)
    result = cli("run", path)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "mapped.yaml" in result.output and "state_source" in result.output
    assert "Traceback" not in result.output
    assert not store_path.exists()


def test_a_missing_database_file_is_a_clear_error(cli, tmp_path: Path, store_path: Path) -> None:
    result = cli("run", SCENARIO, "--state", _url(tmp_path / "nope.db"))
    assert result.exit_code == 2, result.output
    assert "state source not found" in result.output
    assert not store_path.exists()


def _refund_scenario(tmp_path: Path, db: Path) -> Path:
    data = yaml.safe_load(SCENARIO.read_text())
    data["state"] = _url(db)
    data["script"] = [
        {
            "tool_calls": [
                {
                    "update_address": {
                        "customer_id": "cus_1042",
                        "line1": "1 O'Hare Way",  # a quote the SQL must escape
                        "city": "Chicago",
                        "state_code": "IL",
                        "zip": "60666",
                    }
                },
                {
                    "create_refund": {
                        "order_id": "ord_5120",
                        "amount_usd": 64.5,
                        "idempotency_key": "r-5120",
                        "reason": "it's damaged",
                    }
                },
            ]
        },
        {"say": "done"},
    ]
    data.pop("expect")
    path = tmp_path / "refund.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_shadow_diff_per_row_and_its_sql_reproduces_the_overlay(
    cli, db: Path, tmp_path: Path, stored_runs
) -> None:
    from agentbox.sandbox.sources.sqlite import SqliteSource

    before = _sha(db)
    assert cli("run", _refund_scenario(tmp_path, db)).exit_code == 0
    (run,) = stored_runs()
    listed = cli("shadow-diff", run.id, "--json")
    assert listed.exit_code == 0, listed.output
    tables = {t["collection"]: t for t in json.loads(listed.stdout)["tables"]}
    (customer,) = tables["customers"]["rows"]
    assert customer["op"] == "update" and list(customer["columns"]) == ["address"]
    assert customer["columns"]["address"]["after"]["line1"] == "1 O'Hare Way"
    (refund,) = tables["refunds"]["rows"]
    assert refund["op"] == "insert" and refund["before"] is None
    shown = json.loads(cli("show", run.id, "--json").stdout)["shadow_diff"]
    assert {t["collection"] for t in shown} == {"customers", "refunds"}

    statements = cli("shadow-diff", run.id, "--sql")
    assert statements.exit_code == 0, statements.output
    assert 'UPDATE "customers" SET "address" = \'{' in statements.stdout
    assert "O''Hare" in statements.stdout and 'INSERT INTO "refunds"' in statements.stdout
    assert _sha(db) == before  # printed, never applied
    # applied to a copy by hand, the statements give exactly the run's overlay
    copy = tmp_path / "copy.db"
    copy.write_bytes(db.read_bytes())
    with sqlite3.connect(copy) as conn:
        conn.executescript(statements.stdout)
    applied = SqliteSource(copy)
    assert applied.get("customers", "cus_1042") == customer["after"]
    assert applied.get("refunds", refund["key"]) == refund["after"]
    applied.close()


def test_shadow_diff_sql_needs_a_database_run(cli, stored_runs) -> None:
    assert cli("run", ROOT / "scenarios" / "shadow-address.yaml").exit_code == 0
    (run,) = stored_runs()
    assert cli("shadow-diff", run.id).exit_code == 0
    result = cli("shadow-diff", run.id, "--sql")
    assert result.exit_code == 2
    assert "did not read a database" in result.output


def test_fork_live_state_reads_the_database_again_and_states_the_snapshot_change(
    cli, db: Path, stored_runs
) -> None:
    assert cli("run", SCENARIO, "--state", _url(db)).exit_code == 0
    (parent,) = stored_runs()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE customers SET name='Renamed Live' WHERE id='cus_1042'")
    conn.close()
    recorded = cli("fork", parent.id, "--at", "3", "--message", "again")
    assert recorded.exit_code == 0, recorded.output
    assert "Renamed Live" not in recorded.output  # the recorded reads, not the database
    live = cli("fork", parent.id, "--at", "3", "--live-state")
    assert live.exit_code == 0, live.output
    assert "live state: a newer snapshot" in live.output
    fork = max((r for r in stored_runs() if r.parent_id == parent.id), key=lambda r: r.started_at)
    assert fork.options["state_source"]["snapshot"] == f"sha256:{_sha(db)}"
    assert fork.options["state_source"]["snapshot"] != parent.options["state_source"]["snapshot"]
    steps = json.loads(cli("show", fork.id, "--json").stdout)["steps"]
    (lookup,) = [s for s in steps if s["name"] == "lookup_customer"]
    result = lookup["data"]["result"]
    assert "Renamed Live" in result and "88 Lake Shore Dr" in result  # live row + the overlay


def test_fork_live_state_of_a_file_run_is_refused(cli, stored_runs) -> None:
    assert cli("run", ROOT / "scenarios" / "shadow-address.yaml").exit_code == 0
    (run,) = stored_runs()
    result = cli("fork", run.id, "--at", "3", "--live-state")
    assert result.exit_code == 2
    assert "did not read a database" in result.output


def test_sandbox_toml_names_the_database_and_its_mapping(
    cli, db: Path, tmp_path: Path, stored_runs
) -> None:
    import shutil

    box = tmp_path / "sandboxes" / "shop"
    shutil.copytree(ROOT / "sandboxes" / "retail", box, ignore=shutil.ignore_patterns("seed"))
    shutil.copy(db, box / "shop.db")
    (box / "sandbox.toml").write_text(
        '[state_source]\nurl = "sqlite:///shop.db"\n'
        '[state_source.tables]\ncustomers = {table = "customers", key = "id"}\n'
        'tickets = "tickets"\n',
        encoding="utf-8",
    )
    data = yaml.safe_load(SCENARIO.read_text())
    for field in ("state", "state_source"):
        data.pop(field)
    data["sandbox"] = "shop"
    (tmp_path / "scenarios").mkdir()
    path = tmp_path / "scenarios" / "toml.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    (run,) = stored_runs()
    assert set(run.options["state_source"]["tables"]) == {"customers", "tickets"}
    assert run.options["state_source"]["url"] == f"sqlite:///{box / 'shop.db'}"
