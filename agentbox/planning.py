"""Planning a run: resolve a scenario into everything the runner needs, writing nothing.

Resolution order for every setting: CLI flag (:class:`RunOptions`) > scenario >
``.agentbox.toml`` > built-in default. Every problem found here is an input error
(ScenarioError/SandboxError, exit 2) raised before a run row exists.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbox.config import Settings
from agentbox.conversation.recording import user_problems
from agentbox.errors import ModelError, Problem, SandboxError, ScenarioError
from agentbox.models import ModelBackend, make_model
from agentbox.policy import Policy, merge_budgets
from agentbox.sandbox.clash import check_tool_names
from agentbox.sandbox.loader import Sandbox, load_sandbox, load_state_source
from agentbox.sandbox.sources import SourceView, is_source_url, open_source
from agentbox.sandbox.tools import ToolSpec
from agentbox.scenario import (
    ApprovalsSpec,
    Budgets,
    Mode,
    PolicySpec,
    Scenario,
    load_scenario,
    parse_scenario,
)
from agentbox.versions import AgentVersion, agent_version
from agentbox.yamlfile import load_yaml

if TYPE_CHECKING:
    from agentbox.recording import ToolRecording


@dataclass
class RunOptions:
    """Command-line overrides (each beats the scenario and the config file)."""

    mode: Mode | None = None
    model: str | None = None
    state_path: Path | str | None = None
    """``--state``: a snapshot file or folder, or a database URL (``sqlite:///x.db``,
    ``postgresql://...``)."""
    data_path: Path | None = None
    approvals: str | None = None
    budgets: Budgets | None = None
    task: int | None = None
    seed: dict[str, dict[str, Any]] | None = None
    """A state to start from instead of the sandbox seed (resume, fork, replay)."""
    sandbox_path: Path | None = None
    """Use this sandbox folder instead of resolving the scenario's name."""
    policy: PolicySpec | None = None
    """Replace the scenario's policy (fork --policy)."""
    label: str | None = None
    """``--label``: the agent version's name (beats the scenario's ``agent.label``)."""


@dataclass
class RunPlan:
    """Everything resolved for a run; building it writes nothing."""

    scenario: Scenario
    settings: Settings
    sandbox: Sandbox
    seed: dict[str, dict[str, Any]]
    seed_source: str
    mode: Mode
    model_name: str
    model: ModelBackend
    policy: Policy
    budgets: Budgets
    approvals: ApprovalsSpec
    extra_tools: dict[str, ToolSpec] = field(default_factory=dict)
    task: int | None = None
    source: SourceView | None = None
    """The database the state is read from (lazily, read-only); ``seed`` is this view.
    The runner records its read set and closes it when the run ends."""
    """The task index when the scenario came from a sandbox task set (``--task``)."""
    """Tools the agent may call but the model is not offered: the sandbox's HTTP mocks
    (``http METHOD host/path``) for python agents."""
    recording: ToolRecording | None = None
    """Where MCP tool and gated-function calls are answered from instead of running
    (a suite case's replay; :func:`agentbox.recording.recording_for`)."""
    user_recording: list[dict[str, Any]] | None = None
    """A simulated user's recorded answers (replays and suite cases): the user is
    answered from them instead of asking its model
    (:func:`agentbox.agents.conversation.build_user`)."""
    version: AgentVersion | None = None
    """The agent version this plan runs (:func:`agentbox.versions.agent_version`), stored
    with the run; recompute it after changing the model or scenario of a plan."""

    def tool(self, name: str) -> ToolSpec | None:
        """The spec of a sandbox tool or an extra tool, or None."""
        return self.sandbox.tools.get(name) or self.extra_tools.get(name)


def _problem(
    scenario: Scenario, loc: tuple[str | int, ...], message: str, hint: str = ""
) -> ScenarioError:
    file, line = scenario.locate(*loc)
    field_path = ".".join(str(p) for p in loc)
    return ScenarioError([Problem(file, line, field_path, message)], hint)


def resolve_sandbox_path(scenario: Scenario, settings: Settings) -> Path:
    """The sandbox folder a scenario names. Raises ScenarioError (with line) when missing."""
    name = scenario.sandbox
    candidates = [settings.sandboxes_path / name]
    if scenario.path is not None:
        candidates.append(scenario.path.parent / name)
        candidates.append(scenario.path.parent.parent / "sandboxes" / name)
    for candidate in candidates:
        if (candidate / "tools.py").is_file():
            return candidate
    available = sorted(q.parent.name for q in settings.sandboxes_path.glob("*/tools.py"))
    listing = ", ".join(available) or "none"
    raise _problem(
        scenario,
        ("sandbox",),
        f"sandbox {name!r} not found in {settings.sandboxes_path} (available: {listing})",
        "`agentbox init NAME` scaffolds a sandbox",
    )


def plan_from_scenario(
    scenario: Scenario, settings: Settings, options: RunOptions | None = None
) -> RunPlan:
    """Resolve a loaded scenario. Raises ScenarioError/SandboxError/ModelError."""
    options = options or RunOptions()
    if options.policy is not None:
        scenario = scenario.model_copy(update={"policy": options.policy})
    box_path = options.sandbox_path
    if box_path is None or not (box_path / "tools.py").is_file():
        box_path = resolve_sandbox_path(scenario, settings)
    sandbox = load_sandbox(box_path, seed_override=options.data_path)
    template = sandbox.task_scenario is not None and not scenario.script
    offline = scenario.model_name in (None, "scripted") and options.model in (None, "scripted")
    if template and offline and options.task is None:
        raise _problem(
            scenario,
            ("sandbox",),
            f"this scenario is a template for sandbox {sandbox.name}'s task set",
            f"pass --task N, e.g. agentbox run {scenario.path or 'SCENARIO'} --task 0",
        )
    mode: Mode = options.mode or scenario.mode
    source: SourceView | None = None
    if options.seed is None:
        source = _open_database(scenario, sandbox, options)
    state_path = None
    if options.state_path is not None and not is_source_url(options.state_path):
        state_path = Path(options.state_path)
    if state_path is None and scenario.state and not is_source_url(scenario.state):
        base = scenario.path.parent if scenario.path else Path.cwd()
        state_path = base / scenario.state
    if source is not None:
        state_path = None
    if mode == "shadow" and state_path is None and options.seed is None and source is None:
        raise _problem(
            scenario,
            ("mode",),
            "shadow mode needs a state snapshot",
            "pass --state PATH or set `state:` in the scenario",
        )
    seed: Any
    if options.seed is not None:
        seed, seed_source = options.seed, "recorded"
    elif source is not None:
        seed, seed_source = source, str(source.source.identity()["url"])
        if sandbox.seed and not set(seed) & set(sandbox.seed):
            source.source.close()
            raise _problem(
                scenario,
                ("state_source",) if scenario.state_source else ("state",),
                f"state source {seed_source} has tables {', '.join(sorted(seed)) or 'none'}; "
                f"sandbox {sandbox.name} works on {', '.join(sorted(sandbox.seed))}",
                "map tables to the sandbox's collections under state_source.tables",
            )
    elif state_path is not None:
        seed, seed_source = load_state_source(state_path), str(state_path)
        if sandbox.seed and not set(seed) & set(sandbox.seed):
            raise _problem(
                scenario,
                ("state",) if scenario.state else ("sandbox",),
                f"state source {state_path} has collections {', '.join(sorted(seed)) or 'none'}; "
                f"sandbox {sandbox.name} works on {', '.join(sorted(sandbox.seed))}",
                "point --state at a snapshot of this sandbox's data",
            )
    else:
        seed, seed_source = sandbox.seed, sandbox.seed_source
    model_name = options.model or scenario.model_name or settings.default_model
    try:
        model = make_model(
            model_name,
            scenario.script,
            scenario.agent.params,
            require_script=scenario.agent.type != "python",
        )
    except ModelError as exc:
        raise _problem(
            scenario,
            ("script",) if model_name == "scripted" else ("agent", "model"),
            exc.message,
            exc.hint,
        ) from None
    extra_tools: dict[str, ToolSpec] = {}
    if scenario.agent.type == "python" and (sandbox.path / "http_mocks.py").is_file():
        from agentbox.http.mocks import load_http_mocks  # respx/httpx only when needed

        extra_tools = {m.name: m.spec for m in load_http_mocks(sandbox.path)}
        check_tool_names(sandbox.tools, extra_tools)  # names computed at import time
    policy = Policy(scenario.policy, {**sandbox.tools, **extra_tools})
    problems = policy.problems(
        str(scenario.path or "<scenario>"), lambda loc: scenario.locate(*loc)[1]
    )
    if scenario.user is not None:
        problems += user_problems(scenario, {*sandbox.tools, *extra_tools})
    if problems and (scenario.mcp_servers or scenario.agent.type == "python"):
        from agentbox.mcp.proxy import tool_known_at_run_time  # MCP and gated tools

        problems = [p for p in problems if not tool_known_at_run_time(scenario, p)]
    if problems:
        raise ScenarioError(problems)
    approvals = scenario.approvals
    if options.approvals:
        approvals = approvals.model_copy(update={"handler": options.approvals})
    elif "approvals" not in scenario.model_fields_set and settings.approvals:
        approvals = approvals.model_copy(update={"handler": settings.approvals})
    budgets = merge_budgets(settings.budgets, scenario.policy.budgets, options.budgets)
    plan = RunPlan(
        scenario,
        settings,
        sandbox,
        seed,
        seed_source,
        mode,
        model_name,
        model,
        policy,
        budgets,
        approvals,
        extra_tools,
        source=source,
    )
    plan.version = agent_version(plan, options.label)
    return plan


def _open_database(scenario: Scenario, sandbox: Sandbox, options: RunOptions) -> SourceView | None:
    """The database source a run reads (``--state`` > ``state:`` > ``state_source.url`` >
    sandbox.toml ``[state_source] url``), or None when the state is not a database.

    Raises:
        ScenarioError: unreachable database, wrong mapping or writable role (with the
            scenario line when the scenario named it).
        SandboxError: the same, when only sandbox.toml named it.
    """
    here = scenario.path.parent if scenario.path else Path.cwd()
    spec = scenario.state_source
    box_spec = sandbox.config.get("state_source") or {}
    url: str | None = None
    base = Path.cwd()
    if options.state_path is not None:
        if not is_source_url(options.state_path):
            return None
        url = str(options.state_path)
    elif scenario.state:
        if not is_source_url(scenario.state):
            return None
        url, base = scenario.state, here
    elif spec is not None and spec.url:
        url, base = spec.url, here
    elif box_spec.get("url"):
        url, base = str(box_spec["url"]), sandbox.path
    if url is None:
        return None
    if spec is not None:
        tables: Any = None
        if spec.tables is not None:
            tables = {
                c: t if isinstance(t, str) else t.model_dump(exclude_defaults=True, by_alias=True)
                for c, t in spec.tables.items()
            }
        extra = {"schema": spec.schema_name, "writable_role": spec.writable_role}
        where = "state_source.tables"
    else:
        tables = box_spec.get("tables")
        extra = {k: v for k, v in box_spec.items() if k in ("schema", "writable_role")}
        where = f"{sandbox.path / 'sandbox.toml'}: state_source.tables"
    try:
        return open_source(url, base, tables, extra, where)
    except SandboxError as exc:
        if spec is None and not scenario.state:
            raise
        loc: tuple[str | int, ...] = ("state_source",) if spec is not None else ("state",)
        raise _problem(scenario, loc, exc.message, exc.hint) from None


def load_task_scenario(
    scenario_path: Path,
    settings: Settings,
    task: int,
    data_path: Path | None = None,
    model: str | None = None,
) -> Scenario:
    """A scenario file rewritten for one task by its sandbox's ``task_scenario`` hook.

    Raises:
        ScenarioError: the file is malformed, or its sandbox defines no tasks.
    """
    data, lines = load_yaml(scenario_path)
    probe = parse_scenario(data, scenario_path, lines)
    sandbox = load_sandbox(resolve_sandbox_path(probe, settings), seed_override=data_path)
    if sandbox.task_scenario is None:
        raise _problem(
            probe,
            ("sandbox",),
            f"sandbox {sandbox.name} defines no tasks",
            "--task needs a sandbox whose tools.py defines task_scenario()",
        )
    hook = sandbox.task_scenario
    extra: dict[str, Any] = {}
    parameters = inspect.signature(hook).parameters
    if "sandbox" in parameters:  # hooks may need the data folder in use
        extra["sandbox"] = sandbox
    if "model" in parameters:  # and the run's model (--model): a live task differs
        extra["model"] = model
    data = hook(data, task, **extra)
    return parse_scenario(data, scenario_path, lines)


def plan_run(scenario_path: Path, settings: Settings, options: RunOptions | None = None) -> RunPlan:
    """Load and resolve a scenario file (see :func:`plan_from_scenario`) for a new run.

    With ``options.task``, the sandbox's ``task_scenario(data, task)`` hook rewrites the
    scenario data first (one scenario file serves a whole task set). A python agent's or
    user's ``entry`` must be found (:func:`check_entries`).
    """
    if options is None or options.task is None:
        plan = plan_from_scenario(load_scenario(scenario_path), settings, options)
    else:
        scenario = load_task_scenario(
            scenario_path, settings, options.task, options.data_path, options.model
        )
        plan = plan_from_scenario(scenario, settings, options)
        plan.task = options.task
    check_entries(plan.scenario, plan.settings)
    return plan


def check_entries(scenario: Scenario, settings: Settings) -> None:
    """Refuse a python agent or user whose entry file or module cannot be found, before a
    run is recorded; the entry itself is imported (and run) only by the run.

    Entries are looked for next to the scenario file, then under the project root.

    Raises:
        SandboxError: ``FILE:LINE: agent.entry: ...`` (or ``user.entry``) naming the entry
            and where it was looked for.
    """
    entries = [
        (("agent", "entry"), scenario.agent.entry if scenario.agent.type == "python" else None)
    ]
    if scenario.user is not None:
        entries.append((("user", "entry"), scenario.user.entry))
    if not any(entry for _, entry in entries):
        return
    from agentbox.agents.python import find_entry  # start-up cost: only for python code

    search = [scenario.path.parent] if scenario.path else []
    search.append(settings.root)
    for loc, entry in entries:
        if not entry:
            continue
        try:
            find_entry(entry, search)
        except SandboxError as exc:
            file, line = scenario.locate(*loc)
            why = exc.message.removeprefix("agent entry ")  # the field is named just before
            raise SandboxError(f"{file}:{line}: {'.'.join(loc)} {why}", exc.hint) from None
