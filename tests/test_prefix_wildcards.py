"""Issue 11 item 14: ``%`` and ``_`` in id prefixes are literal, never SQL wildcards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentbox.store import TraceStore
from tests.conftest import CliHelper


@pytest.fixture()
def parked(cli: CliHelper, root: Path, store_path: Path) -> tuple[str, str]:
    """A run parked on one pending approval: ``(run_id, approval_id)``."""
    result = cli("run", root / "scenarios" / "refund-over-limit.yaml", "--detach", "--json")
    data = json.loads(result.stdout)
    return data["run_id"], data["pending_approval"]


@pytest.mark.parametrize("prefix", ["%", "_", "%%", "_%", "ap%", "a_", "ap__", "\\", ""])
def test_approve_with_a_wildcard_prefix_decides_nothing(
    cli: CliHelper, store_path: Path, parked: tuple[str, str], prefix: str
) -> None:
    result = cli("approve", prefix)
    assert result.exit_code == 2, result.output
    assert "approval" in result.stderr and "Traceback" not in result.output
    store = TraceStore(store_path)
    try:
        assert [a.status for a in store.approvals(status=None)] == ["pending"]
    finally:
        store.close()


@pytest.mark.parametrize("prefix", ["%", "_", "_%", "\\", "", " "])
def test_run_commands_with_a_wildcard_prefix_find_nothing(
    cli: CliHelper, parked: tuple[str, str], prefix: str
) -> None:
    for command in ("show", "resume"):
        result = cli(command, prefix)
        assert result.exit_code == 2, result.output
        assert "run" in result.stderr


def test_real_prefixes_still_work(cli: CliHelper, parked: tuple[str, str]) -> None:
    run_id, approval_id = parked
    assert cli("show", run_id[:4]).exit_code == 0
    result = cli("approve", approval_id[:5])
    assert result.exit_code == 0 and "approved" in result.stdout


def test_search_text_is_literal(cli: CliHelper, parked: tuple[str, str]) -> None:
    assert json.loads(cli("runs", "--search", "_", "--json").stdout) == []
    assert json.loads(cli("runs", "--search", "%", "--json").stdout) == []
    assert len(json.loads(cli("runs", "--search", "over-limit", "--json").stdout)) == 1
