"""Parsed sidecars: `agentbox export` writes each case's parsed data as JSON beside it
(``.agentbox-parsed/NAME.yaml.json``, keyed by the YAML text's digest), replays read it
instead of parsing the YAML, and a case edited since (or a broken sidecar) is parsed from
its YAML again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inproc import agentbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return tmp_path / "t.db"


@pytest.fixture()
def case(store: Path, tmp_path: Path) -> Path:
    """refund-over-limit run and exported to tmp_path/suite."""
    assert agentbox(store, "run", "scenarios/refund-over-limit.yaml", "-q").exit_code == 0
    runs = json.loads(agentbox(store, "runs", "--json", "-n", "1", "--all").stdout)
    result = agentbox(store, "export", runs[0]["run_id"], "--suite", tmp_path / "suite")
    assert result.exit_code == 0, result.output
    return tmp_path / "suite" / "refund-over-limit.yaml"


def _sidecar(case: Path) -> Path:
    return case.parent / ".agentbox-parsed" / f"{case.name}.json"


def _rename_in_sidecar(case: Path, name: str) -> None:
    side = _sidecar(case)
    doc = json.loads(side.read_text())
    doc["data"]["case"] = name
    side.write_text(json.dumps(doc))


def test_replay_reads_the_sidecar_export_wrote(case: Path, store: Path) -> None:
    assert _sidecar(case).is_file()
    _rename_in_sidecar(case, "read-from-the-sidecar")  # same digest: trusted as the parse
    result = agentbox(store, "test", case.parent)
    assert result.exit_code == 0, result.output
    assert "PASS read-from-the-sidecar" in result.output


def test_an_edited_case_is_parsed_again_not_served_its_stale_sidecar(
    case: Path, store: Path
) -> None:
    _rename_in_sidecar(case, "stale")
    case.write_text(case.read_text().replace("case: refund-over-limit", "case: edited", 1))
    result = agentbox(store, "test", case.parent)
    assert result.exit_code == 0, result.output
    assert "PASS edited" in result.output and "stale" not in result.output


@pytest.mark.parametrize("body", ["{not json", '{"format": "other", "data": {}}', "[]"])
def test_a_broken_sidecar_is_ignored(case: Path, store: Path, body: str) -> None:
    _sidecar(case).write_text(body)
    result = agentbox(store, "test", case.parent)
    assert result.exit_code == 0, result.output
    assert "PASS refund-over-limit" in result.output


def test_a_sidecar_with_invalid_data_falls_back_to_the_yaml(case: Path, store: Path) -> None:
    side = _sidecar(case)
    doc = json.loads(side.read_text())
    doc["data"]["decisions"] = "not a list"  # the YAML is fine: it is parsed instead
    side.write_text(json.dumps(doc))
    result = agentbox(store, "test", case.parent)
    assert result.exit_code == 0, result.output
    assert "PASS refund-over-limit" in result.output


def test_export_prunes_sidecars_of_deleted_cases(case: Path, store: Path, tmp_path: Path) -> None:
    orphan = case.parent / ".agentbox-parsed" / "cli-failing.yaml.json"
    orphan.write_text(_sidecar(case).read_text())  # its case file was deleted
    runs = json.loads(agentbox(store, "runs", "--json", "-n", "1", "--all").stdout)
    result = agentbox(store, "export", runs[0]["run_id"], "--suite", case.parent)
    assert result.exit_code == 0, result.output
    assert not orphan.exists() and _sidecar(case).is_file()
    assert "removed 1 stale sidecar(s)" in result.output
    assert "cli-failing.yaml.json" in result.output


def test_a_folder_test_skips_the_sidecar_folder(case: Path, store: Path) -> None:
    (case.parent / ".agentbox-parsed" / "extra.yaml").write_text("not: a case\n")
    result = agentbox(store, "test", case.parent)
    assert result.exit_code == 0, result.output
    assert "1 passed" in result.output and "extra" not in result.output


def test_passing_a_sidecar_says_to_pass_its_yaml(case: Path, store: Path) -> None:
    result = agentbox(store, "test", _sidecar(case))
    assert result.exit_code == 2
    assert "is the parsed sidecar of refund-over-limit.yaml" in result.output
    assert "required field" not in result.output


def test_passing_the_sidecar_of_a_deleted_case_says_it_is_gone(case: Path, store: Path) -> None:
    side = _sidecar(case)
    case.unlink()
    result = agentbox(store, "test", side)
    assert result.exit_code == 2
    assert "is the parsed sidecar of refund-over-limit.yaml" in result.output
    assert "is gone" in result.output
