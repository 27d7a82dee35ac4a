"""Typed trace events (issue 12, item 1): the models, the write-boundary check, old stores.

``tests/fixtures/trace-format-1.json`` is a store written by agentbox before the trace
format was versioned (made by ``tests/fixtures/make_trace_v1.py`` with that version); the
tests rebuild it with plain sqlite3 and open it with today's store.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sqlite3
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from agentbox import events
from agentbox.errors import StoreError
from agentbox.events import (
    EVENT_TYPES,
    TRACE_FORMAT,
    ApprovalEvent,
    LlmEvent,
    PolicyEvent,
    ToolEvent,
    TraceFormatError,
    UnknownEvent,
    parse_event,
)
from agentbox.store import StepRow, TraceStore

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _generator() -> typing.Any:
    spec = importlib.util.spec_from_file_location("make_trace_v1", FIXTURES / "make_trace_v1.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def old_store(project: Path) -> Path:
    """Rebuild the format-1 store in ``project`` (with its sandbox, so runs can fork)."""
    gen = _generator()
    box = project / "sandboxes" / "bank"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(gen.TOOLS, encoding="utf-8")
    text = (FIXTURES / "trace-format-1.json").read_text(encoding="utf-8")
    dump = json.loads(text.replace("PROJECT", str(project)))
    path = project / "traces.db"
    conn = sqlite3.connect(path)
    for name, table in dump["tables"].items():
        conn.execute(table["sql"])
        columns = table["columns"]
        for row in table["rows"]:
            if name == "blobs":
                row = [row[0], base64.b64decode(row[1])]
            marks = ",".join("?" * len(columns))
            conn.execute(f"INSERT INTO {name} ({','.join(columns)}) VALUES ({marks})", row)
    conn.commit()
    conn.close()
    return path


def run_id(store: TraceStore, scenario: str) -> str:
    return next(r.id for r in store.list_runs(limit=None) if r.scenario == scenario)


def test_the_union_and_the_kind_map_list_the_same_models() -> None:
    union = typing.get_args(typing.get_args(events.Event)[0])
    assert set(union) == set(EVENT_TYPES.values())
    for kind, model in EVENT_TYPES.items():
        assert model.model_fields["kind"].default == kind
        assert set(model.STATUSES) <= set(typing.get_args(events.StepStatus)), kind


def test_a_store_written_before_the_format_opens_migrated_and_renders(
    tmp_path: Path, cli: typing.Any
) -> None:
    path = old_store(tmp_path)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT value FROM meta WHERE key='trace_format'").fetchone() is None
    raw.close()
    store = TraceStore(path)
    try:
        assert store.trace_format() == TRACE_FORMAT
        runs = store.list_runs(limit=None)
        assert len(runs) == 9
        for run in runs:
            for step in store.steps(run.id):
                assert not isinstance(step.event, UnknownEvent), (step.kind, step.event)
        (policy,) = [s for s in store.steps(run_id(store, "timeout")) if s.kind == "policy"]
        assert "kind" not in policy.data and policy.data["cause"] == "agent"
        event = policy.event
        assert isinstance(event, PolicyEvent) and event.cause == "agent"
        held = [s for s in store.steps(run_id(store, "denied")) if s.kind == "approval"]
        assert isinstance(held[0].event, ApprovalEvent) and held[0].event.decision.rule == "big-pay"
        timeout_id, halted_id = run_id(store, "timeout"), run_id(store, "halted")
    finally:
        store.close()
    assert TraceStore(path).trace_format() == TRACE_FORMAT  # migrated once, in place
    shown = cli("show", timeout_id, "--store", str(path))
    assert shown.exit_code == 0, shown.output
    assert "policy ■ timeout: the agent's own code ran 0.3 s" in shown.output
    shown = cli("show", halted_id, "--store", str(path))
    assert shown.exit_code == 0, shown.output
    assert "get_account" in shown.output and "policy ■ halted" in shown.output


def test_a_run_of_an_old_store_forks(tmp_path: Path, cli: typing.Any) -> None:
    """A fork copies the parent's steps through the write-boundary check."""
    path = old_store(tmp_path)
    store = TraceStore(path)
    parent = run_id(store, "invalid")
    store.close()
    forked = cli("fork", parent, "--at", "3", "--store", str(path))
    assert forked.exit_code == 0, forked.output
    store = TraceStore(path)
    try:
        child = next(r for r in store.list_runs(limit=None) if r.parent_id == parent)
        kinds = [s.kind for s in store.steps(child.id)]
        assert kinds[:4] == ["llm", "tool", "llm", "fork"]
    finally:
        store.close()


def test_reading_upgrades_format_1_data_without_a_migration() -> None:
    event = parse_event("policy", {"reason": "too slow", "kind": "tool"})
    assert isinstance(event, PolicyEvent) and event.cause == "tool"


def test_reading_keeps_unknown_fields_and_kinds() -> None:
    event = parse_event("tool", {"args": {}, "result": "ok", "added_later": [1]})
    assert isinstance(event, ToolEvent) and event.model_extra == {"added_later": [1]}
    assert event.to_data() == {"args": {}, "result": "ok", "added_later": [1]}
    newer = parse_event("hologram", {"x": 1})
    assert isinstance(newer, UnknownEvent) and newer.kind == "hologram"
    assert newer.to_data() == {"x": 1}
    misfit = parse_event("llm", {"response": "not an object"})
    assert isinstance(misfit, UnknownEvent) and "response" in (misfit.problem or "")


def test_a_drifting_writer_fails_at_the_store(store_path: Path) -> None:
    store = TraceStore(store_path)
    try:
        with pytest.raises(TraceFormatError, match=r"run r1 step 0: .*args: Field required"):
            store.add_step(StepRow("r1", 0, "tool", "t", data={"tool": "t"}))
        with pytest.raises(TraceFormatError, match="cannot have status 'okay'"):
            store.add_step(StepRow("r1", 0, "tool", "t", status="okay", data={"args": {}}))
        with pytest.raises(TraceFormatError, match="kind 'hologram' is not in the trace"):
            store.add_step(StepRow("r1", 0, "hologram", "h"))
        with pytest.raises(TraceFormatError, match=r"response\.text"):
            store.add_step(StepRow("r1", 0, "llm", "m", data={"response": {"text": 5}}))
        assert store.step_count("r1") == 0
        store.add_step(StepRow("r1", 0, "tool", "t", status="pending", data={"args": {}}))
        with pytest.raises(TraceFormatError, match="cannot have status 'approved'"):
            store.update_step("r1", 0, status="approved")
        with pytest.raises(TraceFormatError, match="result"):
            store.update_step("r1", 0, status="ok", data={"args": {}, "result": ["x"]})
        store.update_step("r1", 0, status="ok", data={"args": {}, "result": "x"})
        (step,) = store.steps("r1")
        assert step.status == "ok" and isinstance(step.event, ToolEvent)
        assert step.event.result == "x"
    finally:
        store.close()


def test_a_step_kind_from_a_newer_agentbox_is_shown_raw(store_path: Path, cli: typing.Any) -> None:
    store = TraceStore(store_path)
    store.create_run(
        id="new1",
        scenario="s",
        scenario_json={},
        sandbox="x",
        mode="execute",
        agent="scripted",
        status="completed",
        started_at=1.0,
    )
    store.add_step(StepRow("new1", 0, "llm", "m", data={"response": {"text": "hi"}}))
    store.close()
    raw = sqlite3.connect(store_path)
    raw.execute(
        "INSERT INTO steps (run_id, idx, kind, name, status, started_at, data) "
        "VALUES ('new1', 1, 'hologram', 'h', 'ok', 2.0, '{\"beam\": 3}')"
    )
    raw.commit()
    raw.close()
    shown = cli("show", "new1", "--store", str(store_path))
    assert shown.exit_code == 0, shown.output
    assert 'hologram {"beam": 3}' in shown.output


def test_a_store_of_a_newer_trace_format_is_refused(store_path: Path) -> None:
    TraceStore(store_path).close()
    raw = sqlite3.connect(store_path)
    raw.execute("UPDATE meta SET value='99' WHERE key='trace_format'")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="trace format 99 is newer"):
        TraceStore(store_path)


def test_llm_event_types_the_response() -> None:
    event = parse_event(
        "llm",
        {
            "response": {
                "text": None,
                "tool_calls": [{"id": "c1", "name": "get", "arguments": {"a": 1}}],
                "cost_usd": None,
            },
            "request": {"hash": "h", "prefix": 0, "delta": [], "tools": ["get"]},
        },
    )
    assert isinstance(event, LlmEvent)
    assert event.response.tool_calls[0].name == "get" and event.response.cost_usd is None


def test_the_trace_format_page_is_current() -> None:
    assert events.DOC_PATH.read_text(encoding="utf-8") == events.render_markdown(), (
        "docs/trace-format.md is stale: run `python -m agentbox.events --write`"
    )


@pytest.mark.anyio
async def test_a_store_written_before_the_format_shows_in_the_tui(tmp_path: Path) -> None:
    from test_tui import screen_text, tui, wait_for

    from agentbox.config import load_settings

    store = TraceStore(old_store(tmp_path))
    try:
        denied = run_id(store, "denied")
        async with tui(store, load_settings(tmp_path), run_id=denied) as (app, pilot):
            await wait_for(pilot, lambda: "denied" in screen_text(app))
            text = screen_text(app)
            assert '✗ denied    pay(account_id="acc_1"' in text
            assert "completed: not paid" in text
            assert '• pay(account_id="acc_1", amount_usd=500)' in text  # the reasoning pane
    finally:
        store.close()


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


def test_a_step_of_an_old_export_is_stored_upgraded(store_path: Path) -> None:
    """`agentbox import` of a JSONL exported by an older agentbox writes format-1 steps."""
    store = TraceStore(store_path)
    try:
        old = {"reason": "the model did not answer within 1 s", "kind": "model"}
        store.add_step(StepRow("r1", 0, "policy", "timeout", status="timeout", data=old))
        (step,) = store.steps("r1")
        assert step.data == {"reason": old["reason"], "cause": "model"}
    finally:
        store.close()


_BASES: dict[str, dict[str, typing.Any]] = {
    "llm": {"response": {}},
    "tool": {"args": {}},
    "approval": {
        "approval_id": "a1",
        "tool": "t",
        "args": {},
        "decision": {"verdict": "hold", "tier": "yellow"},
    },
    "policy": {"reason": "r"},
    "error": {"error": "e"},
    "final": {},
    "fork": {},
    "note": {},
    "user": {"text": "hi", "by": "scripted", "turn": 0},
}
_VALUES: list[typing.Any] = [
    None,
    0,
    1.5,
    "s",
    "5",
    True,
    [],
    ["s"],
    [5],
    {},
    {"a": 1},
    {"verdict": "allow", "tier": "green"},
    {"verdict": "maybe", "tier": "green"},
    {"text": "x", "tool_calls": [{"name": "t", "arguments": {}}]},
    {"text": 5},
    {"tool_calls": [{"name": 5}]},
    {"hash": "h", "prefix": "x", "delta": [{"role": "user"}]},
    {"status": 200, "headers": {"a": "b"}},
    {"status": "ok", "headers": {"a": 1}},
    {"input_tokens": 3, "output_tokens": 4},
]


def _model_problems(kind: str, data: dict[str, typing.Any]) -> list[tuple[typing.Any, ...]] | None:
    try:
        EVENT_TYPES[kind].model_validate({**data, "kind": kind})
    except ValidationError as exc:
        return sorted(tuple(e["loc"]) for e in exc.errors())
    return None


def test_the_write_check_refuses_exactly_what_the_models_refuse() -> None:
    """The store's fast check (plain-dict validation) accepts a step's data exactly when
    its kind's pydantic model does, and names the same fields: every field of every kind
    set to each of a range of right and wrong values, and each required field left out."""
    assert set(_BASES) == set(EVENT_TYPES)
    tried = refused = 0
    for kind, model in EVENT_TYPES.items():
        base = _BASES[kind]
        assert _model_problems(kind, base) is None
        variants = [{**base, name: value} for name in model.model_fields for value in _VALUES]
        variants += [{k: v for k, v in base.items() if k != name} for name in base]
        for data in variants:
            data.pop("kind", None)
            expected = _model_problems(kind, data)
            try:
                events.check_data(kind, "ok" if "ok" in model.STATUSES else model.STATUSES[0], data)
            except TraceFormatError as exc:
                assert expected is not None, (kind, data, str(exc))
                for loc in expected:
                    assert ".".join(map(str, loc)) in str(exc) or len(expected) > 5, (kind, data)
                refused += 1
            else:
                assert expected is None, (kind, data, expected)
            tried += 1
    assert refused > 200 and tried - refused > 200, (tried, refused)
