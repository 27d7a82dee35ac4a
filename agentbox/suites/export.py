"""Export a stored run as a suite case file (``suites/NAME/CASE.yaml``).

The case inlines the run's scenario (as recorded, with its sandbox reference), its model
calls (the cassette), its approval decisions, and expectations derived from what the run
did, merged with the scenario's own ``expect``:

- ``status``; every executed tool call with its full arguments, in order;
- ``holds``, ``blocks``, ``approvals``, ``invalid_tool_calls`` counts;
- the final state diff as ``state`` checks (one per changed field of a changed record,
  the whole record when it was added), or the sandbox's ``state_hash`` when there are
  more than :data:`MAX_STATE_CHECKS` (and the sandbox defines one);
- ``max_cost_usd``: 1.5x the recorded cost (left out when a price was unknown).

A fork's edits (state values, a whole state, a tool result, a user message) become the
case's ``edits``, re-applied at the fork's step when the case replays (see
:mod:`agentbox.suites.edits`); the cassette holds the recorded prefix and what followed.

Merging: the scenario's scalar expectations win over derived ones; its ``state``,
``no_tool_calls`` and ``output_contains`` are kept and derived checks added; its
``tool_calls`` are replaced by the derived ordered list when that list satisfies every one
of them (else the scenario's are kept).
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import os
from pathlib import Path
from typing import Any

import yaml

from agentbox.checkpoints import state_at
from agentbox.config import Settings, load_settings
from agentbox.conversation.recording import recorded_user_calls
from agentbox.errors import AgentboxError
from agentbox.events import ForkEvent, ToolEvent
from agentbox.lifecycle import state_diff
from agentbox.llm_judge import judge
from agentbox.otel.importer import is_imported
from agentbox.planning import RunOptions, plan_from_scenario
from agentbox.runner import seed_digest
from agentbox.scenario import parse_scenario
from agentbox.store import FINISHED, RunRow, StepRow, TraceStore
from agentbox.suites.case import JudgeSpec, is_case_text, parse_case, write_sidecar
from agentbox.suites.derive import (
    MAX_STATE_CHECKS,
    derive_expect,
    merge_expect,
    recorded_calls,
    recorded_decisions,
    recorded_tools,
    slug,
    state_checks,
)
from agentbox.suites.imported import build_imported_case, write_recorded_sandbox
from agentbox.suites.replay import display_path


def _check_exportable(run: RunRow, steps: list[StepRow]) -> None:
    if run.status not in FINISHED:
        raise AgentboxError(
            f"run {run.id} is {run.display_status}; only finished runs can be exported",
            f"finish it first: agentbox resume {run.id}",
        )
    for s in steps:
        fork = s.event if s.kind == "fork" else None
        if isinstance(fork, ForkEvent) and fork.edits.get("live_state"):
            raise AgentboxError(
                f"run {run.id} is a fork that read its database again (--live-state) at step "
                f"{s.idx}; a case replays from one recorded state",
                "export the parent run, or fork without --live-state",
            )


_CASE_EDITS = ("set_values", "state_file", "tool_result", "message")


def edit_state_file(case: str, at: int) -> str:
    """File name of the state a fork's ``--state-file`` edit put in place (next to the case)."""
    return f"{case}.edit-{at}.state.json"


def recorded_edits(
    store: TraceStore, run: RunRow, steps: list[StepRow], case: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The case's ``edits`` (one per ``fork`` step with state, tool-result or message
    edits) and the replacement states to write beside it (``{file name: state}``)."""
    out: list[dict[str, Any]] = []
    files: dict[str, Any] = {}
    for s in steps:
        fork = s.event if s.kind == "fork" else None
        if not isinstance(fork, ForkEvent) or not any(k in fork.edits for k in _CASE_EDITS):
            continue
        edits = fork.edits
        edit: dict[str, Any] = {"at": s.idx}
        if fork.parent_id:
            edit["forked_from"] = f"{fork.parent_id}@{fork.at}"
        if edits.get("set_values"):
            edit["set"] = edits["set_values"]
        if edits.get("state_file"):
            point = store.checkpoint_before(run.id, s.idx)
            if point is None or point[0] != s.idx:
                raise AgentboxError(f"run {run.id}: the state set at step {s.idx} is not stored")
            edit["state"] = edit_state_file(case, s.idx)
            files[edit["state"]] = store.get_blob(point[1])
        if edits.get("tool_result") is not None:
            tool = next((t.name for t in steps if t.idx > s.idx and _edited_call(t)), None)
            if tool is None:  # the fork ended before the call: the parent's step names it
                if fork.parent_id is None or fork.at is None:
                    raise AgentboxError(
                        f"run {run.id}: step {s.idx} edits a tool result that no later call "
                        "used, and names no parent run whose call it was"
                    )
                tool = store.steps(fork.parent_id, fork.at, fork.at + 1)[0].name
            edit["tool_result"] = {"tool": tool, "result": edits["tool_result"]}
        if edits.get("message"):
            edit["message"] = edits["message"]
        out.append(edit)
    return out, files


def _edited_call(step: StepRow) -> bool:
    """Whether a step is a tool call answered with a fork's edited result."""
    call = step.event if step.kind == "tool" else None
    return isinstance(call, ToolEvent) and bool(call.edited)


# ---- writing -----------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _dict(dumper: yaml.SafeDumper, value: dict[Any, Any]) -> yaml.MappingNode:
    flat = all(not isinstance(v, dict | list) or not v for v in value.values())
    short = (
        flat
        and len(str(value)) < 90
        and not any(isinstance(v, str) and "\n" in v for v in value.values())
    )
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=short)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    short = all(isinstance(v, str | int | float) for v in value) and len(str(value)) < 90
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=short)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(dict, _dict)
_Dumper.add_representer(list, _list)


def dump_case(data: dict[str, Any]) -> str:
    """Case data as readable YAML (block text for long strings, flow style for small maps)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


_HEADER = """\
# agentbox suite case. Replay: `agentbox test {folder}` or `pytest {folder}`.
# Edit freely: `scenario` is the scenario as recorded (its expect lives in `expect`);
# `expect` is checked after the replay (derived from run {run} + the scenario's own);
# `decisions` answer held calls in order; `cassette.calls[n]` answers model call n while
# the request hash matches (delete `request.hash` to serve a response unchecked);
# `cassette.tool_results` answer MCP tools and gated functions (`--live` calls them).
"""


def _display(path: Path) -> str:
    return display_path(path)


def build_case(
    store: TraceStore,
    run_id: str,
    suite_dir: Path,
    name: str,
    *,
    settings: Settings | None = None,
    judges: list[JudgeSpec] | None = None,
    against: str | None = None,
) -> dict[str, Any]:
    """The case data for a stored run (see the module docstring); writes nothing.

    ``against`` (imported runs only): the sandbox the case's tool calls run against.

    Secrets are redacted (:mod:`agentbox.redact`), also those of runs stored before
    agentbox redacted the store.

    Raises:
        StoreError: unknown run. AgentboxError: unfinished run, a fork that read its
            database again, or a start state the case cannot reproduce.
    """
    settings = settings or load_settings()
    run = store.get_run(run_id)
    steps = store.steps(run.id)
    _check_exportable(run, steps)
    if is_imported(run.options):  # a production trace: no sandbox, recorded tool results
        return build_imported_case(run, steps, name, settings, against)
    if against:
        raise AgentboxError(
            f"--against is for runs imported from traces; run {run.id} has its sandbox "
            f"({run.sandbox})",
            "export it without --against",
        )
    scenario = {k: v for k, v in run.scenario_json.items() if k != "expect"}
    scenario["mode"] = run.mode
    source = Path(run.scenario_path) if run.scenario_path else None
    case_file = suite_dir / f"{name}.yaml"
    seed_source = str(run.options.get("seed_source", ""))
    state_src: Path | None = None
    reads = None
    if run.options.get("state_source") and run.seed_hash:  # a database: what the run read
        reads = store.get_blob(run.seed_hash)
        scenario.pop("state_source", None)
        scenario["state"] = read_set_file(name)
    elif scenario.get("state") and source is not None:
        state_src = source.parent / str(scenario["state"])
    elif seed_source and Path(seed_source).exists() and run.mode == "shadow":
        state_src = Path(seed_source)
    if state_src is not None:
        scenario["state"] = os.path.relpath(state_src.resolve(), suite_dir.resolve())
    data: dict[str, Any] = {"case": name}
    data["exported_from"] = {
        "run": run.id,
        "scenario": _display(source) if source else run.scenario,
        "model": run.model,
        "at": _dt.datetime.fromtimestamp(run.ended_at or run.started_at).isoformat(
            timespec="seconds"
        ),
    }
    if run.agent == "python" and source is not None:
        data["python_path"] = [os.path.relpath(source.parent.resolve(), suite_dir.resolve())]
    data["scenario"] = scenario
    probe = parse_scenario(scenario, case_file, {})
    plan = plan_from_scenario(probe, settings, RunOptions(seed=reads) if reads else None)
    if run.seed_hash and seed_digest(plan.seed) != run.seed_hash:
        raise AgentboxError(
            f"run {run.id} started from a state the case cannot reproduce (seed {seed_source or '?'}: "
            "edited, recorded or changed since)",
            "export a run that starts from the sandbox seed or a state file",
        )
    last = steps[-1].idx if steps else -1
    checks = state_checks(state_diff(store, run, -1, last))
    digest = None
    if len(checks) > MAX_STATE_CHECKS and plan.sandbox.state_hasher is not None:
        digest = plan.sandbox.state_hasher(state_at(store, run, last))
    expect = merge_expect(
        run.scenario_json.get("expect") or {}, derive_expect(run, steps, checks, digest)
    )
    cassette: dict[str, Any] = {
        "model": run.model or plan.model_name,
        "calls": recorded_calls(steps),
    }
    cassette.update(recorded_tools(run, steps, plan))
    user_calls = recorded_user_calls(steps)
    if user_calls:
        cassette["user_calls"] = user_calls
    specs = [JudgeSpec.model_validate(j) for j in expect.pop("llm_judge", None) or []]
    specs += judges or []
    if specs:  # verdicts: recorded on the run (once the engine records them), else asked now
        expect["llm_judge"] = [j.model_dump(exclude_defaults=True) for j in specs]
        stored = [
            e["judgment"] for e in run.expectations or [] if isinstance(e.get("judgment"), dict)
        ]
        cassette["judgments"] = []
        for spec in specs:
            recorded = next((r for r in stored if r.get("rubric") == spec.rubric), None)
            _, _, record = judge(
                spec.rubric,
                run.output or "",
                spec.model or cassette["model"],
                recorded,
                **spec.params,
            )
            cassette["judgments"].append(record)
    data["expect"] = expect
    data["decisions"] = recorded_decisions(steps)
    edits, _ = recorded_edits(store, run, steps, name)
    if edits:
        data["edits"] = edits
    data["cassette"] = cassette
    redacted: dict[str, Any] = settings.redactor()(data)  # also runs stored before redaction
    return redacted


class CaseExists(AgentboxError):
    """The case file exists and the export would change it (``diff``: old → new)."""

    def __init__(self, path: Path, diff: str) -> None:
        super().__init__(
            f"{_display(path)} exists and this export would change it",
            "pass --force to overwrite it, or --name to write another case",
        )
        self.path = path
        self.diff = diff


def case_diff(old: str, new: str, path: Path) -> str:
    """A unified diff (3 lines of context) of a case file's text, old → new."""
    name = _display(path)
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"{name} (now)", f"{name} (export)", lineterm=""
    )
    return "\n".join(lines)


def export_run(
    store: TraceStore,
    run_id: str,
    suite_dir: Path,
    name: str | None = None,
    *,
    settings: Settings | None = None,
    judges: list[JudgeSpec] | None = None,
    against: str | None = None,
    force: bool = False,
) -> Path:
    """Write a stored run as ``suite_dir/NAME.yaml`` (and its parsed sidecar,
    :func:`~agentbox.suites.case.write_sidecar`) and return the path.

    Without ``name`` the case is named after the scenario (with the run id appended when
    that file exists). An explicit ``name`` whose file exists is overwritten only with
    ``force`` (an export that would leave it unchanged writes nothing and succeeds).
    ``judges`` adds ``llm_judge`` expectations whose verdicts are asked now and recorded
    in the cassette.

    Raises:
        CaseExists: the file exists, would change, and ``force`` is false (nothing written).
        StoreError, AgentboxError: see :func:`build_case`; ScenarioError: the written file
            would not load (a bug).
    """
    suite_dir = Path(suite_dir)
    run = store.get_run(run_id)
    base = slug(name or run.scenario)
    path = suite_dir / f"{base}.yaml"
    if name is None and path.exists():
        base = f"{base}-{run.id[:6]}"
        path = suite_dir / f"{base}.yaml"
    data = build_case(
        store, run.id, suite_dir, name or base, settings=settings, judges=judges, against=against
    )
    text = _HEADER.format(folder=_display(suite_dir), run=run.id) + dump_case(data)
    assert is_case_text(text)
    parse_case(yaml.safe_load(text), path)  # what we write must load
    if path.exists() and not force:
        old = path.read_text(encoding="utf-8")
        if old != text:
            raise CaseExists(path, case_diff(old, text, path))
    suite_dir.mkdir(parents=True, exist_ok=True)
    if run.options.get("state_source") and run.seed_hash:  # the case's state: the read set
        reads = (settings or load_settings()).redactor()(store.get_blob(run.seed_hash))
        (suite_dir / read_set_file(name or base)).write_text(
            json.dumps(reads, indent=1),  # source order: scans replay in it
            encoding="utf-8",
        )
    _, edit_states = recorded_edits(store, run, store.steps(run.id), name or base)
    for file_name, state in edit_states.items():
        (suite_dir / file_name).write_text(
            json.dumps((settings or load_settings()).redactor()(state), indent=1),
            encoding="utf-8",
        )
    if is_imported(run.options) and not against:
        write_recorded_sandbox(store, run, suite_dir, name or base, settings or load_settings())
    path.write_text(text, encoding="utf-8")
    write_sidecar(path, text)  # replays read its parsed JSON, not the YAML (case.py)
    return path


def read_set_file(case: str) -> str:
    """File name of the state a database-backed case starts from (next to the case)."""
    return f"{case}.state.json"
