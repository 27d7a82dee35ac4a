"""Checkpoints: rebuild what a run looked like at any step (checkpoint + stored patches)."""

from __future__ import annotations

import re
from typing import Any

from agentbox.errors import AgentboxError, StoreError
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


_SEGMENT = re.compile(r"[^.\[\]]+|\[-?\d+\]")


def path_parts(path: str) -> list[str]:
    """``orders.ord_1.items[0]`` as ``["orders", "ord_1", "items", "0"]``."""
    return [p[1:-1] if p.startswith("[") else p for p in _SEGMENT.findall(path)]


def pick(state: State, path: str) -> Any:
    """The value at a dotted path in a state: ``orders`` (a whole collection, as a
    ``{key: record}`` mapping), ``orders.ord_5531`` (a record), ``orders.ord_5531.items[0]``.

    Raises:
        AgentboxError: the path is empty or names nothing in the state (the message says
            which part is missing and what is there instead).
    """
    parts = path_parts(path)
    if not parts:
        raise AgentboxError(f"--path {path!r}: empty", "paths look like orders.ord_5531.status")
    coll = parts[0]
    if coll not in state.collections():
        raise AgentboxError(
            f"--path {path}: no collection {coll!r} in the state",
            "collections: " + ", ".join(state.collections()),
        )
    if len(parts) == 1:
        return dict(state.items(coll))
    if not state.has(coll, parts[1]):
        raise AgentboxError(
            f"--path {path}: no record {parts[1]!r} in {coll}",
            f"{coll} has {state.count(coll)} record(s); e.g. " + ", ".join(state.keys(coll)[:5]),
        )
    node: Any = state.get(coll, parts[1])
    for i, part in enumerate(parts[2:], start=2):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif (
            isinstance(node, list)
            and part.lstrip("-").isdigit()
            and -len(node) <= int(part) < len(node)
        ):
            node = node[int(part)]
        else:
            where = ".".join(parts[:i])
            have = (
                ", ".join(map(str, node)) if isinstance(node, dict) else f"a {type(node).__name__}"
            )
            raise AgentboxError(f"--path {path}: {where} has no {part!r}", f"{where} has: {have}")
    return node
