"""From a failing run to a committed regression case (issue 19), through the public surface.

A python agent checks an order and adds a ticket note only when the order is delivered.
The seed's order is shipped, so the run fails its expectation; a fork at the tool call
with an edited result (the order delivered) passes; that fork exported as a case replays
offline under `agentbox test` and `pytest`; a changed prompt fails it with a compact diff.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from agentbox.cli import app

ROOT = Path(__file__).resolve().parent.parent

AGENT = """\
def run(ctx):
    order = ctx.call_tool("get_order", order_id="ord_5771")
    if order.ok and order.value.get("status") == "delivered":
        ctx.call_tool("add_ticket_note", ticket_id="tkt_9024", text="Delivered: refund approved.")
    reply = ctx.complete(
        [{"role": "system", "content": ctx.system}, {"role": "user", "content": ctx.input}],
        tools=[],
    )
    return reply.text
"""

SCENARIO = """\
name: late-order
sandbox: retail
agent:
  type: python
  entry: agents/checker.py:run
  system: |
    You are the support agent of Northwind.
    Check the order before you answer.
    Be brief and kind.
input: "Where is my order ord_5771? It should be delivered by now."
script:
  - say: "Your order ord_5771 has been delivered; a note is on your ticket."
expect:
  status: completed
  tool_calls: [{add_ticket_note: {ticket_id: tkt_9024}}]
"""

DELIVERED = '{"id": "ord_5771", "status": "delivered"}'


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder: the agent, the scenario, and settings using the repo's sandboxes."""
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "checker.py").write_text(AGENT)
    (tmp_path / "late-order.yaml").write_text(SCENARIO)
    (tmp_path / ".agentbox.toml").write_text(
        f'sandboxes = "{ROOT / "sandboxes"}"\nstore = "traces.db"\nsuite = "cases/late"\n'
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def agentbox(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def run_json(*args: str | Path) -> dict[str, Any]:
    result = agentbox(*args, "--json")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def pytest_cmd(folder: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:agentbox",
        "-p",
        "no:phoenix",
        "-p",
        "agentbox.pytest_plugin",
        "-q",
        str(folder),
    ]


def failing_then_forked() -> tuple[str, str]:
    """The failing run and its fork with the edited tool result (which passes)."""
    failing = run_json("run", "late-order.yaml")
    assert failing["passed"] is False
    assert [s["name"] for s in failing["steps"] if s["kind"] == "tool"] == ["get_order"]
    fork = run_json("fork", failing["run_id"], "--at", "0", "--tool-result", DELIVERED)
    assert fork["passed"] is True, fork
    return failing["run_id"], fork["run_id"]


def test_failing_run_to_forked_case_to_passing_suite_to_compact_miss(project: Path) -> None:
    _, fork_id = failing_then_forked()

    exported = agentbox("export", fork_id, "--name", "late-delivered")
    assert exported.exit_code == 0, exported.output
    case = project / "cases" / "late" / "late-delivered.yaml"  # from .agentbox.toml
    data = yaml.safe_load(case.read_text())
    (edit,) = data["edits"]
    assert edit["tool_result"] == {"tool": "get_order", "result": DELIVERED}
    assert len(data["cassette"]["calls"]) == 1

    tested = agentbox("test", case.parent)
    assert tested.exit_code == 0, tested.output
    assert "1 passed, 0 failed" in tested.output
    done = subprocess.run(
        pytest_cmd(case.parent), cwd=project, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout

    data["scenario"]["agent"]["system"] = data["scenario"]["agent"]["system"].replace(
        "Be brief and kind.", "Be brief, kind and exact."
    )
    case.write_text(yaml.safe_dump(data, sort_keys=False))
    failed = agentbox("test", case.parent)
    assert failed.exit_code == 1
    out = failed.output
    assert "cassette miss at model call 0" in out
    assert "-Be brief and kind." in out and "+Be brief, kind and exact." in out
    assert "Check the order before you answer." not in out  # unchanged lines are not shown
    assert out.count("Where is my order") == 0  # nor unchanged messages
    done = subprocess.run(
        pytest_cmd(case.parent), cwd=project, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "+Be brief, kind and exact." in done.stdout
    assert "Check the order before you answer." not in done.stdout


def test_fork_edits_of_state_message_and_a_held_call_replay_as_a_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """refund-over-limit: fork at the held create_refund (after its approval) with an
    edited result, and another fork with a state edit and a message; both replay."""
    monkeypatch.chdir(ROOT)
    store = tmp_path / "t.db"
    parent = run_json("run", "scenarios/refund-over-limit.yaml", "--store", store)["run_id"]
    forks = [
        run_json(
            "fork", parent, "--at", "4", "--tool-result", '{"error": "timeout"}', "--store", store
        ),
        run_json(
            "fork",
            parent,
            "--at",
            "2",
            "--set",
            "orders.ord_5531.total_usd=300",
            "--message",
            "Please hurry.",
            "--store",
            store,
        ),
    ]
    suite = tmp_path / "suite"
    for i, fork in enumerate(forks):
        done = agentbox(
            "export", fork["run_id"], "--suite", suite, "--name", f"f{i}", "--store", store
        )
        assert done.exit_code == 0, done.output
        # the fork's own scenario expectations may fail; the case keeps what the fork did
        data = yaml.safe_load((suite / f"f{i}.yaml").read_text())
        data["expect"] = {k: v for k, v in data["expect"].items() if k != "state"}
        (suite / f"f{i}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    first = yaml.safe_load((suite / "f0.yaml").read_text())
    assert first["edits"] == [
        {
            "at": 4,
            "forked_from": f"{parent}@4",
            "tool_result": {"tool": "create_refund", "result": '{"error": "timeout"}'},
        }
    ]
    assert first["decisions"][0]["verdict"] == "approve"
    second = yaml.safe_load((suite / "f1.yaml").read_text())
    assert second["edits"][0]["set"] == {"orders.ord_5531.total_usd": 300}
    assert second["edits"][0]["message"] == "Please hurry."
    tested = agentbox("test", suite, "--store", store, "--json")
    results = json.loads(tested.stdout)["results"]
    assert [r["passed"] for r in results] == [True, True], results
    for fork, result in zip(forks, results, strict=True):  # the replay did what the fork did
        replayed = run_json("show", result["run_id"], "--store", store)["steps"]
        recorded = run_json("show", fork["run_id"], "--store", store)["steps"]
        assert [(s["kind"], s["name"], s["status"]) for s in replayed] == [
            (s["kind"], s["name"], s["status"]) for s in recorded
        ]


def test_export_refuses_a_fork_that_read_its_database_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_store: Any
) -> None:
    from agentbox.errors import AgentboxError
    from agentbox.store import StepRow
    from agentbox.suites.export import build_case

    monkeypatch.chdir(ROOT)
    store = tmp_path / "t.db"
    parent = run_json("run", "scenarios/refund-clean.yaml", "--store", store)["run_id"]
    trace = open_store(store)
    steps = trace.steps(parent)
    fork = {"parent_id": parent, "at": 1, "edits": {"live_state": True}}
    trace.add_step(StepRow(parent, len(steps), "fork", "edit", data=fork))
    with pytest.raises(AgentboxError, match="--live-state"):
        build_case(trace, parent, tmp_path / "suite", "x")


def test_export_refuses_to_overwrite_without_force_and_shows_the_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    store = tmp_path / "t.db"
    suite = tmp_path / "suite"
    first = run_json("run", "scenarios/refund-over-limit.yaml", "--store", store)["run_id"]
    second = run_json("run", "scenarios/refund-over-limit.yaml", "--store", store)["run_id"]
    args = ("--suite", suite, "--name", "refund", "--store", store)
    assert agentbox("export", first, *args).exit_code == 0
    case = suite / "refund.yaml"
    before = case.read_text()

    again = agentbox("export", first, *args)  # the same run: nothing would change
    assert again.exit_code == 0 and "unchanged" in again.output

    refused = agentbox("export", second, *args)
    assert refused.exit_code == 2
    assert f"-  run: {first}" in refused.output and f"+  run: {second}" in refused.output
    assert "exists and this export would change it" in refused.output
    assert "--force" in refused.output
    assert case.read_text() == before

    forced = agentbox("export", second, *args, "--force")
    assert forced.exit_code == 0 and "overwrote" in forced.output
    assert f"run: {second}" in case.read_text()


def test_export_suite_defaults_to_the_configured_folder(project: Path) -> None:
    run_id = run_json("run", "late-order.yaml")["run_id"]
    done = agentbox("export", run_id)
    assert done.exit_code == 0, done.output
    assert (project / "cases" / "late" / "late-order.yaml").is_file()


def test_replay_miss_is_compact_on_miss_option_and_mode_alias(project: Path) -> None:
    run_id = run_json("run", "late-order.yaml")["run_id"]
    scenario = project / "late-order.yaml"
    scenario.write_text(SCENARIO.replace("Be brief and kind.", "Be brief, kind and exact."))

    strict = agentbox("replay", run_id)
    assert strict.exit_code == 1
    assert "message 0 (system) changed:" in strict.output
    assert "-Be brief and kind." in strict.output and "+Be brief, kind and exact." in strict.output
    assert "Check the order before you answer." not in strict.output
    assert "Where is my order" not in strict.output
    verbose = agentbox("replay", run_id, "-v")
    assert "Where is my order" in verbose.output  # every message, unchanged ones too

    live = agentbox("replay", run_id, "--on-miss", "live")
    assert live.exit_code == 0, live.output  # the scripted model answers from the miss on
    old = agentbox("replay", run_id, "--mode", "live-on-miss")  # the deprecated name
    assert old.exit_code == 0 and "deprecated" in old.output
    bad = agentbox("replay", run_id, "--on-miss", "maybe")
    assert bad.exit_code == 2 and "--on-miss must be strict or live" in bad.output
    assert "--mode" not in agentbox("replay", "--help").output  # hidden


def test_compact_diff_cuts_a_long_changed_line_to_the_change() -> None:
    from agentbox.cassette import compact_request_diff, request_diff

    words = " ".join(f"word{i}" for i in range(400))
    old = [{"role": "system", "content": words}, {"role": "user", "content": "hi"}]
    new = [{"role": "system", "content": words.replace("word200", "WORD200")}, old[1]]
    diff = compact_request_diff(old, new)
    lines = diff.splitlines()
    assert lines[0] == "message 0 (system) changed:"
    assert len(lines) == 3 and all(len(line) < 170 for line in lines)
    assert "word200" in lines[1] and "WORD200" in lines[2]
    assert len(request_diff(old, new).splitlines()) > 4  # -v: everything, with context
    assert compact_request_diff(old, old) == ""


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_tui_fork_with_an_edited_tool_result_exports_a_passing_case(
    project: Path, anyio_backend: str
) -> None:
    """The same chain with the fork made in the TUI at 80x24 (Pilot)."""
    import asyncio

    from textual.widgets import TextArea

    from agentbox.config import load_settings
    from agentbox.store import TraceStore
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.modals import ForkScreen
    from agentbox.tui.screens.run import RunScreen

    failing = run_json("run", "late-order.yaml")["run_id"]
    store = TraceStore(project / "traces.db")
    app = AgentboxApp(store, load_settings(project), run_id=failing)
    async with app.run_test(size=(80, 24)) as pilot:

        async def until(cond: Any) -> None:
            for _ in range(300):
                if cond():
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("timed out")

        await until(lambda: isinstance(app.screen, RunScreen))
        await pilot.press("g", "f")  # step 0: the get_order call
        await until(lambda: isinstance(app.screen, ForkScreen))
        await pilot.pause()
        result = app.screen.query_one("#fork-result", TextArea)
        assert app.focused is result and '"status": "shipped"' in result.text
        result.text = DELIVERED
        await pilot.press("ctrl+s")
        await until(lambda: isinstance(app.screen, RunScreen) and app.screen.run.id != failing)
        fork_id = app.screen.run.id
        await until(lambda: store.get_run(fork_id).finished)
    fork = store.get_run(fork_id)
    store.close()
    assert fork.parent_id == failing and fork.passed is True

    assert agentbox("export", fork_id, "--name", "tui-delivered").exit_code == 0
    tested = agentbox("test", project / "cases" / "late" / "tui-delivered.yaml")
    assert tested.exit_code == 0, tested.output


def test_readme_walkthrough_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Debug a failing run", 1)[1].split("\n### ", 1)[0]
    pictures = re.findall(r"\((docs/tui/[\w-]+\.svg)\)", section)
    assert len(pictures) >= 5
    for picture in pictures:
        assert (ROOT / picture).read_text().startswith("<svg"), picture
    store = tmp_path / "t.db"
    failing = run_json("run", "docs/walkthrough/late-order.yaml", "--store", store)
    assert failing["passed"] is False  # as the walkthrough says
    fork = run_json(
        "fork", failing["run_id"], "--at", "0", "--tool-result", DELIVERED, "--store", store
    )
    assert fork["passed"] is True
    case = ROOT / "suites" / "retail-regressions" / "late-order-delivered.yaml"
    assert yaml.safe_load(case.read_text())["edits"][0]["tool_result"]["tool"] == "get_order"
    tested = agentbox("test", case, "--store", store)
    assert tested.exit_code == 0, tested.output
    # the README's export, into a copy of the suite that already holds the case
    assert "export d688 --name late-order-delivered --force" in section
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / case.name).write_text(case.read_text())
    args = (fork["run_id"], "--name", "late-order-delivered", "--suite", suite, "--store", store)
    refused = agentbox("export", *args)
    assert refused.exit_code == 2 and "--force" in refused.output
    assert agentbox("export", *args, "--force").exit_code == 0
    assert fork["run_id"] in (suite / case.name).read_text()
