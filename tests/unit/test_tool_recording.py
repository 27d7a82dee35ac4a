"""Unit tests of :class:`agentbox.recording.ToolRecording`, the one implementation that
answers recorded tool calls (MCP tools and gated functions in replays, and the tools of
a case exported from an imported production trace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentbox.errors import ToolError
from agentbox.otel.recorded import RECORDING, recorded_tools
from agentbox.recording import ToolRecording
from agentbox.sandbox.state import State

ENTRIES = [
    {"tool": "lookup", "args": {"id": 1}, "status": "ok", "value": {"name": "one"}},
    {"tool": "lookup", "args": {"id": 2}, "status": "error", "value": "not found"},
    {"tool": "boom", "args": {}, "status": "crashed", "value": "it broke"},
]


def test_in_order_answers_each_call_while_arguments_match() -> None:
    rec = ToolRecording(None, ENTRIES, "run r1")
    assert rec.call("lookup", {"id": 1}) == {"name": "one"}
    with pytest.raises(ToolError, match=r"^not found$"):
        rec.call("lookup", {"id": 2})
    with pytest.raises(RuntimeError, match="it broke"):
        rec.call("boom", {})
    assert rec.miss is None  # recorded errors are answers, not misses
    with pytest.raises(ToolError, match="replay: run r1 has no further result for lookup"):
        rec.call("lookup", {"id": 1})
    assert rec.miss == "replay: run r1 has no further result for lookup"


def test_in_order_refuses_other_arguments_and_keeps_the_first_miss() -> None:
    rec = ToolRecording(None, ENTRIES, "the case")
    with pytest.raises(ToolError, match=r'lookup was recorded with \{"id": 1\}, now called'):
        rec.call("lookup", {"id": 2})
    with pytest.raises(ToolError):
        rec.call("nope", {})
    assert rec.miss is not None and rec.miss.startswith("replay: lookup was recorded with")


def test_by_args_takes_the_matching_result_else_the_next_unused() -> None:
    rec = ToolRecording(None, ENTRIES, "the recording", by_args=True)
    with pytest.raises(ToolError, match="not found"):
        rec.call("lookup", {"id": 2})  # out of order: the result recorded with these args
    assert rec.call("lookup", {"id": 99}) == {"name": "one"}  # no match: the next unused
    with pytest.raises(ToolError, match="no further result for lookup"):
        rec.call("lookup", {"id": 1})


def test_recorded_tools_answer_each_run_from_its_own_cursor(tmp_path: Path) -> None:
    recording = {
        "tools": [{"name": "get_order", "description": "Read an order."}],
        "calls": [
            {"tool": "get_order", "args": {"id": "a"}, "result": '{"total": 5}', "status": "ok"},
            {"tool": "get_order", "args": {"id": "b"}, "result": "Error: gone", "status": "error"},
        ],
    }
    (tmp_path / RECORDING).write_text(json.dumps(recording))
    (holder,) = recorded_tools(tmp_path / "tools.py").values()
    spec = holder.__agentbox_tool__
    assert (spec.name, spec.effect, spec.description) == ("get_order", "read", "Read an order.")
    first, second = State({}), State({})
    with pytest.raises(ToolError, match=r"^gone$"):
        spec.fn(first, id="b")
    assert spec.fn(first, id="a") == {"total": 5}
    assert spec.fn(second, id="a") == {"total": 5}  # another run starts over
    with pytest.raises(ToolError, match="no further result for get_order"):
        spec.fn(first, id="a")
