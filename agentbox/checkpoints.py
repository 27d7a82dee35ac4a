"""Checkpoints: rebuild what a run looked like at any step (checkpoint + stored patches)."""

from __future__ import annotations

from agentbox.errors import StoreError
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
