"""A fork's edits inside a case: re-applied when the replay reaches the fork's step.

A fork copies its parent's steps before N and applies edits at N (state values, a whole
state, a tool result, a user message). Its exported case replays from step 0, so the
case carries those edits (``edits:`` in the case file) and :func:`edit_hook` applies each
one when the replay's next step is its ``at``: the replay records the same ``fork`` step,
then goes on exactly as the fork did (the cassette holds the recorded prefix and what
came after the edit).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentbox.lifecycle import set_ops
from agentbox.runner import Runner
from agentbox.sandbox.loader import load_state_source, state_hash
from agentbox.sandbox.state import State
from agentbox.suites.case import CaseEdit


def edit_json(edit: CaseEdit) -> dict[str, Any]:
    """The edit as a ``fork`` step stores it (``ForkEdits.to_json`` names)."""
    out: dict[str, Any] = {}
    if edit.set:
        out["set_values"] = edit.set
    if edit.state:
        out["state_file"] = edit.state
    if edit.tool_result is not None:
        out["tool_result"] = edit.tool_result.result
    if edit.message:
        out["message"] = edit.message
    return out


def _apply(runner: Runner, edit: CaseEdit, folder: Path) -> None:
    parent, _, at = edit.forked_from.partition("@")
    step = runner.new_step(
        "fork",
        "edit",
        data={
            "parent_id": parent or "case",  # a hand-written edit names no run
            "at": int(at) if at.isdigit() else edit.at,
            "edits": edit_json(edit),
            "from_case": True,
        },
    )
    if edit.state:
        replacement = load_state_source(folder / edit.state)
        digest = state_hash(replacement)
        runner.store.put_blob(digest, replacement)
        runner.store.add_checkpoint(runner.run_id, step.idx, digest, "case edit state")
        runner.state = State(replacement)
    ops: list[dict[str, Any]] = []
    for path, value in edit.set.items():
        new_ops = set_ops(runner.state, path, value)
        runner.state.apply_patch(new_ops)
        ops += new_ops
    runner.state.drain_patch()
    step.patch = ops or None
    if edit.message:
        runner.injected.append({"role": "user", "content": edit.message})
    if edit.tool_result is not None:
        runner.edited_results.append((edit.tool_result.tool, edit.tool_result.result))
    runner.record(step)


def edit_hook(edits: list[CaseEdit], folder: Path) -> Callable[[Runner], bool] | None:
    """The runner hook applying ``edits`` at their steps (None when there are none).

    ``folder``: where the case file is (``state`` files are relative to it). The hook
    returns False while an edit is still due, so the runner asks again at its next call.

    Raises:
        AgentboxError: a ``set`` path names no record (from :func:`set_ops`).
    """
    pending = sorted(edits, key=lambda e: e.at)
    if not pending:
        return None

    def hook(runner: Runner) -> bool:
        while pending and runner.next_idx >= pending[0].at:
            _apply(runner, pending.pop(0), folder)
        return not pending

    return hook
