"""Regression suites: export a run to a case, replay it with `agentbox test` and pytest,
JUnit XML, pass^k, parallel workers, metrics reports and the llm_judge expectation."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from inproc import agentbox
from procs import Terminal

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A trace store under tmp_path; the working folder is the repo root."""
    monkeypatch.chdir(ROOT)
    return tmp_path / "t.db"


def last_run_id(store: Path) -> str:
    runs = json.loads(agentbox(store, "runs", "--json", "-n", "1", "--all").stdout)
    return str(runs[0]["run_id"])


def export_scenario(store: Path, suite: Path, scenario: str, name: str | None = None) -> Path:
    """Run a shipped scenario with the CLI and export the run into ``suite``."""
    result = agentbox(store, "run", f"scenarios/{scenario}.yaml", "-q")
    assert result.exit_code == 0, result.output
    args = ["export", last_run_id(store), "--suite", suite] + (["--name", name] if name else [])
    result = agentbox(store, *args)
    assert result.exit_code == 0, result.output
    path = suite / f"{name or scenario}.yaml"
    assert path.is_file(), result.output
    return path


def edit_case(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def drop_big_refund_rule(data: dict[str, Any]) -> None:
    rules = data["scenario"]["policy"]["rules"]
    data["scenario"]["policy"]["rules"] = [r for r in rules if r["name"] != "big-refund"]


@pytest.fixture()
def case(store: Path, tmp_path: Path) -> Path:
    """refund-over-limit (one hold, approved) exported as tmp_path/suite/refund-over-limit.yaml."""
    return export_scenario(store, tmp_path / "suite", "refund-over-limit")


def test_export_writes_one_readable_case(case: Path) -> None:
    text = case.read_text()
    data = yaml.safe_load(text)
    assert text.startswith("# agentbox suite case")
    assert list(data)[:2] == ["case", "exported_from"]
    assert data["scenario"]["sandbox"] == "retail" and "expect" not in data["scenario"]
    expect = data["expect"]
    assert expect["status"] == "completed" and expect["ordered"] is True
    assert [next(iter(c)) for c in expect["tool_calls"]] == [
        "get_order",
        "create_refund",
        "add_ticket_note",
    ]
    assert expect["tool_calls"][1]["create_refund"]["idempotency_key"] == "r-5531"
    assert (expect["holds"], expect["approvals"], expect["blocks"]) == (1, 1, 0)
    paths = [c["path"] for c in expect["state"]]
    assert "refunds[-1].status" in paths  # the scenario's own check is kept
    assert "refunds.ref_0001" in paths and "tickets.tkt_9001.notes[1]" in paths  # derived
    assert expect["max_cost_usd"] == 0.05  # the scenario's ceiling wins over the derived one
    assert data["decisions"] == [
        {"tool": "create_refund", "verdict": "approve", "reason": "auto-approved", "by": "ci"}
    ]
    calls = data["cassette"]["calls"]
    assert len(calls) == 4 and all(len(c["request"]["hash"]) == 64 for c in calls)
    assert calls[0]["tool_calls"][0]["name"] == "get_order"
    assert calls[-1]["text"].startswith("Your $240 refund")


def test_unchanged_case_passes(case: Path, store: Path, open_store: Any) -> None:
    result = agentbox(store, "test", case.parent)
    assert result.exit_code == 0, result.output
    assert "PASS refund-over-limit" in result.output
    assert "1 passed, 0 failed" in result.output

    replay = open_store(store).list_runs(limit=1)[0]
    assert replay.replay_of is not None and replay.replay_of.startswith("case:")
    assert replay.replay_of.endswith("refund-over-limit.yaml") and replay.passed is True


def test_removing_the_hold_rule_fails_and_names_the_difference(case: Path, store: Path) -> None:
    edit_case(case, drop_big_refund_rule)
    result = agentbox(store, "test", case.parent)
    assert result.exit_code == 1, result.output
    assert "FAIL refund-over-limit" in result.output
    assert "holds: expected 1, got 0" in result.output
    assert "approvals: expected 1, got 0" in result.output


def test_changed_prompt_is_a_cassette_miss_with_a_diff(case: Path, store: Path) -> None:
    edit_case(case, lambda d: d["scenario"].update(input="Refund ord_5531 now."))
    result = agentbox(store, "test", case)
    assert result.exit_code == 1
    assert "cassette miss at model call 0" in result.output
    assert "message 1 (user) changed:" in result.output
    assert "+Refund ord_5531 now." in result.output
    verbose = agentbox(store, "test", case, "-v")  # whole requests, one message per line
    assert '+{"content": "Refund ord_5531 now.", "role": "user"}' in verbose.output


def test_junit_xml_has_testsuite_testcase_failure(case: Path, store: Path, tmp_path: Path) -> None:
    broken = case.with_name("no-hold.yaml")
    broken.write_text(case.read_text().replace("case: refund-over-limit", "case: no-hold"))
    edit_case(broken, drop_big_refund_rule)
    report = tmp_path / "out" / "junit.xml"
    result = agentbox(store, "test", case.parent, "--junit", report)
    assert result.exit_code == 1
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    (suite,) = root.findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"refund-over-limit", "no-hold"}
    assert cases["refund-over-limit"].find("failure") is None
    failure = cases["no-hold"].find("failure")
    assert failure is not None and "holds: expected 1, got 0" in (failure.get("message") or "")
    assert "approvals: expected 1, got 0" in (failure.text or "")


def test_pytest_collects_and_runs_cases(
    case: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin, loaded through its ``pytest11`` entry point, in a pytest run in this
    process (pytester: no second interpreter start)."""
    (case.parent / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    (case.parent / "notes.yaml").write_text("just: a yaml file\n")  # not a case: not collected
    monkeypatch.chdir(ROOT)  # where the case's sandbox is found
    args = ["-p", "no:cacheprovider", "-p", "no:phoenix", "-W", "error", "-q", str(case.parent)]
    done = pytester.runpytest_inprocess(*args)
    done.assert_outcomes(passed=2)

    edit_case(case, drop_big_refund_rule)
    done = pytester.runpytest_inprocess(*args)
    done.assert_outcomes(passed=1, failed=1)
    assert done.ret == pytest.ExitCode.TESTS_FAILED
    done.stdout.fnmatch_lines(["*refund-over-limit.yaml::refund-over-limit*"])
    assert "holds: expected 1, got 0" in done.stdout.str()


def test_pass_k_over_repeats(case: Path, store: Path) -> None:
    broken = case.with_name("no-hold.yaml")
    broken.write_text(case.read_text())
    edit_case(broken, drop_big_refund_rule)
    result = agentbox(store, "test", case.parent, "--repeat", "3", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert len(data["results"]) == 6
    assert data["summary"]["k"] == 3 and data["summary"]["pass_k"] == 0.5
    result = agentbox(store, "test", case, "--repeat", "3")
    assert result.exit_code == 0 and "pass^3" in result.output and "100.0%" in result.output


def _verdicts(output: str) -> list[tuple[Any, ...]]:
    data = json.loads(output)
    return [
        (
            r["path"],
            r["name"],
            r["repeat"],
            r["passed"],
            r["status"],
            [f["name"] for f in r["failures"]],
            r["metrics"]["tool_calls"],
        )
        for r in data["results"]
    ]


def test_parallel_workers_give_the_same_results(case: Path, store: Path, tmp_path: Path) -> None:
    suite = case.parent
    export_scenario(store, suite, "prompt-injection")
    export_scenario(store, suite, "invalid-argument")
    broken = suite / "no-hold.yaml"
    broken.write_text(case.read_text())
    edit_case(broken, drop_big_refund_rule)
    one = agentbox(
        store, "test", suite, "scenarios/refund-clean.yaml", "-j", "1", "--repeat", "2", "--json"
    )
    two = agentbox(
        store, "test", suite, "scenarios/refund-clean.yaml", "-j", "2", "--repeat", "2", "--json"
    )
    assert one.exit_code == two.exit_code == 1
    assert _verdicts(one.stdout) == _verdicts(two.stdout)
    assert len(_verdicts(two.stdout)) == 10
    assert (
        json.loads(one.stdout)["summary"]["pass_k"]
        == json.loads(two.stdout)["summary"]["pass_k"]
        == 0.8
    )


def test_report_prints_rates_and_unknown_cost(case: Path, store: Path) -> None:
    def unknown_prices(data: dict[str, Any]) -> None:
        for call in data["cassette"]["calls"]:
            call["cost_usd"] = None
        data["expect"].pop("max_cost_usd")

    edit_case(case, unknown_prices)
    assert agentbox(store, "test", case).exit_code == 0
    run_id = last_run_id(store)
    result = agentbox(store, "report", run_id)
    assert result.exit_code == 0, result.output
    out = result.output
    for label in (
        "tool-call validity",
        "tool-call success",
        "expectations",
        "approval rate",
        "policy blocks",
        "tokens",
        "step latency",
        "per successful outcome",
    ):
        assert label in out
    assert "100.0%" in out and "unknown" in out and "$0.0000" not in out
    data = json.loads(agentbox(store, "report", "--suite", case.parent, "--json").stdout)
    (row,) = data["runs"]
    assert row["run_id"] == run_id and row["cost_usd"] is None and row["cost_unknown"] == 4
    assert row["validity_rate"] == 1.0 and row["approval_rate"] == 1.0
    assert (
        data["summary"]["cost_per_success"] is None and data["summary"]["latency_p95_s"] is not None
    )


def test_plain_scenarios_just_run(store: Path) -> None:
    result = agentbox(store, "test", "scenarios/refund-clean.yaml", "scenarios/runaway-loop.yaml")
    assert result.exit_code == 0, result.output
    assert "PASS refund-clean" in result.output and "PASS runaway-loop" in result.output


def test_shipped_example_suite_passes(store: Path) -> None:
    result = agentbox(store, "test", "suites/retail-regressions", "-q")
    assert result.exit_code == 0, result.output
    assert len(list((ROOT / "suites" / "retail-regressions").glob("*.yaml"))) >= 3


def test_invalid_case_is_reported_with_its_line(case: Path, store: Path) -> None:
    case.write_text(case.read_text().replace("  holds: 1\n", "  holds: lots\n"))
    result = agentbox(store, "test", case, "--junit", case.with_suffix(".xml"))
    assert result.exit_code == 2
    assert "expect.holds" in result.output and f"{case.name}:" in result.output
    assert ET.parse(case.with_suffix(".xml")).getroot().get("errors") == "1"


def test_judge_records_a_verdict_and_reuses_it() -> None:
    from agentbox.llm_judge import judge

    passed, why, record = judge(
        "Mentions the refund.",
        "Your refund is on its way.",
        "openai/gpt-4o-mini",
        mock_response='{"passed": true, "reasoning": "It names the refund."}',
    )
    assert (passed, why) == (True, "It names the refund.")
    assert record["passed"] is True and len(record["key"]) == 64
    again = judge("Mentions the refund.", "Your refund is on its way.", "no-such/model", record)
    assert again[:2] == (True, "It names the refund.")  # recorded: the model is not asked


def test_case_llm_judge_replays_the_recorded_verdict(case: Path, store: Path) -> None:
    from agentbox.llm_judge import judgment_key

    data = yaml.safe_load(case.read_text())
    output = data["cassette"]["calls"][-1]["text"]
    rubric = "The reply says the refund was approved."

    def add_judge(passed: bool) -> Any:
        def change(d: dict[str, Any]) -> None:
            d["expect"]["llm_judge"] = [{"rubric": rubric, "model": "no-such/model"}]
            d["cassette"]["judgments"] = [
                {
                    "key": judgment_key(rubric, output),
                    "rubric": rubric,
                    "passed": passed,
                    "reasoning": "recorded verdict",
                }
            ]

        return change

    edit_case(case, add_judge(True))
    assert agentbox(store, "test", case).exit_code == 0
    edit_case(case, add_judge(False))
    result = agentbox(store, "test", case)
    assert result.exit_code == 1 and "llm_judge[0]: recorded verdict" in result.output


def test_suites_import_neither_litellm_nor_textual() -> None:
    code = (
        "import sys, agentbox.suites, agentbox.pytest_plugin, agentbox.cli.suite_cmds; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'textual')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr


def test_export_refuses_unfinished_runs(store: Path, tmp_path: Path) -> None:
    result = agentbox(store, "run", "scenarios/refund-over-limit.yaml", "--detach", "-q")
    assert result.exit_code == 0, result.output
    result = agentbox(store, "export", last_run_id(store), "--suite", tmp_path / "s")
    assert result.exit_code == 2 and "only finished runs can be exported" in result.output


def test_duplicate_keys_in_a_case_are_errors(case: Path, store: Path) -> None:
    case.write_text(case.read_text().replace("  holds: 1\n", "  holds: 1\n  holds: 0\n"))
    result = agentbox(store, "test", case)
    assert result.exit_code == 2 and "duplicate key 'holds'" in result.output


def test_state_checks_name_changed_fields() -> None:
    from agentbox.suites.derive import state_checks

    changes = [
        ("refunds", "ref_1", None, {"id": "ref_1", "status": "pending"}),
        (
            "orders",
            "ord_1",
            {"status": "delivered", "tags": ["a"], "x": 1},
            {"status": "returned", "tags": ["a", "b"]},
        ),
        ("orders", "ord_2", {"items": [1, 2, 3]}, {"items": [1, 3]}),
        ("tickets", "t.1", {"a": 1}, None),
        ("tickets", "tkt_2", {"a": 1}, None),
    ]
    checks = state_checks(changes)
    assert {"path": "refunds.ref_1", "equals": {"id": "ref_1", "status": "pending"}} in checks
    assert {"path": "orders.ord_1.status", "equals": "returned"} in checks
    assert {"path": "orders.ord_1.tags[1]", "equals": "b"} in checks
    assert {"path": "orders.ord_1.x", "exists": False} in checks
    assert {"path": "orders.ord_2", "equals": {"items": [1, 3]}} in checks  # list removal: whole
    assert {"path": "tickets.tkt_2", "exists": False} in checks
    assert not any(c["path"].startswith("tickets.t.1") for c in checks)  # unsafe key: skipped


def test_watch_runs_again_when_a_file_changes(case: Path, store: Path) -> None:
    term = Terminal(ROOT, "test", str(case.parent), "--watch", "--store", str(store))
    term.expect("1 passed")  # the first run, before any change
    term.expect("watching")
    for _ in range(60):  # saved again, until the watcher (starting after its line) sees it
        case.write_text(case.read_text())
        with contextlib.suppress(AssertionError):
            term.expect("changed:", timeout=1)
            break
    term.expect("1 passed")  # and run again
    term.proc.send_signal(signal.SIGINT)  # Ctrl-C ends the watch
    code, text = term.finish()
    assert code == 0, text


def test_duplicate_keys_in_a_case_with_an_anchor_are_errors(case: Path, store: Path) -> None:
    # an alias sends the case down the checked loader, which once skipped the duplicate check
    text = case.read_text().replace("  holds: 1\n", "  holds: 1\n  holds: 0\n")
    allow = "    allow: [get_order, lookup_customer, create_refund, add_ticket_note]\n"
    assert allow in text
    case.write_text(text.replace(allow, allow.replace("[", "&tools [") + "    deny: *tools\n"))
    result = agentbox(store, "test", case)
    assert result.exit_code == 2 and "duplicate key 'holds'" in result.output


def test_a_file_that_cannot_load_exits_2_after_the_other_cases_ran(
    store: Path, tmp_path: Path
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    good = (ROOT / "scenarios" / "refund-clean.yaml").read_text()
    (suite / "good.yaml").write_text(good)
    (suite / "typo.yaml").write_text(good.replace("\nexpect:", "\nexpcet:"))
    result = agentbox(store, "test", suite)
    assert result.exit_code == 2, result.output
    assert "PASS refund-clean" in result.output
    assert "typo.yaml:" in result.output and "expcet: unknown field" in result.output
    result = agentbox(store, "test", suite / "good.yaml")
    assert result.exit_code == 0, result.output
