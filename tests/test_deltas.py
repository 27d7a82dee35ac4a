"""Shadow deltas (issue 17, item 5): a recommend-mode suite's proposed actions against a
reference action file (what humans did) or the cases' expectations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HUMANS = """\
reference:
  - case: recommend-cancel
    actions:
      - cancel_order: {order_id: ord_5600}
      - send_email: {customer_id: cus_1042, subject: We cancelled your order}
      - add_ticket_note: {order_id: ord_5600}
"""


@pytest.fixture()
def recommend_suite(cli, tmp_path: Path) -> Path:
    """A suite of one recommend-mode case (recommend-cancel, exported from a run)."""
    result = cli("run", "scenarios/recommend-cancel.yaml", "--json")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    suite = tmp_path / "draft"
    assert cli("export", run_id, "--suite", suite).exit_code == 0
    tested = cli("test", suite, "--label", "draft")
    assert tested.exit_code == 0, tested.output
    return suite


def test_deltas_against_a_reference_file(cli, recommend_suite: Path, tmp_path: Path) -> None:
    humans = tmp_path / "humans.yaml"
    humans.write_text(HUMANS)
    result = cli("deltas", "draft", "--reference", humans, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    tools = data["tools"]
    assert tools["cancel_order"]["agreed"] == 1
    assert tools["send_email"]["mismatched"] == 1
    assert tools["send_email"]["mismatched_args"] == {"subject": 1}
    assert tools["add_ticket_note"]["missing"] == 1 and tools["add_ticket_note"]["proposed"] == 0
    assert data["total"]["extra"] == 0  # get_order is a read the humans did not list
    assert data["agreement_rate"] == pytest.approx(1 / 3)
    (case,) = data["cases"]
    assert case["case"] == "recommend-cancel.yaml" and case["source"] == "reference file"
    assert case["mismatched"][0]["proposed"]["args"]["subject"] == "Order ord_5600 cancelled"

    text = " ".join(cli("deltas", "--reference", humans).output.split())
    assert "agreement 33.3%" in text
    assert "missing add_ticket_note" in text
    assert "send_email: subject: 'We cancelled your order' ≠ 'Order ord_5600 cancelled'" in text


def test_deltas_against_the_case_expectations(cli, recommend_suite: Path) -> None:
    data = json.loads(cli("deltas", "--json").stdout)
    # the case expects only the get_order read; the proposed writes are extra
    assert data["tools"]["get_order"]["agreed"] == 1
    assert data["tools"]["cancel_order"]["extra"] == 1
    assert data["tools"]["send_email"]["extra"] == 1
    assert data["cases"][0]["source"] == "expectations"


def test_bad_reference_file_and_execute_suites_exit_2(
    cli, recommend_suite: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- case: recommend-cancel\n  actions:\n    - cancel_order: ord_5600\n")
    result = cli("deltas", "--reference", bad)
    assert result.exit_code == 2
    assert f"{bad}:3" in result.output and "arguments of cancel_order" in result.output

    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(ROOT / "suites" / "retail-regressions" / "refund-denied.yaml", plain)
    assert cli("test", plain, "--label", "exec").exit_code == 0
    result = cli("deltas", "exec")
    assert result.exit_code == 2 and "has no recommend or shadow runs" in result.output
