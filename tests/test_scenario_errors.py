"""Broken scenario files: exit 2, every problem as ``file:line: field: message``, nothing stored.

Each case copies scenarios/refund-clean.yaml, breaks it and runs it from the repo root (so
``sandbox: retail`` resolves through .agentbox.toml). Line numbers are computed from the
broken text, not hard-coded.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLEAN = (ROOT / "scenarios" / "refund-clean.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in the scenario text")


def broken(old: str, new: str, text: str = CLEAN) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.fixture()
def bad_file(tmp_path: Path):
    """Write broken text to a scenario file in a realistically long project path."""
    folder = tmp_path / "projects" / "customer-support-agent" / "evaluation-scenarios"
    folder.mkdir(parents=True)

    def write(text: str, name: str = "refund-clean.yaml") -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def assert_nothing_stored(store_path: Path) -> None:
    if store_path.exists():
        with sqlite3.connect(store_path) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "runs" in tables:
                assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
                assert conn.execute("SELECT count(*) FROM steps").fetchone()[0] == 0


def run_bad(cli, path: Path, store_path: Path):
    result = cli("run", str(path))
    assert result.exit_code == 2, result.output
    assert result.stdout == "", "nothing but the error may be printed"
    assert result.stderr.startswith("error: "), result.stderr
    assert "hint: " in result.stderr
    assert_nothing_stored(store_path)
    return result.stderr


def stderr_lines(stderr: str) -> list[str]:
    return [line.removeprefix("error: ") for line in stderr.splitlines()]


def test_clean_copy_runs(cli, bad_file, store_path: Path) -> None:
    """Control: the unbroken copy runs fine (so each case below tests one break)."""
    path = bad_file(CLEAN)
    result = cli("run", str(path))
    assert result.exit_code == 0, result.output


def test_typo_field_names_line_and_suggestion(cli, bad_file, store_path: Path) -> None:
    text = broken("\nmode: execute\n", "\nmodee: execute\n")
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    expected = f"{path}:{line_of(text, 'modee:')}: modee: unknown field (did you mean 'mode'?)"
    assert expected in stderr_lines(stderr), stderr


def test_error_lines_are_never_wrapped(cli, bad_file, store_path: Path) -> None:
    """A ``file:line: ...`` line must stay one line whatever the terminal width (editors and
    CI annotators parse it); here the path alone is longer than 80 columns."""
    text = broken("\nmode: execute\n", "\nmodee: execute\n")
    path = bad_file(text, "a-scenario-with-a-rather-long-descriptive-file-name-for-refunds.yaml")
    assert len(str(path)) > 80
    stderr = run_bad(cli, path, store_path)
    lines = stderr.splitlines()
    assert (
        lines[0]
        == f"error: {path}:{line_of(text, 'modee:')}: modee: unknown field (did you mean 'mode'?)"
    )
    assert lines[1].startswith("hint: ")
    assert len(lines) == 2, stderr


def test_wrong_type_names_line(cli, bad_file, store_path: Path) -> None:
    text = broken("max_steps: 8", "max_steps: lots")
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    prefix = f"{path}:{line_of(text, 'max_steps: lots')}: agent.max_steps: "
    hits = [line for line in stderr_lines(stderr) if line.startswith(prefix)]
    assert hits, stderr
    assert "integer" in hits[0]


def test_bad_tier_lists_choices(cli, bad_file, store_path: Path) -> None:
    text = broken("tier: yellow", "tier: orange")
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    where = f"{path}:{line_of(text, 'tier: orange')}"
    expected = f"{where}: policy.rules[0].tier: must be one of green, yellow, red"
    assert expected in stderr_lines(stderr), stderr


def test_missing_sandbox_names_line_and_lists_available(cli, bad_file, store_path: Path) -> None:
    text = broken("sandbox: retail", "sandbox: warehouse")
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    prefix = f"{path}:{line_of(text, 'sandbox: warehouse')}: sandbox: sandbox 'warehouse' not found"
    hits = [line for line in stderr_lines(stderr) if line.startswith(prefix)]
    assert hits, stderr
    available = re.search(r"\(available: ([^)]*)\)", hits[0])
    assert available is not None, hits[0]
    assert "retail" in [name.strip() for name in available.group(1).split(",")]


def test_bad_yaml_names_line(cli, bad_file, store_path: Path) -> None:
    text = broken("\nmode: execute\n", "\nmode: execute: now\n")
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    line = line_of(text, "mode: execute: now")
    assert f"{path}:{line}: invalid YAML: " in stderr, stderr


def test_unclosed_flow_sequence_is_reported_with_a_line(cli, bad_file, store_path: Path) -> None:
    text = broken(
        "tool_calls: [{get_order: {order_id: ord_5120}}]",
        "tool_calls: [{get_order: {order_id: ord_5120}}",
    )
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    assert re.search(rf"^error: {re.escape(str(path))}:\d+: invalid YAML: ", stderr, re.M), stderr


def test_several_problems_all_reported_in_file_order(cli, bad_file, store_path: Path) -> None:
    text = broken("\nmode: execute\n", "\nmodee: execute\n")
    text = broken("max_steps: 8", "max_steps: lots", text)
    text = broken("tier: yellow", "tier: orange", text)
    text = broken("  status: completed\n", "  status: completed\n  statuss: halted\n", text)
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    lines = stderr_lines(stderr)
    wanted = [
        f"{path}:{line_of(text, 'modee:')}: modee: unknown field (did you mean 'mode'?)",
        f"{path}:{line_of(text, 'max_steps: lots')}: agent.max_steps: ",
        f"{path}:{line_of(text, 'tier: orange')}: policy.rules[0].tier: "
        "must be one of green, yellow, red",
        f"{path}:{line_of(text, 'statuss:')}: expect.statuss: "
        "unknown field (did you mean 'status'?)",
    ]
    found = []
    for want in wanted:
        idx = next((i for i, line in enumerate(lines) if line.startswith(want)), None)
        assert idx is not None, f"missing {want!r} in:\n{stderr}"
        found.append(idx)
    assert found == sorted(found), "problems are listed in file order"


def test_when_with_unknown_argument(cli, bad_file, store_path: Path) -> None:
    text = broken('when: "amount_usd > 200"', 'when: "amount > 200"')
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    prefix = f"{path}:{line_of(text, 'amount > 200')}: policy.rules[0].when: unknown name 'amount'"
    hits = [line for line in stderr_lines(stderr) if line.startswith(prefix)]
    assert hits, stderr
    assert "amount_usd" in hits[0], "the message lists the tool's real arguments"


def test_rule_for_unknown_tool(cli, bad_file, store_path: Path) -> None:
    text = broken("tool: create_refund, when:", "tool: create_refnd, when:")
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    where = f"{path}:{line_of(text, 'create_refnd')}"
    expected = f"{where}: policy.rules[0].tool: no sandbox tool matches 'create_refnd'"
    assert expected in stderr_lines(stderr), stderr


def test_duplicate_key_is_an_error(cli, bad_file, store_path: Path) -> None:
    """A second ``policy:`` would silently replace the first (dropping its rules): an error."""
    text = CLEAN + "policy:\n  allow: [get_order]\n"
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    second = len(CLEAN.splitlines()) + 1
    assert re.search(
        rf"^(error: )?{re.escape(str(path))}:{second}: .*duplicate.*policy", stderr, re.M | re.I
    ), stderr


def test_missing_required_field(cli, bad_file, store_path: Path) -> None:
    text = "\n".join(line for line in CLEAN.splitlines() if not line.startswith("input:")) + "\n"
    path = bad_file(text)
    stderr = run_bad(cli, path, store_path)
    assert re.search(r": input: required field is missing$", stderr, re.M), stderr


def test_missing_file(cli, tmp_path: Path, store_path: Path) -> None:
    path = tmp_path / "no-such-scenario.yaml"
    stderr = run_bad(cli, path, store_path)
    assert str(path) in stderr
    assert "cannot read" in stderr


def test_store_file_not_created_on_error(cli, bad_file, store_path: Path) -> None:
    path = bad_file(broken("tier: yellow", "tier: orange"))
    run_bad(cli, path, store_path)
    assert not store_path.exists()
