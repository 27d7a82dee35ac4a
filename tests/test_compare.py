"""`agentbox compare` (issue 17): flips, metric deltas, noise, gates and their outputs over
constructed pairs of suite runs (one case fixed, one broken)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentbox.suites.compare import sign_test_p

ROOT = Path(__file__).resolve().parent.parent
CASES = ("invalid-argument.yaml", "refund-denied.yaml", "refund-over-limit.yaml")


def make_suite(folder: Path, cases: tuple[str, ...] = CASES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in cases:
        shutil.copy(ROOT / "suites" / "retail-regressions" / name, folder / name)
    return folder


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def break_case(data: dict[str, Any]) -> None:
    data["expect"]["status"] = "halted"  # the recorded run completed: this expectation fails


def run_suite(cli, suite: Path, *args: str, failing: int = 0) -> str:
    """Run ``suite`` (``failing`` of its cases are expected to fail); its suite run id."""
    result = cli("test", suite, "--json", *args)
    assert result.exit_code == (1 if failing else 0), result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["runs"] - summary["passed_runs"] == failing, summary
    return str(json.loads(result.stdout)["suite_run"])


@pytest.fixture()
def pair(cli, tmp_path: Path) -> tuple[str, str, Path]:
    """Suite run A (refund-denied broken) and B (refund-denied fixed, refund-over-limit
    broken) of one suite folder."""
    suite = make_suite(tmp_path / "suite")
    original = (suite / "refund-denied.yaml").read_text()
    edit(suite / "refund-denied.yaml", break_case)
    a = run_suite(cli, suite, "--label", "v1", failing=1)
    (suite / "refund-denied.yaml").write_text(original)
    edit(suite / "refund-over-limit.yaml", break_case)
    b = run_suite(cli, suite, "--label", "v2", failing=1)
    return a, b, suite


def test_flips_and_metrics_of_a_constructed_pair(cli, pair) -> None:
    a, b, _ = pair
    result = cli("compare", a, b, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    kinds = {c["key"]: c["kind"] for c in data["cases"]}
    assert kinds == {
        "refund-denied.yaml": "fixed",
        "refund-over-limit.yaml": "broken",
        "invalid-argument.yaml": "still passing",
    }
    assert [c["kind"] for c in data["cases"]][:2] == ["broken", "fixed"]  # worst first
    assert data["counts"] == {"broken": 1, "fixed": 1, "still failing": 0, "still passing": 1}
    metrics = {m["metric"]: m for m in data["metrics"]}
    assert metrics["pass_rate"]["a"] == pytest.approx(2 / 3)
    assert metrics["pass_rate"]["b"] == pytest.approx(2 / 3)
    assert metrics["pass_rate"]["delta"] == pytest.approx(0)
    assert metrics["pass_k"]["a"] == pytest.approx(2 / 3)
    assert metrics["validity"]["a"] == metrics["validity"]["b"] < 1  # invalid-argument
    assert metrics["tokens"]["a"] > 0 and metrics["cost_per_run"]["a"] == 0.0
    assert metrics["latency_p95"]["a"] is not None
    assert data["a"]["label"] == "v1" and data["b"]["label"] == "v2"
    assert data["noise"]["assessed"] is False  # k = 1
    assert data["noise"]["improved"] == 1 and data["noise"]["worsened"] == 1

    table = cli("compare", "v1", "v2")  # labels resolve to their latest suite runs
    assert table.exit_code == 0
    text = " ".join(table.output.split())
    assert "1 broken · 1 fixed · 0 still failing · 1 still passing" in text
    assert "broken refund-over-limit.yaml" in text and "fixed refund-denied.yaml" in text


def test_fail_on_regression_exits_1_even_when_the_pass_rate_holds(cli, pair, tmp_path) -> None:
    a, b, _ = pair
    junit, md = tmp_path / "out" / "c.xml", tmp_path / "out" / "c.md"
    result = cli("compare", a, b, "--fail-on-regression", "1%", "--junit", junit, "--md", md)
    assert result.exit_code == 1, result.output
    assert "gate broken_cases=1%: FAIL" in " ".join(result.output.split())
    assert "gate pass_rate=1%: ok" in " ".join(result.output.split())
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    failed = [tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert failed == ["refund-over-limit.yaml", "broken_cases=1%"]
    comment = md.read_text()
    assert comment.startswith("### agentbox compare: ❌ regression")
    assert "| `refund-over-limit.yaml` | 100% | 0% | broken |" in comment
    printed = cli("compare", a, b, "--md", "-")
    assert printed.stdout.startswith("### agentbox compare: ✅ no regression")

    same = cli("compare", a, a, "--fail-on-regression", "1%")  # nothing broke
    assert same.exit_code == 0, same.output


def test_per_metric_threshold(cli, tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    a = run_suite(cli, suite)

    def more_tokens(data: dict[str, Any]) -> None:
        for call in data["cassette"]["calls"]:
            call["input_tokens"] += 500

    for name in CASES:
        edit(suite / name, more_tokens)
    b = run_suite(cli, suite)
    out = json.loads(cli("compare", a, b, "--json").stdout)
    tokens = {m["metric"]: m for m in out["metrics"]}["tokens"]
    assert tokens["b"] > tokens["a"]
    assert cli("compare", a, b, "--max-regression", "tokens=5%").exit_code == 1
    assert cli("compare", a, b, "--max-regression", "tokens=900%").exit_code == 0
    assert cli("compare", a, b, "--max-regression", "validity=1%").exit_code == 0
    bad = cli("compare", a, b, "--max-regression", "vibes=1%")
    assert bad.exit_code == 2 and "unknown metric 'vibes'" in bad.output


def test_baseline_is_the_latest_earlier_run_of_the_same_suite(cli, pair, tmp_path) -> None:
    a, b, _ = pair
    other = make_suite(tmp_path / "other", CASES[:1])
    run_suite(cli, other)  # a later run of another suite is not B's baseline
    data = json.loads(cli("compare", "--baseline", b, "--json").stdout)
    assert (data["a"]["id"], data["b"]["id"]) == (a, b)
    first = cli("compare", "--baseline", a)
    assert first.exit_code == 2 and "no earlier suite run" in first.output


def test_different_suites_compare_the_overlap(cli, tmp_path: Path) -> None:
    a = run_suite(cli, make_suite(tmp_path / "one", CASES[:2]))
    b = run_suite(cli, make_suite(tmp_path / "two", (CASES[0], CASES[2])))
    result = cli("compare", a, b, "--json")
    data = json.loads(result.stdout)
    assert data["same_suite"] is False
    assert data["only_in_a"] == ["refund-denied.yaml"]
    assert data["only_in_b"] == ["refund-over-limit.yaml"]
    assert [c["key"] for c in data["cases"]] == ["invalid-argument.yaml"]
    text = " ".join(cli("compare", a, b).output.split())
    assert "compared the 1 case(s) both ran; only in A: refund-denied.yaml" in text


def test_unknown_label_and_bad_usage_exit_2(cli, pair) -> None:
    a, _, _ = pair
    unknown = cli("compare", a, "no-such-label")
    assert unknown.exit_code == 2
    assert "no suite run or label 'no-such-label'" in unknown.output
    assert "Traceback" not in unknown.output
    assert cli("compare", a).exit_code == 2
    bad = cli("compare", a, a, "--fail-on-regression", "lots")
    assert bad.exit_code == 2 and "expected a number or a percentage" in bad.output


def test_sign_test_p_values() -> None:
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(3, 3) == 1.0
    assert sign_test_p(0, 6) == pytest.approx(2 / 64)  # all six cases got worse
    assert sign_test_p(1, 9) == pytest.approx(2 * 11 / 1024)


def test_suite_runs_without_a_common_case_exit_2(cli, tmp_path: Path) -> None:
    a = run_suite(cli, make_suite(tmp_path / "one", CASES[:1]))
    b = run_suite(cli, make_suite(tmp_path / "two", CASES[1:2]))
    result = cli("compare", a, b)
    assert result.exit_code == 2
    assert f"suite runs {a}" in result.output and "share no case" in result.output
