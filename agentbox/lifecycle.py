"""What happens to a stored run after it was started: resume, fork, replay, compare.

All three re-run the agent against a recording instead of trusting a pickled process:

- ``resume_run`` continues a parked or interrupted run in place, holding its lease (one
  process at a time, see :mod:`agentbox.leases`): its stored steps are
  served as a prefix (nothing re-executed), then it goes live. A write whose intent was
  committed but whose result was not is never blindly repeated: the caller chooses
  ``retry`` or ``skip``.
- ``fork_run`` creates a new run (parent id and fork step stored) whose steps before N
  are copies of the parent's, applies edits at N (state values, a whole state, a tool
  result, an extra user message, another model or policy) and continues live.
- ``replay_run`` re-runs a stored run with its model responses served from its cassette
  (no model access), tools executed for real on the recorded seed, then compares the
  two step lists.
- ``stop_run`` ends a run now (parked or dead) or at its next step boundary (live).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from agentbox.approvals import Approver, recorded_holds, replay_approver
from agentbox.cassette import CassetteModel
from agentbox.checkpoints import state_at
from agentbox.config import Settings
from agentbox.conversation.recording import recorded_user_calls
from agentbox.errors import AgentboxError, StoreError
from agentbox.events import ToolEvent
from agentbox.leases import RunClaimed, claim_run
from agentbox.models import make_model
from agentbox.paths import parse_path, to_pointer
from agentbox.planning import RunOptions, RunPlan, load_task_scenario, plan_from_scenario
from agentbox.redact import restore
from agentbox.runner import Incomplete, Runner, RunResult, StepObserver
from agentbox.sandbox.loader import load_state_source, remember_state_hash, state_hash
from agentbox.sandbox.state import State
from agentbox.scenario import PolicySpec, Scenario, load_scenario, parse_scenario
from agentbox.store import ApprovalRow, RunRow, StepRow, StopRequest, TraceStore
from agentbox.yamlfile import load_yaml


def stored_scenario(run: RunRow, settings: Settings, *, current: bool = False) -> Scenario:
    """The scenario of a run: as recorded, or (``current``) as its file says now."""
    path = Path(run.scenario_path) if run.scenario_path else None
    if current and path is not None and path.is_file():
        task = run.options.get("task")
        if task is not None:
            return load_task_scenario(path, settings, int(task), model=run.model)
        return load_scenario(path)
    recorded = run.scenario_json
    if path is not None and path.is_file() and run.options.get("task") is None:
        with contextlib.suppress(AgentboxError):  # secrets the store never held
            recorded = restore(recorded, load_yaml(path)[0], settings.redactor())
    return parse_scenario(recorded, path or Path(run.scenario), {})


def plan_for_run(
    store: TraceStore,
    run: RunRow,
    settings: Settings,
    *,
    current: bool = False,
    options: RunOptions | None = None,
    live_state: bool = False,
) -> RunPlan:
    """A plan that reproduces a stored run's world: its scenario, sandbox and seed.

    ``live_state``: read the run's database again (a new snapshot) instead of what the
    run recorded; raises StoreError for a run that did not read a database.
    """
    scenario = stored_scenario(run, settings, current=current)
    if run.seed_hash is None:
        raise StoreError(f"run {run.id} has no recorded seed state")
    base = options or RunOptions()
    source = run.options.get("state_source") if live_state else None
    if live_state and not source:
        raise StoreError(
            f"run {run.id} did not read a database: there is no live state to read",
            "--live-state is for runs whose state is sqlite:///... or postgresql://...",
        )
    seed = None if source else store.get_blob(run.seed_hash)
    if seed is not None:  # content-addressed: its hash is known, not computed again
        remember_state_hash(seed, run.seed_hash)
    opts = dataclasses.replace(
        base,
        mode=base.mode or run.mode,  # type: ignore[arg-type]
        model=base.model or run.model,
        seed=seed,
        state_path=str(source["url"]) if source else base.state_path,
        sandbox_path=Path(run.sandbox_path) if run.sandbox_path else None,
    )
    return plan_from_scenario(scenario, settings, opts)


def incomplete_writes(steps: list[StepRow]) -> list[StepRow]:
    """Write steps whose intent was committed but whose result never was."""
    return [s for s in steps if s.kind == "tool" and s.status == "pending"]


def check_resumable(store: TraceStore, run: RunRow, incomplete: Incomplete | None) -> list[StepRow]:
    """The run's steps, when it can be resumed (see :func:`resume_run` for the errors)."""
    if run.finished:
        raise StoreError(
            f"run {run.id} already {run.status}", f"fork it instead: agentbox fork {run.id} --at N"
        )
    if run.live:
        raise StoreError(
            f"run {run.id} is still running (pid {run.pid})",
            "wait for it, or approve its pending call with `agentbox approve`",
        )
    steps = store.steps(run.id)
    pending = incomplete_writes(steps)
    if pending and incomplete is None:
        s = pending[0]
        call = s.event
        args = call.args if isinstance(call, ToolEvent) else None
        raise AgentboxError(
            f"run {run.id}: step {s.idx} {s.name}({json.dumps(args)}) was started "
            "but its result was never recorded (the process died during it)",
            "resume with --incomplete retry (run it again; idempotency keys are honoured) or "
            "--incomplete skip (tell the agent the outcome is unknown)",
        )
    return steps


def undecided_hold(store: TraceStore, run: RunRow) -> ApprovalRow | None:
    """The approval a parked run waits for, when nobody has decided it yet (else None)."""
    if run.finished:
        return None
    pending = store.approvals(status="pending", run_id=run.id)
    return pending[-1] if pending else None


def refuse_undecided(run: RunRow, hold: ApprovalRow) -> StoreError:
    """The error for resuming a run whose held call nobody decided (see ``resume``'s help)."""
    args = json.dumps(hold.args, default=str)
    return StoreError(
        f"run {run.id} is waiting for approval {hold.id} ({hold.tool} {args[:120]}); "
        "nobody has decided it, and resume does not decide it from the scenario",
        f"decide it first: agentbox approve {hold.id}  or  agentbox deny {hold.id} "
        f"--reason ...; then agentbox resume {run.id} (or resume with --approve/--deny "
        "to decide it yourself)",
    )


def resume_run(
    store: TraceStore,
    run_id: str,
    settings: Settings,
    *,
    approver: Approver | None = None,
    on_step: StepObserver | None = None,
    incomplete: Incomplete | None = None,
    approvals: str | None = None,
) -> RunResult:
    """Continue a parked (awaiting approval) or interrupted run from its last step.

    A held call nobody decided is not decided by the scenario's ``approvals:`` handler:
    pass an ``approver`` (or ``approvals``) to decide it, else this refuses.

    Raises:
        StoreError: the run is finished, still running in a live process, or parked on
            an undecided approval and neither ``approver`` nor ``approvals`` was given.
        AgentboxError: it has an incomplete write and ``incomplete`` was not given.
    """
    with claim_run(store, store.get_run(run_id).id, "resume"):
        run = store.get_run(run_id)  # as it is now that no other process can change it
        request = store.stop_request(run.id)
        if request is not None and not run.finished:
            stop_now(store, run, request)
            raise StoreError(
                f"run {run.id} was asked to stop ({request.describe()}): it is now stopped",
                f"fork it to go on from a step: agentbox fork {run.id} --at N",
            )
        steps = check_resumable(store, run, incomplete)
        hold = undecided_hold(store, run)
        if hold is not None and approver is None and approvals is None:
            raise refuse_undecided(run, hold)
        plan = plan_for_run(store, run, settings, options=RunOptions(approvals=approvals))
        runner = Runner(
            plan,
            store,
            approver=approver,
            on_step=on_step,
            run_id=run.id,
            prefix=steps,
            incomplete=incomplete,
        )
        return runner.run()


def stop_now(store: TraceStore, run: RunRow, request: StopRequest) -> None:
    """Mark a run no process drives (parked, or died unfinished) ``stopped`` at once.

    Adds a ``final`` step (status ``stopped``, who and why in its data) and closes the
    run's pending approvals. The caller holds the run's lease.
    """
    reason = request.describe()
    last = store.steps(run.id, max(0, store.step_count(run.id) - 1))
    idx = (last[-1].idx + 1) if last else 0
    # the final step is a step too: the stored count must equal the steps stored
    counters = {**(last[-1].counters if last else run.counters), "steps": idx + 1}
    store.add_step(
        StepRow(
            run.id,
            idx,
            "final",
            "stopped",
            status="stopped",
            started_at=time.time(),
            data={"output": None, "reason": reason, "stopped_by": request.requested_by},
            counters=counters,
        )
    )
    store.update_run(
        run.id,
        status="stopped",
        reason=reason,
        ended_at=time.time(),
        pid=None,
        passed=0,
        counters=counters,
    )
    store.close_approvals(run.id, f"run stopped ({reason})", by=request.requested_by)


StopOutcome = Literal["stopped", "requested", "finished"]


def stop_run(store: TraceStore, run_id: str, *, by: str, reason: str | None) -> StopOutcome:
    """Stop a run: at once when no process drives it, else at its next step boundary.

    Returns:
        ``stopped`` (it was parked or had died unfinished: now ``stopped``, approvals
        closed), ``requested`` (a live process runs it: it halts at its next step
        boundary, or while waiting for an approval) or ``finished`` (nothing to stop).

    Raises:
        StoreError: no such run.
    """
    run = store.get_run(run_id)
    if run.finished:
        return "finished"
    store.request_stop(run.id, by, reason)  # first: a process that claims it next sees it
    try:
        with claim_run(store, run.id, "stop"):
            run = store.get_run(run.id)
            if run.finished:  # stopped by our request already, or it ended meanwhile
                return "stopped" if run.status == "stopped" else "finished"
            if run.live:  # a run started by `agentbox run` in a process still alive
                return "requested"
            request = store.stop_request(run.id)
            assert request is not None
            stop_now(store, run, request)
            return "stopped"
    except RunClaimed:  # a resume drives it: the request reaches it at its next boundary
        return "requested"


@dataclass
class ForkEdits:
    """Edits applied at the fork step.

    Attributes:
        set_values: ``{"orders.ord_5531.status": "cancelled"}`` (dotted paths; values JSON).
        state_file: a whole replacement state (folder or JSON/YAML file).
        tool_result: replaces the result of the tool call at the fork step (not executed).
        message: a user message added before the next model call.
        model: another model string; policy_file: a YAML file holding a policy section.
    """

    set_values: dict[str, Any] = dataclasses.field(default_factory=dict)
    state_file: Path | None = None
    tool_result: str | None = None
    message: str | None = None
    model: str | None = None
    policy_file: Path | None = None
    live_state: bool | None = None
    """Read the parent's database again (a new snapshot) instead of its recorded reads."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form stored on the fork step."""
        return {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in dataclasses.asdict(self).items()
            if v not in (None, {})
        }


def set_ops(state: State, path: str, value: Any) -> list[dict[str, Any]]:
    """RFC 6902 ops setting ``value`` at a dotted path (``orders.ord_1.items[0].qty``).

    Raises:
        AgentboxError: the collection or record does not exist.
    """
    parts = [str(p) for p in parse_path(path)]
    if len(parts) < 2 or not state.has(parts[0], parts[1]):
        raise AgentboxError(
            f"--set {path}: no record {'/'.join(parts[:2])} in the state",
            "paths look like collection.key.field",
        )
    pointer = to_pointer(parts)
    record = state.get(parts[0], parts[1])
    target: Any = record
    exists = True
    for part in parts[2:]:
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif (
            isinstance(target, list)
            and part.lstrip("-").isdigit()
            and -len(target) <= int(part) < len(target)
        ):
            target = target[int(part)]
        else:
            exists = False
            break
    return [{"op": "replace" if exists else "add", "path": pointer, "value": value}]


_UNDECIDED = ("pending", "failed", "closed")


def _fork_prefix(parent: RunRow, steps: list[StepRow], at: int, edits: ForkEdits) -> list[StepRow]:
    """The parent's steps a fork at ``at`` serves before going live.

    Raises:
        StoreError: ``at`` is out of range; ``--tool-result`` at a step that is no tool call.
    """
    last = steps[-1].idx if steps else -1
    if not 0 <= at <= last:
        raise StoreError(f"run {parent.id} has steps 0..{last}; cannot fork at {at}")
    prefix = [s for s in steps if s.idx < at and s.kind not in ("final", "policy", "error")]
    prefix = [s for s in prefix if not (s.kind == "tool" and s.status == "pending")]
    if prefix and prefix[-1].kind == "approval" and prefix[-1].status in _UNDECIDED:
        prefix.pop()  # a hold the parent never decided is asked again in the fork
    if edits.tool_result is not None:
        target = steps[at]
        if target.kind != "tool":
            raise StoreError(
                f"step {at} of run {parent.id} is a {target.kind} step, not a tool call",
                "--tool-result needs --at pointing at a tool step",
            )
    return prefix


def _fork_policy(edits: ForkEdits) -> PolicySpec | None:
    """The policy a fork runs under (``--policy FILE``), else None (the parent's)."""
    if edits.policy_file is None:
        return None
    try:
        raw = yaml.safe_load(edits.policy_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AgentboxError(f"{edits.policy_file}: cannot read policy: {exc}") from exc
    return PolicySpec.model_validate(raw.get("policy", raw) if isinstance(raw, dict) else raw)


def _edit_applier(
    store: TraceStore,
    parent: RunRow,
    at: int,
    edits: ForkEdits,
    replacement: dict[str, Any] | None,
) -> Callable[[Runner], None]:
    """The hook that records the fork step at ``at`` and applies ``edits`` to the run."""

    def apply_edits(runner: Runner) -> None:
        step = runner.new_step(
            "fork", "edit", data={"parent_id": parent.id, "at": at, "edits": edits.to_json()}
        )
        if replacement is not None:
            digest = state_hash(replacement)
            store.put_blob(digest, replacement)
            store.add_checkpoint(runner.run_id, step.idx, digest, "fork --state-file")
            runner.state = State(replacement)
        ops: list[dict[str, Any]] = []
        for path, value in edits.set_values.items():
            new_ops = set_ops(runner.state, path, value)
            runner.state.apply_patch(new_ops)
            ops += new_ops
        runner.state.drain_patch()
        step.patch = ops or None
        if edits.message:
            runner.injected.append({"role": "user", "content": edits.message})
        runner.record(step)

    return apply_edits


def fork_run(
    store: TraceStore,
    run_id: str,
    at: int,
    settings: Settings,
    edits: ForkEdits,
    *,
    approver: Approver | None = None,
    on_step: StepObserver | None = None,
    approvals: str | None = None,
) -> RunResult:
    """Start a new run from step ``at`` of a stored run (see the module docstring).

    Raises:
        StoreError: unknown run or step; ``--tool-result`` at a step that is no tool call.
    """
    parent = store.get_run(run_id)
    steps = store.steps(parent.id)
    prefix = _fork_prefix(parent, steps, at, edits)
    plan = plan_for_run(
        store,
        parent,
        settings,
        options=RunOptions(model=edits.model, approvals=approvals, policy=_fork_policy(edits)),
        live_state=bool(edits.live_state),
    )
    if edits.model and edits.model != parent.model:
        plan.model = make_model(edits.model, plan.scenario.script, plan.scenario.agent.params)
        plan.model_name = edits.model
    replacement = load_state_source(edits.state_file) if edits.state_file else None
    probe = State(replacement) if replacement is not None else state_at(store, parent, at - 1)
    for path, value in edits.set_values.items():  # refuse a bad --set before writing a run
        probe.apply_patch(set_ops(probe, path, value))
    runner = Runner(
        plan,
        store,
        approver=approver,
        on_step=on_step,
        prefix=prefix,
        copy_prefix=True,
        lineage={"parent_id": parent.id, "fork_step": at},
        after_prefix=_edit_applier(store, parent, at, edits, replacement),
    )
    if edits.tool_result is not None:  # answered at N+1, after the fork step at N
        runner.edited_results.append((steps[at].name or "", edits.tool_result))
    return runner.run()


def recorded_approver(steps: list[StepRow]) -> Approver:
    """Give the decisions a recorded run's approvals got, in order."""
    return replay_approver(recorded_holds(steps))


_COMPARED = ("kind", "name", "status", "patch")


def step_view(step: StepRow) -> dict[str, Any]:
    """The parts of a step that must be identical in a replay (no times, ids or costs)."""
    view: dict[str, Any] = {k: getattr(step, k) for k in _COMPARED}
    d = step.data
    if step.kind == "llm":
        r = d.get("response", {})
        view["response"] = {"text": r.get("text"), "tool_calls": r.get("tool_calls")}
    elif step.kind == "tool":
        view.update(args=d.get("args"), result=d.get("result"), decision=d.get("decision"))
    elif step.kind == "approval":
        view.update(args=d.get("args"), decision=d.get("decision"), edited=d.get("edited_args"))
    else:
        view.update(data={k: v for k, v in d.items() if k not in ("traceback",)})
    return view


def describe_fork(step: StepRow) -> str:
    """One line for a ``fork`` step: ``fork of PARENT at step N: set a.b.c = "x"; ...``."""
    d = step.data
    parts: list[str] = []
    for key, value in (d.get("edits") or {}).items():
        if key == "set_values":
            parts += [f"set {p} = {json.dumps(v, default=str)}" for p, v in value.items()]
        elif key == "live_state":
            parts.append("live state")
        else:
            parts.append(f"{key.replace('_', ' ')} {json.dumps(value, default=str)[:200]}")
    return f"fork of {d.get('parent_id')} at step {d.get('at')}: " + (
        "; ".join(parts) or "no edits"
    )


def _step_differences(sa: StepRow, sb: StepRow) -> list[str]:
    """How two aligned steps differ, one line per differing field."""
    va, vb = step_view(sa), step_view(sb)
    if va == vb:
        return []
    where = f"step {sa.idx}" if sa.idx == sb.idx else f"step {sa.idx} (b: {sb.idx})"
    return [
        f"{where} {sa.kind} {sa.name}: {k} differs: "
        f"{json.dumps(va.get(k), default=str)[:200]} != "
        f"{json.dumps(vb.get(k), default=str)[:200]}"
        for k in va
        if va.get(k) != vb.get(k)
    ]


def compare_steps(a: list[StepRow], b: list[StepRow]) -> list[str]:
    """Differences between two step lists, first divergence first ([] when identical).

    A ``fork`` step only one side has (a fork against its parent) is named with its
    edits; the steps after it are compared with the other side's steps from there on.
    """
    out: list[str] = []
    i = j = 0
    while i < len(a) and j < len(b):
        sa, sb = a[i], b[j]
        if (sa.kind == "fork") != (sb.kind == "fork"):
            fork = sa if sa.kind == "fork" else sb
            out.append(f"step {fork.idx}: {describe_fork(fork)}")
            i, j = i + (sa.kind == "fork"), j + (sb.kind == "fork")
            continue
        out += _step_differences(sa, sb)
        i, j = i + 1, j + 1
    rest_a, rest_b = a[i:], b[j:]
    out += [f"step {s.idx}: {describe_fork(s)}" for s in rest_a + rest_b if s.kind == "fork"]
    if [s for s in rest_a if s.kind != "fork"] or [s for s in rest_b if s.kind != "fork"]:
        out.append(f"step count differs: {len(a)} recorded, {len(b)} replayed")
    return out


@dataclass
class ReplayResult:
    """A replay's run and how its steps compare with the recording's."""

    result: RunResult
    differences: list[str]
    recorded_status: str
    """The recorded run's status."""
    miss_full: str | None = None
    """A cassette miss with the whole-request diff (the run's reason has the compact one)."""

    @property
    def identical(self) -> bool:
        """Whether the replay reproduced the recording step for step, ending as it ended
        (a run that failed and failed again the same way is reproduced too)."""
        return not self.differences and self.result.status == self.recorded_status


def replay_run(
    store: TraceStore,
    run_id: str,
    settings: Settings,
    *,
    mode: str = "strict",
    on_step: StepObserver | None = None,
    scenario_override: Callable[[Scenario], Scenario] | None = None,
) -> ReplayResult:
    """Re-run a stored run from its cassette and compare (see the module docstring).

    The scenario is read from its file as it is now (so changes are caught); the seed is
    the recorded one. ``mode``: ``strict`` or ``live-on-miss``.
    """
    parent = store.get_run(run_id)
    if not parent.finished:
        raise StoreError(
            f"run {parent.id} is {parent.display_status}: only finished runs replay",
            f"resume it first: agentbox resume {parent.id}",
        )
    if parent.parent_id is not None:
        raise StoreError(
            f"run {parent.id} is a fork of {parent.parent_id}: its edits cannot be replayed "
            "from the cassette",
            f"replay the parent ({parent.parent_id}), or export the fork as a case",
        )
    steps = store.steps(parent.id)
    plan = plan_for_run(store, parent, settings, current=True)
    if scenario_override is not None:
        plan.scenario = scenario_override(plan.scenario)
    live = plan.model if mode == "live-on-miss" else None
    cassette = CassetteModel.from_steps(steps, mode, live=live, redactor=settings.redactor())
    plan.model = cassette
    if plan.scenario.user is not None and plan.scenario.user.model is not None:
        plan.user_recording = recorded_user_calls(steps)  # the simulated user, offline
    runner = Runner(
        plan,
        store,
        approver=recorded_approver(steps),
        on_step=on_step,
        lineage={"replay_of": parent.id},
    )
    result = runner.run()
    # compared as stored (redacted, like the recording), not as the replay saw them; a
    # step's view is a function of what step_texts holds, so steps stored with the same
    # text are the same and only a replay that differs is decoded to say where
    same = store.step_texts(parent.id) == store.step_texts(result.run_id)
    differences = [] if same else compare_steps(steps, store.steps(result.run_id))
    return ReplayResult(result, differences, parent.status, cassette.miss_full)


Change = tuple[str, str, Any, Any]


def snapshot_diff(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> list[Change]:
    """``(collection, key, in_a, in_b)`` for every record that differs (None: absent)."""
    out = []
    for coll in sorted(set(a) | set(b)):
        ca, cb = a.get(coll, {}), b.get(coll, {})
        for key in list(ca) + [k for k in cb if k not in ca]:
            if ca.get(key) != cb.get(key):
                out.append((coll, key, ca.get(key), cb.get(key)))
    return out


def state_diff(store: TraceStore, run: RunRow, a: int, b: int) -> list[Change]:
    """Records that differ between the state after step ``a`` and after step ``b``."""
    return snapshot_diff(state_at(store, run, a).snapshot(), state_at(store, run, b).snapshot())


def final_state_diff(store: TraceStore, a: RunRow, b: RunRow) -> list[Change]:
    """Records that differ between the final states of two runs."""
    last_a, last_b = store.step_count(a.id) - 1, store.step_count(b.id) - 1
    return snapshot_diff(
        state_at(store, a, last_a).snapshot(), state_at(store, b, last_b).snapshot()
    )
