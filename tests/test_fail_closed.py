"""Issue 11, lifecycle items: a fork's edited result runs nothing, a detached run is not
auto-approved on resume, halted runs close their approvals, Ctrl-C says how to resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from procs import Terminal, pay_count, project
from typer.testing import CliRunner

from agentbox.cli import app
from agentbox.config import load_settings
from agentbox.store import TraceStore


@pytest.fixture()
def bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cwd = project(tmp_path / "p", approvals="approve")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("PAY_LOG", str(cwd / "pay.log"))
    return cwd


def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def _pay_step(store: TraceStore, run_id: str) -> int:
    return next(s.idx for s in store.steps(run_id) if s.kind == "tool" and s.name == "pay")


def _assert_edited_not_run(store: TraceStore, child_id: str, result: str) -> None:
    pays = [s for s in store.steps(child_id) if s.kind == "tool" and s.name == "pay"]
    assert len(pays) == 1
    assert pays[0].data["result"] == result and pays[0].data["edited"] is True
    assert pays[0].patch is None
    from agentbox.checkpoints import state_at

    child = store.get_run(child_id)
    final = state_at(store, child, store.step_count(child_id) - 1)
    assert final.get("accounts", "acc_1")["balance"] == 1000 and final.count("payments") == 0


def test_fork_tool_result_after_an_approval_runs_nothing_cli(bank: Path, open_store: Any) -> None:
    assert invoke("run", "payout.yaml", "-q").exit_code == 0
    assert pay_count(bank / "pay.log") == 1
    store = open_store(bank / "traces.db")
    parent = store.list_runs(limit=1)[0].id
    at = _pay_step(store, parent)
    assert store.steps(parent, at - 1, at)[0].kind == "approval"  # the README's example
    fork = invoke("fork", parent, "--at", str(at), "--tool-result", '{"error": "timeout"}')
    assert fork.exit_code == 0, fork.output
    assert pay_count(bank / "pay.log") == 1  # the real tool did not run again
    child = store.list_runs(limit=1)[0]
    assert child.parent_id == parent
    _assert_edited_not_run(store, child.id, '{"error": "timeout"}')


@pytest.mark.anyio
async def test_fork_tool_result_after_an_approval_runs_nothing_tui(
    bank: Path, open_store: Any, anyio_backend: str
) -> None:
    """The same fork made in the TUI (Pilot): the pay step, ``f``, a new result, ctrl+s."""
    import asyncio

    from textual.widgets import TextArea

    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.modals import ForkScreen
    from agentbox.tui.screens.run import RunScreen

    assert invoke("run", "payout.yaml", "-q").exit_code == 0
    store = open_store(bank / "traces.db")
    parent = store.list_runs(limit=1)[0].id
    at = _pay_step(store, parent)
    app = AgentboxApp(store, load_settings(bank), run_id=parent)
    async with app.run_test(size=(100, 30)) as pilot:

        async def until(cond: Any) -> None:
            for _ in range(600):
                if cond():
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("timed out")

        await until(lambda: isinstance(app.screen, RunScreen))
        await pilot.press("g", *["j"] * at)
        await until(lambda: isinstance(app.screen, RunScreen) and app.screen.cursor == at)
        await pilot.press("f")
        await until(lambda: isinstance(app.screen, ForkScreen))
        await pilot.pause()
        app.screen.query_one("#fork-result", TextArea).text = "payment service down"
        await pilot.press("ctrl+s")
        await until(lambda: isinstance(app.screen, RunScreen) and app.screen.run.id != parent)
        child = app.screen.run.id
        await until(lambda: store.get_run(child).finished)
    assert store.get_run(child).parent_id == parent
    assert pay_count(bank / "pay.log") == 1
    _assert_edited_not_run(store, child, "payment service down")


def test_resume_of_a_detached_run_waits_for_an_explicit_decision(
    bank: Path, open_store: Any
) -> None:
    parked = invoke("run", "payout.yaml", "--detach")  # the scenario says approvals: approve
    assert parked.exit_code == 0, parked.output
    store = open_store(bank / "traces.db")
    run = store.list_runs(limit=1)[0]
    approval = store.approvals(run_id=run.id)[0].id
    refused = invoke("resume", run.id)
    assert refused.exit_code == 2
    assert approval in refused.output and f"agentbox approve {approval}" in refused.output
    assert pay_count(bank / "pay.log") == 0
    assert store.get_approval(approval).status == "pending"
    assert store.get_run(run.id).status == "awaiting_approval"
    assert store.step_count(run.id) == 4  # nothing was added to the trace

    assert invoke("approve", approval, "--by", "maria").exit_code == 0
    done = invoke("resume", run.id)
    assert done.exit_code == 0, done.output
    assert pay_count(bank / "pay.log") == 1
    hold = next(s for s in store.steps(run.id) if s.kind == "approval")
    assert hold.status == "approved" and hold.data["decided_by"] == "maria"


def test_resume_with_an_explicit_flag_decides_the_parked_hold(bank: Path, open_store: Any) -> None:
    assert invoke("run", "payout.yaml", "--detach").exit_code == 0
    store = open_store(bank / "traces.db")
    run = store.list_runs(limit=1)[0]
    denied = invoke("resume", run.id, "--deny")
    assert denied.exit_code == 0, denied.output
    assert pay_count(bank / "pay.log") == 0
    assert store.get_run(run.id).status == "completed"
    assert store.approvals(run_id=run.id, status=None)[0].status == "denied"


def test_library_resume_of_an_undecided_hold_is_refused(bank: Path, open_store: Any) -> None:
    from agentbox.errors import StoreError
    from agentbox.lifecycle import resume_run

    assert invoke("run", "payout.yaml", "--detach").exit_code == 0
    store = open_store(bank / "traces.db")
    run = store.list_runs(limit=1)[0]
    with pytest.raises(StoreError, match="waiting for approval"):
        resume_run(store, run.id, load_settings(bank))
    assert pay_count(bank / "pay.log") == 0


def _at_the_prompt(bank: Path) -> Terminal:
    """``agentbox run`` of the payout at a terminal, its hold asked at the prompt."""
    text = (bank / "payout.yaml").read_text().replace("approvals: approve", "approvals: prompt")
    (bank / "prompt.yaml").write_text(text)
    return Terminal(bank, "run", "prompt.yaml")


def test_an_invalid_edit_at_the_prompt_asks_again(bank: Path, open_store: Any) -> None:
    term = _at_the_prompt(bank)
    for answer in ["amount_usd", "amount_usd=lots", "amount_usd=150"]:
        term.expect("approve? (y = yes, n = no, e = edit the arguments)")
        term.send("e")
        term.expect("edits as key=value")
        term.send(answer)
        if answer != "amount_usd=150":
            term.expect("try again" if "=" in answer else "expected key=value")
    code, text = term.finish()
    assert code == 0, text
    assert "expected key=value" in text and "try again" in text  # asked twice more
    assert pay_count(bank / "pay.log") == 1
    store = open_store(bank / "traces.db")
    try:
        run = store.list_runs(limit=1)[0]
        (approval,) = store.approvals(run_id=run.id, status=None)
    finally:
        store.close()
    args = {"account_id": "acc_1", "amount_usd": 300, "idempotency_key": "k-1"}
    assert approval.status == "approved"
    assert approval.edited_args == {**args, "amount_usd": 150}


def test_a_stop_while_the_prompt_waited_wins_over_the_answer(bank: Path, open_store: Any) -> None:
    term = _at_the_prompt(bank)
    text = term.expect("approve? (y = yes, n = no, e = edit the arguments)")
    run_id = text.split("run ", 1)[1].split()[0]
    stopped = invoke("stop", run_id, "--reason", "wrong account")  # arrives while asking
    assert stopped.exit_code == 0, stopped.output
    term.send("y")
    code, text = term.finish()
    assert code == 1, text
    assert pay_count(bank / "pay.log") == 0
    store = open_store(bank / "traces.db")
    try:
        run = store.get_run(run_id)
    finally:
        store.close()
    assert run.status == "stopped"
    assert run.reason is not None
    assert run.reason.startswith("stopped by ") and run.reason.endswith(": wrong account")
