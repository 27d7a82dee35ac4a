"""Unit tests of :class:`agentbox.sandbox.state.State`: the copy-on-write overlay over a
shared seed, the RFC 6902 patches it records, and the read-only guard of read tools."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agentbox.errors import SandboxError
from agentbox.sandbox.state import ReadOnlyStateError, State, reading_only


@pytest.fixture()
def seed() -> dict[str, dict[str, Any]]:
    return {
        "orders": {
            "o1": {"status": "placed", "items": [{"sku": "a", "qty": 1}]},
            "o2": {"status": "delivered", "items": []},
        },
        "refunds": {},
    }


def test_reads_see_the_seed_in_insertion_order(seed: dict[str, Any]) -> None:
    state = State(seed)
    assert state.collections() == ["orders", "refunds"]
    assert state.keys("orders") == ["o1", "o2"]
    assert state.get("orders", "o2")["status"] == "delivered"
    assert state.get("orders", "nope", default="d") == "d"
    assert state.has("orders", "o1") and not state.has("orders", "o3")
    assert state.count("orders") == 2
    assert state.count("no-such-collection") == 0


def test_writes_never_touch_the_seed(seed: dict[str, Any]) -> None:
    before = copy.deepcopy(seed)
    state = State(seed)
    state.put("orders", "o3", {"status": "new"})
    with state.edit("orders", "o1") as order:
        order["status"] = "cancelled"
        order["items"][0]["qty"] = 5
    state.delete("orders", "o2")
    assert seed == before
    assert state.keys("orders") == ["o1", "o3"]
    assert state.get("orders", "o1")["items"][0]["qty"] == 5


def test_put_keeps_a_private_copy_of_the_record(seed: dict[str, Any]) -> None:
    state = State(seed)
    record = {"status": "new", "tags": ["x"]}
    state.put("orders", "o3", record)
    record["tags"].append("changed after put")
    assert state.get("orders", "o3") == {"status": "new", "tags": ["x"]}


def test_each_change_is_recorded_as_a_patch_then_drained(seed: dict[str, Any]) -> None:
    state = State(seed)
    state.put("orders", "o3", {"status": "new"})
    with state.edit("orders", "o1") as order:
        order["status"] = "cancelled"
    state.delete("orders", "o2")
    assert state.drain_patch() == [
        {"op": "add", "path": "/orders/o3", "value": {"status": "new"}},
        {"op": "replace", "path": "/orders/o1/status", "value": "cancelled"},
        {"op": "remove", "path": "/orders/o2"},
    ]
    assert state.drain_patch() == []


def test_keys_with_slashes_and_tildes_are_escaped_in_patches() -> None:
    state = State({"files": {}})
    state.put("files", "a/b~c", {"size": 1})
    (op,) = state.drain_patch()
    assert op["path"] == "/files/a~1b~0c"
    replay = State({"files": {}})
    replay.apply_patch([op])
    assert replay.get("files", "a/b~c") == {"size": 1}


def test_a_new_collection_is_added_then_replayed(seed: dict[str, Any]) -> None:
    state = State(seed)
    state.put("notes", "n1", {"text": "hi"})
    ops = state.drain_patch()
    assert ops[0] == {"op": "add", "path": "/notes", "value": {}}
    assert state.collections() == ["orders", "refunds", "notes"]
    replay = State(seed)
    replay.apply_patch(ops)
    assert replay.snapshot() == state.snapshot()


def test_apply_patch_rebuilds_the_same_state(seed: dict[str, Any]) -> None:
    state = State(seed)
    with state.edit("orders", "o1") as order:
        order["items"].append({"sku": "b", "qty": 2})
    state.put("refunds", "r1", {"order": "o1"})
    state.delete("orders", "o2")
    replay = State(seed)
    replay.apply_patch(state.drain_patch())
    assert replay.snapshot() == state.snapshot()
    assert replay.changes() == state.changes()


def test_apply_patch_refuses_paths_outside_the_state(seed: dict[str, Any]) -> None:
    state = State(seed)
    with pytest.raises(SandboxError, match="missing record"):
        state.apply_patch([{"op": "replace", "path": "/orders/o9/status", "value": "x"}])
    with pytest.raises(SandboxError, match="does not apply"):
        state.apply_patch([{"op": "remove", "path": "/orders/o1/no_such_field"}])
    with pytest.raises(SandboxError, match="whole collection"):
        state.apply_patch([{"op": "remove", "path": "/orders"}])


def test_edit_and_delete_of_a_missing_record_raise_key_error(seed: dict[str, Any]) -> None:
    state = State(seed)
    with pytest.raises(KeyError), state.edit("orders", "o9"):
        pass
    with pytest.raises(KeyError):
        state.delete("orders", "o9")
    state.delete("orders", "o1")
    with pytest.raises(KeyError):
        state.delete("orders", "o1")
    assert state.drain_patch() == [{"op": "remove", "path": "/orders/o1"}]


def test_changes_leave_out_records_changed_back(seed: dict[str, Any]) -> None:
    state = State(seed)
    with state.edit("orders", "o1") as order:
        order["status"] = "cancelled"
    with state.edit("orders", "o1") as order:
        order["status"] = "placed"
    state.put("refunds", "r1", {"amount": 5})
    state.delete("orders", "o2")
    assert state.changes() == [
        ("orders", "o2", seed["orders"]["o2"], None),
        ("refunds", "r1", None, {"amount": 5}),
    ]


def test_a_read_tool_cannot_write_and_nothing_changes(seed: dict[str, Any]) -> None:
    def sneaky(state: State, order_id: str) -> None:
        state.put("orders", order_id, {"status": "hacked"})

    guarded = reading_only(sneaky, "get_order")
    state = State(seed)
    with pytest.raises(ReadOnlyStateError, match="read tool get_order tried to put orders/o1"):
        guarded(state, "o1")
    assert state.get("orders", "o1")["status"] == "placed"
    assert state.drain_patch() == []
    state.put("orders", "o1", {"status": "ok"})  # writable again once the tool returned
    assert reading_only(guarded, "get_order") is guarded


def test_values_is_a_fresh_iterator_each_call(seed: dict[str, Any]) -> None:
    state = State(seed)
    assert [v["status"] for v in state.values("orders")] == ["placed", "delivered"]
    assert len(list(state.values("orders"))) == 2
