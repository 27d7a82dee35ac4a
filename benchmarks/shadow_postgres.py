"""Shadow run over a 1,000,000-row PostgreSQL table (issue 20): start-up and per-read cost.

What it measures, on a throwaway server (initdb + pg_ctl on loopback, as the tests do):

1. **start-up**: ``plan_run`` + ``Runner(...)`` for a scenario whose state is the
   database: connect, open the ``REPEATABLE READ, READ ONLY`` snapshot, read the catalog,
   check the role, record the snapshot id. No rows are loaded (target < 0.5 s).
2. **per read, source only**: ``SourceView`` lookups of N distinct random keys (each a
   primary-key SELECT over loopback, nothing cached): p50 / p95 per read (target p95 < 1 ms).
3. **whole run, honest**: a python agent calling a read tool N times on random accounts
   and a write tool every 10th call; the wall time from ``plan_run`` to the end of
   ``run()`` (start-up, tracing, read-set saves included) divided by the tool calls.

Usage: python benchmarks/shadow_postgres.py [--rows 1000000] [--reads 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import pgserver  # noqa: E402

from agentbox.config import Settings  # noqa: E402
from agentbox.runner import Runner, RunOptions, plan_run  # noqa: E402
from agentbox.sandbox.sources import open_source  # noqa: E402
from agentbox.store import TraceStore  # noqa: E402

TOOLS = '''
from agentbox import State, ToolError, tool


@tool(effect="read")
def get_account(state: State, account_id: str) -> dict:
    """Read an account."""
    account = state.get("accounts", account_id)
    if account is None:
        raise ToolError(f"no account {account_id}")
    return account


@tool(effect="write")
def credit(state: State, account_id: str, amount: float) -> dict:
    """Credit an account."""
    with state.edit("accounts", account_id) as account:
        account["balance"] = round(account["balance"] + amount, 2)
    return state.get("accounts", account_id)
'''

AGENT = """
import os, random


def run(ctx):
    rng = random.Random(7)
    rows, reads = int(os.environ["BENCH_ROWS"]), int(os.environ["BENCH_READS"])
    for i in range(reads):
        key = str(rng.randrange(1, rows + 1))
        if i % 10 == 9:
            ctx.call_tool("credit", account_id=key, amount=1.5)
        else:
            ctx.call_tool("get_account", account_id=key)
    return "done"
"""


def make_project(root: Path, url: str) -> Path:
    box = root / "sandboxes" / "bank"
    box.mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    (root / "agent.py").write_text(AGENT)
    scenario = root / "bench.yaml"
    scenario.write_text(
        "name: shadow-bench\nsandbox: bank\nmode: shadow\n"
        f"state: {url}\n"
        "state_source: {tables: {accounts: {table: accounts}}}\n"
        "agent: {type: python, entry: agent.py:run, model: scripted}\n"
        "input: go\nscript: [{say: done}]\n"
    )
    return scenario


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    why = pgserver.available()
    if why:
        sys.exit(f"cannot run: {why}")
    import os

    server = pgserver.start_server()
    try:
        server.execute("CREATE DATABASE bank")
        t0 = time.perf_counter()
        server.execute(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text, balance numeric(12,2), "
            "opened_at timestamptz, tags jsonb); "
            "INSERT INTO accounts SELECT g, 'owner ' || g, (g % 10000) / 3.0, "
            "timestamptz '2020-01-01' + g * interval '1 minute', "
            "jsonb_build_object('tier', g % 3) FROM generate_series(1, ROWS) g; "
            "ANALYZE accounts; CREATE ROLE bench_ro LOGIN; "
            "GRANT SELECT ON accounts TO bench_ro".replace("ROWS", str(args.rows)),
            db="bank",
        )
        print(f"loaded {args.rows:,} rows in {time.perf_counter() - t0:.1f} s (not measured)")
        url = server.url("bench_ro", "bank")
        rng = random.Random(1)

        # 2. per read, source only
        view = open_source(url, Path.cwd(), {"accounts": {"table": "accounts"}})
        accounts = view["accounts"]
        keys = [str(k) for k in rng.sample(range(1, args.rows + 1), args.reads)]
        times = []
        for key in keys:
            t = time.perf_counter()
            assert accounts.get(key) is not None
            times.append(time.perf_counter() - t)
        view.source.close()
        times.sort()
        print(
            f"source read (uncached pk lookup): p50 {statistics.median(times) * 1000:.3f} ms, "
            f"p95 {times[int(len(times) * 0.95)] * 1000:.3f} ms over {len(times)} reads"
        )

        # 1. and 3.
        os.environ["BENCH_ROWS"], os.environ["BENCH_READS"] = str(args.rows), str(args.reads)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            scenario = make_project(root, url)
            settings = Settings(root=root)
            started = time.perf_counter()
            plan = plan_run(scenario, settings, RunOptions())
            runner = Runner(plan, TraceStore(root / "traces.db"))
            startup = time.perf_counter() - started
            result = runner.run()
            wall = time.perf_counter() - started
            assert result.status == "completed", result.reason
            print(f"start-up (plan + runner, no rows loaded): {startup * 1000:.1f} ms")
            print(
                f"whole run: {args.reads} tool calls ({args.reads // 10} writes) in {wall:.2f} s "
                f"= {wall / args.reads * 1000:.3f} ms per call, start-up included"
            )
    finally:
        pgserver.remove(server)


if __name__ == "__main__":
    main()
