"""The engine calls the TUI makes, as plain functions (headless: no Textual).

Screens call these from thread workers only (``@work(thread=True)``): resuming or forking
a run executes the agent, and even planning a run imports the sandbox's tools. Runs
started here write through their own store connection, exactly like another process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbox import statuses
from agentbox.approvals import Approver, check_edit, store_waiter
from agentbox.store import FINISHED, RunRow, StepRow, TraceStore

if TYPE_CHECKING:
    from agentbox.config import Settings
    from agentbox.lifecycle import ForkEdits
    from agentbox.runner import RunResult, StepObserver

STATUSES = statuses.FILTER_CHOICES
"""Run statuses the runs screen can filter on (``status:NAME`` in the filter box)."""


def user() -> str:
    """Who decides approvals made in the TUI."""
    from agentbox.approvals import user_name

    return user_name("tui")


def parse_filter(value: str) -> tuple[str | None, str | None]:
    """Split the runs filter box into ``(text, status)``.

    ``status:NAME`` (or ``is:NAME``; a unique prefix of a status is enough) filters on
    the status; the other words must appear in the run id, scenario or model.
    """
    words, status = [], None
    for word in value.split():
        key, sep, rest = word.partition(":")
        if sep and key in ("status", "is"):
            status = statuses.parse_run_status(rest) or rest
        else:
            words.append(word)
    return (" ".join(words) or None), status


def stop(store: TraceStore, run_id: str, reason: str | None) -> str:
    """Stop a run from the TUI (see :func:`agentbox.lifecycle.stop_run`); a sentence saying
    what happened."""
    from agentbox.lifecycle import stop_run  # runner, models, scenario: ~0.1 s at startup
    from agentbox.store import HOST

    outcome = stop_run(store, run_id, by=f"{user()}@{HOST} (tui)", reason=reason or None)
    run = store.get_run(run_id)
    if outcome == "finished":
        return f"run {run.id} already {run.status}: nothing to stop"
    if outcome == "stopped":
        return f"stopped run {run.id}"
    return f"asked run {run.id} to stop: it halts at its next step"


def can_resume(run: RunRow) -> bool:
    """Whether ``resume`` applies: parked or interrupted, and no live process owns it."""
    return run.status not in FINISHED and not run.live


def tui_approver(
    store: TraceStore, cancelled: Callable[[], bool], *, poll_s: float = 0.2
) -> Approver:
    """Wait for a decision made in the TUI (or by ``agentbox approve``) via the store.

    When ``cancelled()`` turns true (the TUI is closing) the run parks instead of
    blocking the process: ``agentbox resume`` continues it later.
    """
    return store_waiter(store, poll_s=poll_s, cancelled=cancelled)


def check_edited_args(
    store: TraceStore, settings: Settings, run: RunRow, tool: str, text: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate edited arguments (JSON text) for ``tool`` as the runner will.

    Returns:
        ``(args, [])`` when valid (schema-checked, normalised), else ``(None, errors)``.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]
    if not isinstance(raw, dict):
        return None, ["arguments must be a JSON object"]
    from agentbox.lifecycle import plan_for_run  # runner, models, scenario: ~0.1 s at startup

    plan = plan_for_run(store, run, settings)
    check = check_edit(plan.tool(tool), plan.policy, tool, raw)
    return (check.args, []) if check.ok else (None, check.errors)


def decide(
    store: TraceStore,
    approval_id: str,
    approve: bool,
    *,
    reason: str | None = None,
    edited_args: dict[str, Any] | None = None,
) -> bool:
    """Record a decision; False when someone else decided first."""
    return store.decide_approval(
        approval_id,
        "approved" if approve else "denied",
        by=user(),
        reason=reason,
        edited_args=edited_args,
    )


def strings_in(value: Any) -> set[str]:
    """Every string inside a JSON-like value (ids a step mentions, e.g. in its arguments)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(strings_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(strings_in(v) for v in value)) if value else set()
    return set()


def _json_strings(text: str) -> set[str]:
    """The strings inside ``text`` when it is a JSON object or array, else none."""
    if not text.lstrip().startswith(("{", "[")):
        return set()
    try:
        return strings_in(json.loads(text))
    except ValueError:
        return set()


def step_mentions(step: StepRow) -> set[str]:
    """The strings a step names (record keys among them): its arguments, its tool calls'
    arguments and its result, and at a ``fork`` step the records its edits set
    (``collection.key.field``) and the ids in an edited tool result or message."""
    data = step.data
    out = strings_in(data.get("args"))
    for call in (data.get("response") or {}).get("tool_calls") or []:
        out |= strings_in(call.get("arguments"))
    out |= strings_in(data.get("result"))
    if step.kind == "fork":
        edits = data.get("edits") or {}
        out |= {path.split(".")[1] for path in edits.get("set_values") or {} if "." in path}
        for field in ("tool_result", "message"):
            if isinstance(edits.get(field), str):
                out |= _json_strings(edits[field]) | {edits[field]}
    return out


def focus_state(state: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The same state with the records under ``keys`` first (and their collections first).

    A state is an object, so the order changes nothing but what the fork dialog shows at
    the top: the records the step is about.
    """
    out: dict[str, Any] = {}
    hot = [c for c, records in state.items() if any(k in records for k in keys)]
    for coll in [*hot, *(c for c in state if c not in hot)]:
        records = state[coll]
        first = [k for k in records if k in keys]
        out[coll] = {k: records[k] for k in [*first, *(k for k in records if k not in keys)]}
    return out


def state_subset(state: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """Only the records under ``keys`` (``{collection: {key: record}}``): what the fork
    dialog edits. The whole retail state is ~33,000 lines of JSON, which took the dialog
    2-4 s to open; the records a step is about are a few dozen."""
    out: dict[str, Any] = {}
    for coll, records in state.items():
        picked = {k: records[k] for k in records if k in keys}
        if picked:
            out[coll] = picked
    return out


def merge_subset(
    before: dict[str, Any], shown: dict[str, Any], edited: dict[str, Any]
) -> dict[str, Any]:
    """The whole state after editing the records ``shown`` into ``edited``: records
    removed from the editor are deleted, added ones added, other records kept."""
    out = {coll: dict(records) for coll, records in before.items()}
    for coll, records in shown.items():
        for key in records:
            if key not in edited.get(coll, {}):
                out.get(coll, {}).pop(key, None)
    for coll, records in edited.items():
        out.setdefault(coll, {}).update(records)
    return out


def _simple_key(part: str) -> bool:
    return bool(part) and not any(ch in part for ch in ".[]")


def fork_edits(
    before: dict[str, Any],
    state_text: str | None,
    result_before: str | None,
    result_text: str | None,
    work_dir: Path,
    shown: dict[str, Any] | None = None,
    *,
    user_message: bool = False,
) -> ForkEdits:
    """Turn what was edited in the fork dialog into :class:`ForkEdits`.

    A state whose edits only change fields of existing records becomes ``set_values``
    (``collection.key.field``: value); anything else (records added or removed, fields
    removed) is written whole to ``work_dir/fork-state.json`` as ``state_file``. A
    changed tool result becomes ``tool_result``; with ``user_message`` (a fork at a
    ``user`` step) the changed text is what the user says there instead (``message``).
    ``shown``: the part of ``before`` the editor held (:func:`state_subset`; None: all of
    it).

    Raises:
        ValueError: the state is not valid JSON or not ``{collection: {key: record}}``.
    """
    from agentbox.lifecycle import ForkEdits  # runner, models, scenario: ~0.1 s at startup

    edits = ForkEdits()
    if state_text is not None and shown is not None:
        try:
            edited = json.loads(state_text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"state: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        if not isinstance(edited, dict) or not all(isinstance(v, dict) for v in edited.values()):
            raise ValueError("state: must be an object {collection: {key: record}}")
        values = _set_values(shown, edited)
        if values is not None:  # field edits only: no need to build the whole state
            edits.set_values = values
            state_text = None
        else:
            state_text = json.dumps(merge_subset(before, shown, edited))
    if state_text is not None:
        try:
            after = json.loads(state_text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"state: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        if not isinstance(after, dict) or not all(isinstance(v, dict) for v in after.values()):
            raise ValueError("state: must be an object {collection: {key: record}}")
        if after != before:
            values = _set_values(before, after)
            if values is None:
                work_dir.mkdir(parents=True, exist_ok=True)
                path = work_dir / "fork-state.json"
                path.write_text(json.dumps(after), encoding="utf-8")
                edits.state_file = path
            else:
                edits.set_values = values
    if result_text is not None and result_text != result_before:
        if user_message:
            edits.message = result_text
        else:
            edits.tool_result = result_text
    return edits


def _set_values(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """Field-level edits, or None when the change is not expressible that way."""
    if set(before) != set(after):
        return None
    out: dict[str, Any] = {}
    for coll, records in after.items():
        old_records = before[coll]
        if set(old_records) != set(records):
            return None
        for key, record in records.items():
            old = old_records[key]
            if old == record:
                continue
            if not (isinstance(old, dict) and isinstance(record, dict)) or set(old) - set(record):
                return None
            if not (_simple_key(coll) and _simple_key(key)):
                return None
            for field, value in record.items():
                if field not in old or old[field] != value:
                    if not _simple_key(field):
                        return None
                    out[f"{coll}.{key}.{field}"] = value
    return out


def resume(
    store_path: Path,
    run_id: str,
    settings: Settings,
    cancelled: Callable[[], bool],
    on_step: StepObserver | None = None,
) -> RunResult:
    """Continue a parked or interrupted run (own connection; held calls wait on the TUI)."""
    from agentbox.lifecycle import resume_run  # runner, models, scenario: ~0.1 s at startup

    store = TraceStore(store_path)
    try:
        return resume_run(
            store, run_id, settings, approver=tui_approver(store, cancelled), on_step=on_step
        )
    finally:
        store.close()


def fork(
    store_path: Path,
    run_id: str,
    at: int,
    settings: Settings,
    edits: ForkEdits,
    cancelled: Callable[[], bool],
    on_step: StepObserver | None = None,
) -> RunResult:
    """Fork a run at step ``at`` with ``edits`` (own connection; holds wait on the TUI)."""
    from agentbox.lifecycle import fork_run  # runner, models, scenario: ~0.1 s at startup

    store = TraceStore(store_path)
    try:
        return fork_run(
            store,
            run_id,
            at,
            settings,
            edits,
            approver=tui_approver(store, cancelled),
            on_step=on_step,
        )
    finally:
        store.close()


class SuitesUnavailable(Exception):
    """``agentbox.suites.export_run`` is not there (the suites feature is not installed)."""


def export(
    store: TraceStore,
    run_id: str,
    suite_dir: Path,
    name: str | None = None,
    *,
    settings: Settings | None = None,
) -> Path:
    """Export a run to a regression suite folder via ``agentbox.suites.export_run``.

    ``settings`` is passed on when ``export_run`` accepts it.

    Raises:
        SuitesUnavailable: agentbox.suites (or its export_run) does not exist.
    """
    import inspect

    try:
        from agentbox.suites import export_run  # suites: ~50 ms, only when exporting
    except ImportError:
        raise SuitesUnavailable("suites not available") from None
    extra: dict[str, Any] = {}
    if settings is not None and "settings" in inspect.signature(export_run).parameters:
        extra["settings"] = settings
    result: Path = export_run(store, run_id, suite_dir, name=name, **extra)
    return result


def unmet_expectations(run: RunRow) -> str | None:
    """The names of the expectations ``run`` failed, comma-joined (or its status when none
    are named); None when it passed or has no expectations. Same test as `agentbox export`."""
    if run.passed is not False:
        return None
    failed = [e["name"] for e in run.expectations or [] if not e["passed"]]
    return ", ".join(failed) or run.status
