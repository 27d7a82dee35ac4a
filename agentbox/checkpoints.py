"""Checkpoints: rebuild what a run looked like at any step (checkpoint + stored patches)."""

from __future__ import annotations

from typing import Any

from agentbox.errors import AgentboxError, StoreError
from agentbox.paths import format_path, parse_path
from agentbox.sandbox.state import State
from agentbox.store import RunRow, TraceStore


def state_at(store: TraceStore, run: RunRow, step: int) -> State:
    """The run's state after ``step`` (``-1``: before the first step).

    Loads the latest full-state checkpoint at or before ``step`` and applies the stored
    RFC 6902 patches of the steps after it.

    Raises:
        StoreError: the run has no checkpoint (a store written by something else).
    """
    point = store.checkpoint_before(run.id, step)
    if point is None:
        raise StoreError(f"run {run.id} has no state checkpoint at or before step {step}")
    base_step, digest = point
    state = State(store.get_blob(digest))
    for patch in store.iter_patches(run.id, base_step + 1, step + 1):
        state.apply_patch(patch)
    state.drain_patch()
    return state


def pick(state: State, path: str) -> Any:
    """The value at a dotted path in a state: ``orders`` (a whole collection, as a
    ``{key: record}`` mapping), ``orders.ord_5531`` (a record), ``orders.ord_5531.items[0]``.

    Raises:
        AgentboxError: the path is empty or names nothing in the state (the message says
            which part is missing and what is there instead).
    """
    parts = parse_path(path)
    if not parts:
        raise AgentboxError(f"--path {path!r}: empty", "paths look like orders.ord_5531.status")
    coll = str(parts[0])
    if coll not in state.collections():
        raise AgentboxError(
            f"--path {path}: no collection {coll!r} in the state",
            "collections: " + ", ".join(state.collections()),
        )
    if len(parts) == 1:
        return dict(state.items(coll))
    key = str(parts[1])
    if not state.has(coll, key):
        raise AgentboxError(
            f"--path {path}: no record {key!r} in {coll}",
            f"{coll} has {state.count(coll)} record(s); e.g. " + ", ".join(state.keys(coll)[:5]),
        )
    node: Any = state.get(coll, key)
    for i, part in enumerate(parts[2:], start=2):
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        if isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
            node = node[part]
            continue
        where = format_path(parts[:i])  # nothing there: say what is
        have = ", ".join(map(str, node)) if isinstance(node, dict) else f"a {type(node).__name__}"
        raise AgentboxError(f"--path {path}: {where} has no {part!r}", f"{where} has: {have}")
    return node
