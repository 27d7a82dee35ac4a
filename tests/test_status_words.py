"""Issue 11 item 17: status words. What ``runs`` shows, ``--status`` accepts; the status
column of ``approvals --all`` survives 80 columns; one status table for CLI and TUI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentbox.store import TraceStore
from tests.conftest import CliHelper


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture()
def mixed(cli: CliHelper, root: Path, store_path: Path) -> dict[str, str]:
    """One completed, one parked and one dead-while-running run: ``{word: run_id}``."""
    done = json.loads(cli("run", root / "scenarios" / "refund-clean.yaml", "--json").stdout)
    parked = json.loads(
        cli("run", root / "scenarios" / "refund-over-limit.yaml", "--detach", "--json").stdout
    )
    store = TraceStore(store_path)
    try:
        store.create_run(
            id="deadbeef00",
            scenario="crashed-one",
            scenario_json={},
            sandbox="retail",
            mode="execute",
            agent="llm",
            status="running",
            started_at=time.time(),
            pid=_dead_pid(),
        )
    finally:
        store.close()
    return {"completed": done["run_id"], "awaiting": parked["run_id"], "unfinished": "deadbeef00"}


def _shown_statuses(cli: CliHelper, width: int) -> dict[str, str]:
    out = cli("runs", env={"COLUMNS": str(width)}).stdout.splitlines()
    header = out[0]
    start = header.index("status")
    return {line.split()[0]: line[start:].split()[0] for line in out[1:] if line.strip()}


@pytest.mark.parametrize("width", [80, 120])
def test_every_shown_status_word_filters(cli: CliHelper, mixed: dict[str, str], width: int) -> None:
    shown = _shown_statuses(cli, width)
    assert set(shown) == set(mixed.values())
    for run_id, word in shown.items():
        result = cli("runs", "--status", word, "--json")
        assert result.exit_code == 0, result.output
        assert [r["run_id"] for r in json.loads(result.stdout)] == [run_id], word


@pytest.mark.parametrize(
    ("word", "key"),
    [
        ("awaiting", "awaiting"),
        ("awaiting_approval", "awaiting"),
        ("AWAITING", "awaiting"),
        ("unfinished", "unfinished"),
        ("not finished", "unfinished"),
        ("completed", "completed"),
    ],
)
def test_status_words_and_stored_names(
    cli: CliHelper, mixed: dict[str, str], word: str, key: str
) -> None:
    result = cli("runs", "--status", word, "--json")
    assert result.exit_code == 0, result.output
    assert [r["run_id"] for r in json.loads(result.stdout)] == [mixed[key]]


def test_running_is_the_stored_name_and_new_statuses_are_known(
    cli: CliHelper, mixed: dict[str, str]
) -> None:
    running = json.loads(cli("runs", "--status", "running", "--json").stdout)
    assert [r["run_id"] for r in running] == [mixed["unfinished"]]  # stored as running
    for word in ("stopped", "timeout", "halted", "failed"):
        result = cli("runs", "--status", word, "--json")
        assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_unknown_status_is_a_clear_error(cli: CliHelper, mixed: dict[str, str]) -> None:
    result = cli("runs", "--status", "bogus")
    assert result.exit_code == 2
    assert "awaiting" in result.stderr and "unfinished" in result.stderr


def test_approvals_all_keeps_the_status_column_at_80_columns(
    cli: CliHelper, root: Path, store_path: Path
) -> None:
    ids = []
    for _ in range(2):
        data = json.loads(
            cli("run", root / "scenarios" / "refund-over-limit.yaml", "--detach", "--json").stdout
        )
        ids.append(data["pending_approval"])
    assert cli("approve", ids[0]).exit_code == 0
    for width in (80, 120):
        out = cli("approvals", "--all", env={"COLUMNS": str(width)}).stdout
        lines = out.splitlines()
        assert "status" in lines[0].split()
        assert all(len(line) <= width for line in lines)
        start = lines[0].index("status")
        rows = {line.split()[0]: line[start:].split()[0] for line in lines[1:]}
        assert rows == {ids[0]: "approved", ids[1]: "pending"}


def test_cli_and_tui_read_one_status_table() -> None:
    from agentbox import statuses
    from agentbox.cli import render
    from agentbox.tui import actions, present

    assert render.STATUS_STYLE is statuses.STYLE is present.STATUS_STYLE
    assert set(statuses.RUN_STATUSES) <= set(actions.STATUSES)
    for status in (*statuses.RUN_STATUSES, statuses.UNFINISHED):
        assert statuses.style(status)
        assert statuses.parse_run_status(statuses.short_word(status)) == status
