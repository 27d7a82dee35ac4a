"""State patches of record edits: the fast path gives exactly jsonpatch's operations.

``State.edit`` records what a tool changed as RFC 6902 operations. Field edits and list
appends are found in one walk of the record instead of ``jsonpatch.make_patch``; stored
traces must not change, so the operations (and their JSON text) are compared with
jsonpatch's on thousands of random edits, and applying them must give the edited record.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import jsonpatch

from agentbox.sandbox.state import State

SCALARS = [0, 1, 1.0, True, False, None, "a", "ab", "x/y", "t~1", 2.5, "", -3]


def _value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth < 3 and r < 0.15:
        # every other key needs escaping in a JSON pointer (``/`` and ``~``)
        return {
            f"k{i}" if i % 2 else f"k/{i}~": _value(rng, depth + 1) for i in range(rng.randrange(4))
        }
    if depth < 3 and r < 0.3:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return rng.choice(SCALARS)


def _edit(rng: random.Random, record: dict[str, Any]) -> None:
    for _ in range(rng.randrange(1, 3)):
        key = rng.choice(list(record))
        value = record[key]
        if isinstance(value, list) and rng.random() < 0.5:
            value.append(_value(rng))
        elif isinstance(value, dict) and value and rng.random() < 0.5:
            value[rng.choice(list(value))] = _value(rng)
        elif rng.random() < 0.05:
            record[f"new{rng.randrange(3)}"] = _value(rng)
        else:
            record[key] = _value(rng)


def test_edit_patches_are_jsonpatch_operations_byte_for_byte() -> None:
    rng = random.Random(16)
    for _ in range(3000):
        old = {f"f{i}": _value(rng) for i in range(rng.randrange(1, 6))}
        state = State({"items": {"a/b": old}})
        with state.edit("items", "a/b") as draft:
            _edit(rng, draft)
        new = state.get("items", "a/b")
        expected = [
            {**op, "path": "/items/a~1b" + op["path"]}
            for op in jsonpatch.make_patch(old, new).patch
        ]
        ops = state.drain_patch()
        assert json.dumps(ops) == json.dumps(expected), (old, new)
        replayed = State({"items": {"a/b": copy.deepcopy(old)}})
        replayed.apply_patch(ops)
        assert json.dumps(replayed.get("items", "a/b")) == json.dumps(new)
