"""Modes: shadow (copy-on-write over a snapshot), recommend (writes proposed, not run), execute."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "scenarios" / "snapshots" / "retail-prod-2026-11-20.json"
SEED = ROOT / "sandboxes" / "retail" / "seed"


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hash(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): file_hash(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def steps_of(store_path: Path, run_id: str):
    store = TraceStore(store_path)
    try:
        return store.steps(run_id)
    finally:
        store.close()


def tool_steps(steps, name: str | None = None):
    return [s for s in steps if s.kind == "tool" and (name is None or s.name == name)]


# ---- shadow ----------------------------------------------------------------------------
def test_shadow_reads_see_writes_and_snapshot_is_untouched(cli, store_path: Path) -> None:
    before = file_hash(SNAPSHOT)
    seed_before = tree_hash(SEED)
    result = cli("run", "scenarios/shadow-address.yaml", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["mode"] == "shadow"
    assert file_hash(SNAPSHOT) == before, "the snapshot source must never be written"
    assert tree_hash(SEED) == seed_before

    steps = steps_of(store_path, out["run_id"])
    (update,) = tool_steps(steps, "update_address")
    assert update.status == "ok"
    assert update.patch, "the write is recorded as a patch"
    (lookup,) = tool_steps(steps, "lookup_customer")
    assert lookup.idx > update.idx
    assert lookup.status == "ok"
    seen = json.loads(lookup.data["result"])
    assert seen["address"]["line1"] == "88 Lake Shore Dr"
    assert seen["address"]["zip"] == "60611"

    # The run ends with the shadow diff: what changed against the source.
    changed = {(c["collection"], c["key"]) for c in out["changes"]}
    assert ("customers", "cus_1042") in changed
    cust = next(c for c in out["changes"] if c["key"] == "cus_1042")
    original = json.loads(SNAPSHOT.read_text())["customers"]["cus_1042"]["address"]
    assert cust["before"]["address"] == original
    assert cust["after"]["address"]["line1"] == "88 Lake Shore Dr"


def test_shadow_diff_is_printed(cli) -> None:
    result = cli("run", "scenarios/shadow-address.yaml", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "shadow diff (source untouched)" in result.stdout
    assert "customers/cus_1042" in result.stdout


def test_state_option_overrides_the_scenario_snapshot(
    cli, store_path: Path, tmp_path: Path
) -> None:
    data = json.loads(SNAPSHOT.read_text())
    data["customers"]["cus_1042"]["name"] = "Override Person"
    override = tmp_path / "other-snapshot.json"
    override.write_text(json.dumps(data), encoding="utf-8")
    before, original = file_hash(override), file_hash(SNAPSHOT)

    result = cli("run", "scenarios/shadow-address.yaml", "--state", str(override), "--json")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    (lookup,) = tool_steps(steps_of(store_path, run_id), "lookup_customer")
    seen = json.loads(lookup.data["result"])
    assert seen["name"] == "Override Person", "state came from --state, not the scenario's `state:`"
    assert seen["address"]["line1"] == "88 Lake Shore Dr"
    assert file_hash(override) == before
    assert file_hash(SNAPSHOT) == original

    store = TraceStore(store_path)
    try:
        assert store.get_run(run_id).options["seed_source"] == str(override)
    finally:
        store.close()


def test_state_option_replaces_seed_in_execute_mode(cli, store_path: Path, tmp_path: Path) -> None:
    """--state in execute mode replaces the sandbox seed (here ord_5120 is only $10)."""
    data = json.loads(SNAPSHOT.read_text())
    data["orders"]["ord_5120"]["total_usd"] = 10.0
    override = tmp_path / "small.json"
    override.write_text(json.dumps(data), encoding="utf-8")
    result = cli("run", "scenarios/refund-clean.yaml", "--state", str(override), "--json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    (refund,) = tool_steps(steps_of(store_path, out["run_id"]), "create_refund")
    assert refund.status == "error"
    assert "exceeds" in refund.data["result"]


def test_shadow_without_state_source_is_exit_2(cli, make_scenario, store_path: Path) -> None:
    text = (ROOT / "scenarios" / "shadow-address.yaml").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("state:")) + "\n"
    path = make_scenario("shadow-no-state", text)
    result = cli("run", str(path))
    assert result.exit_code == 2, result.output
    mode_line = text.splitlines().index("mode: shadow") + 1
    assert f"{path}:{mode_line}: mode: shadow mode needs a state snapshot" in result.stderr
    assert "--state" in result.stderr
    assert not store_path.exists()


def test_mode_option_shadow_without_state_is_exit_2(cli, store_path: Path) -> None:
    result = cli("run", "scenarios/refund-clean.yaml", "--mode", "shadow")
    assert result.exit_code == 2, result.output
    assert "shadow mode needs a state snapshot" in result.stderr
    assert not store_path.exists()


def test_bad_mode_option_is_exit_2(cli, store_path: Path) -> None:
    result = cli("run", "scenarios/refund-clean.yaml", "--mode", "dry-run")
    assert result.exit_code == 2
    assert "execute, shadow, recommend" in result.stderr
    assert not store_path.exists()


# ---- recommend -------------------------------------------------------------------------
def test_recommend_mode_executes_no_write(cli, store_path: Path) -> None:
    result = cli("run", "scenarios/refund-clean.yaml", "--mode", "recommend", "--json")
    # The scenario expects an executed refund, which recommend mode must not make.
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["mode"] == "recommend"
    assert out["status"] == "completed"
    assert out["passed"] is False

    steps = steps_of(store_path, out["run_id"])
    writes = [s for s in tool_steps(steps) if s.data.get("effect") == "write"]
    assert {s.name for s in writes} == {"create_refund", "add_ticket_note"}
    assert all(s.status == "recommended" for s in writes), [(s.name, s.status) for s in writes]
    assert not any(s.patch for s in steps), "no state change at all"
    for s in writes:
        assert s.data["result"].startswith("Recorded as a recommendation")
    reads = [s for s in tool_steps(steps) if s.data.get("effect") == "read"]
    assert [s.status for s in reads] == ["ok"], "reads still run"

    recs = out["recommendations"]
    assert [r["tool"] for r in recs] == ["create_refund", "add_ticket_note"]
    assert recs[0]["args"]["amount_usd"] == 64.5
    assert recs[0]["decision"]["verdict"] == "allow"
    assert out["changes"] == []

    # The final state, rebuilt from the store, equals the seed for what the run touched.
    last = steps[-1].idx
    shown = cli("show", out["run_id"], "--step", str(last), "--state")
    assert shown.exit_code == 0, shown.output
    final = json.loads(shown.stdout)
    seed_refunds = json.loads((SEED / "refunds.json").read_text())
    assert final["refunds"] == seed_refunds
    seed_tickets = json.loads((SEED / "tickets.json").read_text())
    seed_t = (
        seed_tickets["tkt_9002"]
        if isinstance(seed_tickets, dict)
        else next(t for t in seed_tickets if t["id"] == "tkt_9002")
    )
    assert final["tickets"]["tkt_9002"] == seed_t


def test_recommendations_carry_policy_verdicts(cli, store_path: Path) -> None:
    result = cli("run", "scenarios/recommend-cancel.yaml", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    by_tool = {r["tool"]: r for r in out["recommendations"]}
    assert set(by_tool) == {"cancel_order", "send_email"}
    assert by_tool["cancel_order"]["decision"]["verdict"] == "allow"
    assert by_tool["send_email"]["decision"]["verdict"] == "hold"
    assert by_tool["send_email"]["decision"]["rule"] == "emails-reviewed"
    # Recommend mode proposes; it never asks for approval or counts a hold.
    assert out["counters"]["holds"] == 0
    steps = steps_of(store_path, out["run_id"])
    assert not [s for s in steps if s.kind == "approval"]


def test_recommend_lists_actions_in_text_output(cli) -> None:
    result = cli("run", "scenarios/recommend-cancel.yaml", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "recommended actions (not executed)" in result.stdout
    assert "cancel_order(" in result.stdout


# ---- execute ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "scenario",
    ["refund-clean", "refund-over-limit", "python-triage", "invalid-argument", "prompt-injection"],
)
def test_execute_never_modifies_seed_files(cli, store_path: Path, scenario: str) -> None:
    before = tree_hash(SEED)
    result = cli("run", f"scenarios/{scenario}.yaml", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["mode"] == "execute"
    assert tree_hash(SEED) == before


def test_execute_runs_start_from_the_seed_each_time(cli, store_path: Path) -> None:
    """Two runs of the same write: each works on its own copy, so both create ref_0001."""
    ids = []
    for _ in range(2):
        result = cli("run", "scenarios/refund-clean.yaml", "--json")
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        added = [c for c in out["changes"] if c["collection"] == "refunds"]
        assert [c["key"] for c in added] == ["ref_0001"]
        ids.append(out["run_id"])
    assert ids[0] != ids[1]


def test_a_state_source_of_another_shape_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", "scenarios/shadow-address.yaml", "--state", "scenarios/agents")
    assert result.exit_code == 2
    assert "has collections none" in result.output and "customers" in result.output
