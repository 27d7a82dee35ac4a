"""Issue 19, item 7: run/show --json carry steps and changes, resume and fork take -q, a
held call is announced even with -q, a missing API key fails before litellm loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from inproc import agentbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return tmp_path / "t.db"


def test_run_json_has_steps_and_show_json_has_changes(store: Path) -> None:
    ran = json.loads(agentbox(store, "run", "scenarios/refund-over-limit.yaml", "--json").stdout)
    assert [s["kind"] for s in ran["steps"]][:3] == ["llm", "tool", "llm"]
    assert ran["steps"][1]["name"] == "get_order" and ran["steps"][-1]["kind"] == "final"
    shown = json.loads(agentbox(store, "show", ran["run_id"], "--json").stdout)
    assert shown["changes"] == ran["changes"]
    assert {(c["collection"], c["key"]) for c in shown["changes"]} == {
        ("refunds", "ref_0001"),
        ("tickets", "tkt_9001"),
    }


def test_resume_and_fork_take_q(store: Path) -> None:
    parked = agentbox(store, "run", "scenarios/refund-over-limit.yaml", "--detach", "-q")
    run_id = parked.output.split("run ")[1].split()[0]
    resumed = agentbox(store, "resume", run_id, "--approve", "-q")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming run" not in resumed.output and "create_refund(" not in resumed.output
    assert "status" in resumed.output and "completed" in resumed.output
    forked = agentbox(store, "fork", run_id, "--at", "1", "-q")
    assert forked.exit_code == 0, forked.output
    assert "forking run" not in forked.output and "get_order(" not in forked.output
    assert "expectations passed" in forked.output


def test_quiet_run_waiting_for_approval_prints_the_approval_id(store: Path, tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "scenarios" / "refund-over-limit.yaml").read_text())
    data["approvals"] = {"handler": "wait", "timeout_s": 0.5, "on_timeout": "deny"}
    scenario = tmp_path / "wait.yaml"
    scenario.write_text(yaml.safe_dump(data))
    done = agentbox(store, "run", scenario, "-q")
    assert "held, waiting for approval ap_" in done.output
    assert "agentbox approve ap_" in done.output
    as_json = agentbox(store, "run", scenario, "--json")  # one JSON document, nothing else
    assert json.loads(as_json.output)["run_id"]


def test_a_missing_provider_key_fails_before_litellm_is_imported(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from agentbox.cli import app\n"
        "r = CliRunner().invoke(app, ['run', 'scenarios/refund-clean.yaml', '--model',"
        " 'openai/gpt-4o-mini', '--store', sys.argv[1]])\n"
        "print(r.exit_code, 'litellm' in sys.modules)\n"
        "print(r.output)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "t.db")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    first, rest = done.stdout.split("\n", 1)
    assert first == "2 False", done.stdout + done.stderr
    assert "needs OPENAI_API_KEY in the environment" in rest
