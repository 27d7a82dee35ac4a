"""Agent versions (issue 17): a fingerprint per run over prompt, model, params, tools,
policy, entry source and agentbox version; `show` names it, `diff` says what changed,
and every `agentbox test` is recorded as a suite run listed by `runs --suites`."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import yaml

from agentbox.store import _SCHEMA, TraceStore

ROOT = Path(__file__).resolve().parent.parent


def scenario_with(make_scenario, name: str, system: str, **agent) -> Path:
    data = yaml.safe_load((ROOT / "scenarios" / "refund-clean.yaml").read_text())
    data["agent"] = {**data.get("agent", {}), "system": system, **agent}
    return make_scenario(name, data)


def run_json(cli, path: Path, *extra: str) -> dict:
    result = cli("run", path, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_changed_prompt_changes_the_fingerprint_and_diff_shows_it(
    cli, make_scenario, store_path: Path
) -> None:
    a = scenario_with(make_scenario, "v1", "You are the support agent.\nBe brief.")
    b = scenario_with(make_scenario, "v2", "You are the support agent.\nBe thorough and kind.")
    run_a = run_json(cli, a, "--label", "v1-brief")["run_id"]
    run_b = run_json(cli, b)["run_id"]
    run_a2 = run_json(cli, a)["run_id"]

    store = TraceStore(store_path)
    va, vb, va2 = (store.run_version(r) for r in (run_a, run_b, run_a2))
    store.close()
    assert va is not None and vb is not None and va2 is not None
    assert va.fingerprint != vb.fingerprint
    assert va.fingerprint == va2.fingerprint  # the same agent, run again
    assert va.label == "v1-brief" and va2.label is None
    assert "Be brief." in va.parts["system"] and va.parts["model"] == "scripted"
    assert {t["function"]["name"] for t in va.parts["tools"]} >= {"create_refund"}

    shown = cli("show", run_a)
    assert f"agent version {va.fingerprint} (v1-brief)" in " ".join(shown.output.split())

    diff = cli("diff", run_a, run_b)
    assert diff.exit_code == 0, diff.output
    assert f"agent version: {va.fingerprint} → {vb.fingerprint}" in diff.output
    assert "system prompt" in diff.output
    assert "-Be brief." in diff.output and "+Be thorough and kind." in diff.output

    data = json.loads(cli("diff", run_a, run_b, "--json").stdout)["version"]
    assert [c["part"] for c in data["changes"]] == ["system"]


def test_policy_and_params_change_the_version_but_an_api_key_does_not(
    cli, make_scenario, store_path: Path
) -> None:
    base = scenario_with(make_scenario, "p0", "Hi.", params={"temperature": 0, "api_key": "k1"})
    key = scenario_with(make_scenario, "p1", "Hi.", params={"temperature": 0, "api_key": "k2"})
    temp = scenario_with(make_scenario, "p2", "Hi.", params={"temperature": 1, "api_key": "k1"})
    ids = [run_json(cli, p)["run_id"] for p in (base, key, temp)]
    store = TraceStore(store_path)
    fps = [store.run_version(i).fingerprint for i in ids]  # type: ignore[union-attr]
    store.close()
    assert fps[0] == fps[1] and fps[0] != fps[2]
    diff = cli("diff", ids[0], ids[2])
    assert "params: changed" in diff.output


def test_scenario_label_names_the_version(cli, make_scenario, store_path: Path) -> None:
    path = scenario_with(make_scenario, "lab", "Hi.", label="from-scenario")
    run_id = run_json(cli, path)["run_id"]
    shown = json.loads(cli("show", run_id, "--json").stdout)
    assert shown["version"]["label"] == "from-scenario"


def test_python_agent_version_hashes_the_entry_source(
    cli, make_scenario, store_path: Path, tmp_path: Path
) -> None:
    agent = tmp_path / "my_agent.py"
    agent.write_text("def run(ctx):\n    return 'one'\n")
    path = make_scenario(
        "py",
        {
            "name": "py",
            "sandbox": "retail",
            "agent": {"type": "python", "entry": "my_agent.py:run"},
            "input": "hi",
        },
    )
    first = run_json(cli, path)["run_id"]
    agent.write_text("def run(ctx):\n    return 'two'\n")
    second = run_json(cli, path)["run_id"]
    store = TraceStore(store_path)
    va, vb = store.run_version(first), store.run_version(second)
    store.close()
    assert va and vb and va.parts["entry"]["sha256"] and va.fingerprint != vb.fingerprint
    assert "entry: changed" in cli("diff", first, second).output


def test_old_store_files_gain_the_version_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.commit()
    conn.close()
    for _ in range(2):  # idempotent
        store = TraceStore(path)
        assert store.list_suite_runs() == [] and store.run_version("nope") is None
        store.close()
    names = {
        r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    }
    assert {"agent_versions", "run_versions", "suite_runs", "suite_results"} <= names


def test_each_test_invocation_is_a_suite_run(cli, store_path: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    for case in ("invalid-argument.yaml", "refund-denied.yaml", "refund-over-limit.yaml"):
        shutil.copy(ROOT / "suites" / "retail-regressions" / case, suite / case)
    first = cli("test", suite, "--label", "baseline", "--json")
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    second = cli("test", suite, "-k", "2", "--json")
    assert second.exit_code == 0, second.output

    listed = json.loads(cli("runs", "--suites", "--json").stdout)
    assert [r["id"] for r in listed] == [json.loads(second.stdout)["suite_run"], out["suite_run"]]
    base = listed[1]
    assert base["label"] == "baseline" and base["k"] == 1 and base["live"] is False
    assert base["cases"] == 3 and base["passed_cases"] == 3
    assert base["fingerprint"] == out["fingerprint"] and base["fingerprint"]
    assert base["totals"]["runs"] == 3 and listed[0]["totals"]["runs"] == 6
    assert listed[0]["fingerprint"] == base["fingerprint"]  # the same agent, k=2

    store = TraceStore(store_path)
    results = store.suite_results(base["id"])
    store.close()
    assert [r.case_key for r in results] == [
        "invalid-argument.yaml",
        "refund-denied.yaml",
        "refund-over-limit.yaml",
    ]
    assert all(r.passed and r.run_id and r.fingerprint for r in results)
    assert results[0].metrics["tool_calls"] == 2 and results[0].metrics["latencies"]

    table = cli("runs", "--suites")
    assert base["id"] in table.output and "baseline" in table.output


def test_a_scripted_models_script_is_part_of_its_version(
    cli, make_scenario, store_path: Path
) -> None:
    a = scenario_with(make_scenario, "s1", "Hi.")
    data = yaml.safe_load(a.read_text())
    data["script"][0]["reasoning"] = "Something else entirely."
    b = make_scenario("s2", data)
    ids = [run_json(cli, p)["run_id"] for p in (a, b)]
    store = TraceStore(store_path)
    va, vb = (store.run_version(i) for i in ids)
    store.close()
    assert va and vb and va.fingerprint != vb.fingerprint
    assert "script (the scripted model): changed" in cli("diff", *ids).output


def test_python_case_keeps_one_version_across_repeats(cli, store_path: Path) -> None:
    case = ROOT / "suites" / "retail-regressions" / "python-triage.yaml"
    result = cli("test", case, "-k", "2", "--json")
    assert result.exit_code == 0, result.output
    store = TraceStore(store_path)
    rows = store.suite_results(json.loads(result.stdout)["suite_run"])
    version = store.run_version(rows[0].run_id or "")
    store.close()
    assert len(rows) == 2 and rows[0].fingerprint == rows[1].fingerprint
    assert version is not None and version.parts["entry"]["sha256"]  # found via python_path
