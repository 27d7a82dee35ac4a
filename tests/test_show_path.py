"""`show --state --path` (and the TUI's State tab) show one part of the state; `--state`
and `--diff` without `--step` mean the last step (issue 19, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inproc import agentbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def refund(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """refund-over-limit: step 4 creates ref_0001 for ord_5531."""
    monkeypatch.chdir(ROOT)
    store = tmp_path / "t.db"
    done = agentbox(store, "run", "scenarios/refund-over-limit.yaml", "--json")
    return store, str(json.loads(done.stdout)["run_id"])


def test_state_path_prints_only_that_part(refund: tuple[Path, str]) -> None:
    store, run_id = refund
    record = json.loads(
        agentbox(
            store, "show", run_id, "--step", "4", "--state", "--path", "orders.ord_5531"
        ).stdout
    )
    assert record["id"] == "ord_5531" and record["total_usd"] == 240.0
    field = agentbox(
        store, "show", run_id, "--step", "4", "--state", "--path", "refunds.ref_0001.amount_usd"
    )
    assert json.loads(field.stdout) == 240.0
    refunds = json.loads(
        agentbox(store, "show", run_id, "--step", "4", "--state", "--path", "refunds").stdout
    )
    assert "ref_0001" in refunds and "customers" not in refunds
    missing = agentbox(
        store, "show", run_id, "--step", "2", "--state", "--path", "refunds.ref_0001"
    )
    assert missing.exit_code == 2 and "no record 'ref_0001' in refunds" in missing.output
    typo = agentbox(store, "show", run_id, "--state", "--path", "order.ord_5531")
    assert typo.exit_code == 2 and "no collection 'order'" in typo.output
    alone = agentbox(store, "show", run_id, "--path", "orders")
    assert alone.exit_code == 2 and "--path filters --state or --diff" in alone.output


def test_state_and_diff_without_step_mean_the_last_step(refund: tuple[Path, str]) -> None:
    store, run_id = refund
    last = json.loads(agentbox(store, "show", run_id, "--state", "--path", "refunds").stdout)
    assert last["ref_0001"]["status"] == "pending"
    changes = json.loads(agentbox(store, "show", run_id, "--diff", "-1", "--json").stdout)
    assert {(c["collection"], c["key"]) for c in changes} == {
        ("refunds", "ref_0001"),
        ("tickets", "tkt_9001"),
    }
    only = agentbox(store, "show", run_id, "--diff", "-1", "--path", "refunds", "--json")
    assert [c["key"] for c in json.loads(only.stdout)] == ["ref_0001"]


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_tui_state_tab_follows_the_path(refund: tuple[Path, str], anyio_backend: str) -> None:
    from agentbox.config import load_settings
    from agentbox.store import TraceStore
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.widgets.text_pane import TextPane

    store, run_id = refund
    trace = TraceStore(store)
    tui = AgentboxApp(trace, load_settings(ROOT), run_id=run_id, state_path="refunds.ref_0001")

    def state_text() -> str:
        return str(tui.screen.query_one("#state", TextPane).plain)

    async def wait(cond: object) -> None:
        for _ in range(100):
            if cond():  # type: ignore[operator]
                return
            await pilot.pause(0.05)
        raise AssertionError(state_text())

    async with tui.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("G", "2")
        await wait(
            lambda: "refunds.ref_0001" in state_text() and '"amount_usd": 240.0' in state_text()
        )
        await pilot.press("p")
        await pilot.pause()
        tui.screen.query_one("Input").value = "orders.ord_5531.status"
        await pilot.press("enter")
        await wait(lambda: "orders.ord_5531.status" in state_text() and "delivered" in state_text())
        await pilot.press("p")
        await pilot.pause()
        tui.screen.query_one("Input").value = "refunds.ref_9999"
        await pilot.press("enter")
        await wait(lambda: "no record 'ref_9999' in refunds" in state_text())
    trace.close()


def test_pick_follows_the_dotted_path_grammar() -> None:
    from agentbox.checkpoints import pick
    from agentbox.errors import AgentboxError
    from agentbox.sandbox.state import State

    state = State({"orders": {"o1": {"items": [{"q": 1}, {"q": 2}], "status": "a"}}})
    assert pick(state, "orders.o1.items[-1].q") == 2
    assert pick(state, "orders.o1.items[0]") == {"q": 1}
    with pytest.raises(AgentboxError, match=r"orders\.o1 has no 'nope'") as info:
        pick(state, "orders.o1.nope")
    assert info.value.hint == "orders.o1 has: items, status"
    with pytest.raises(AgentboxError, match=r"items has no 5"):
        pick(state, "orders.o1.items[5]")
