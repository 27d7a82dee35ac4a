"""The runner: drives one agent through one scenario and records every step.

``plan_run`` resolves a scenario into everything a run needs (sandbox, state source,
model, policy, budgets) and raises before anything is written. ``Runner.run`` then:

1. stores the run row and a checkpoint of its starting state (by content hash);
2. hands the agent an :class:`AgentContext`; every model call becomes an ``llm`` step and
   every tool call passes the gate (validate -> budgets -> policy -> approval -> mode ->
   execute) and becomes a ``tool`` step, with ``approval``, ``policy``, ``error`` and
   ``final`` steps where they happen;
3. commits each step before the next side effect; a write's intent (tool, args,
   decision) is committed before it executes and its result and RFC 6902 patch after;
4. finishes the run with its status, totals and checked expectations.

The runner never prints: observers receive each :class:`StepRow` as it is stored.
"""

from __future__ import annotations

import secrets
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbox.agents.context import AgentContext, ToolResult, render_result
from agentbox.agents.llm import run_llm_loop
from agentbox.agents.python import load_entry
from agentbox.approvals import ApprovalDecision, ApprovalRequest, Approver, fixed_approver
from agentbox.config import Settings
from agentbox.errors import (
    AgentboxError,
    EndRun,
    ModelError,
    Problem,
    RunHalted,
    ScenarioError,
    ToolError,
)
from agentbox.evals import ExpectationResult, RunOutcome, check_expectations
from agentbox.models import Message, ModelBackend, ModelResponse, make_model
from agentbox.policy import Counters, Decision, Policy, check_budgets, merge_budgets
from agentbox.sandbox.loader import Sandbox, load_sandbox, load_state_source, state_hash
from agentbox.sandbox.state import State
from agentbox.scenario import ApprovalsSpec, Budgets, Mode, Scenario, load_scenario, parse_scenario
from agentbox.yamlfile import load_yaml
from agentbox.store import StepRow, TraceStore

StepObserver = Callable[[StepRow], None]


@dataclass
class RunOptions:
    """Command-line overrides (each beats the scenario and the config file)."""

    mode: Mode | None = None
    model: str | None = None
    state_path: Path | None = None
    data_path: Path | None = None
    approvals: str | None = None
    budgets: Budgets | None = None
    task: int | None = None


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


def _problem(scenario: Scenario, loc: tuple[str | int, ...], message: str, hint: str = "") -> ScenarioError:
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
    raise _problem(scenario, ("sandbox",), f"sandbox {name!r} not found in {settings.sandboxes_path} "
                   f"(available: {listing})", "`agentbox init NAME` scaffolds a sandbox")


def plan_from_scenario(scenario: Scenario, settings: Settings,
                       options: RunOptions | None = None) -> RunPlan:
    """Resolve a loaded scenario. Raises ScenarioError/SandboxError/ModelError."""
    options = options or RunOptions()
    sandbox = load_sandbox(resolve_sandbox_path(scenario, settings), seed_override=options.data_path)
    mode: Mode = options.mode or scenario.mode
    state_path = options.state_path
    if state_path is None and scenario.state:
        base = scenario.path.parent if scenario.path else Path.cwd()
        state_path = base / scenario.state
    if mode == "shadow" and state_path is None:
        raise _problem(scenario, ("mode",), "shadow mode needs a state snapshot",
                       "pass --state PATH or set `state:` in the scenario")
    if state_path is not None:
        seed, seed_source = load_state_source(state_path), str(state_path)
    else:
        seed, seed_source = sandbox.seed, sandbox.seed_source
    model_name = options.model or scenario.model_name or settings.default_model
    try:
        model = make_model(model_name, scenario.script, scenario.agent.params)
    except ModelError as exc:
        raise _problem(scenario, ("script",) if model_name == "scripted" else ("agent", "model"),
                       exc.message, exc.hint) from None
    policy = Policy(scenario.policy, sandbox.tools)
    problems = policy.problems(str(scenario.path or "<scenario>"),
                               lambda loc: scenario.locate(*loc)[1])
    if problems:
        raise ScenarioError(problems)
    approvals = scenario.approvals
    if options.approvals:
        approvals = approvals.model_copy(update={"handler": options.approvals})
    elif "approvals" not in scenario.model_fields_set and settings.approvals:
        approvals = approvals.model_copy(update={"handler": settings.approvals})
    budgets = merge_budgets(settings.budgets, scenario.policy.budgets, options.budgets)
    return RunPlan(scenario, settings, sandbox, seed, seed_source, mode, model_name, model,
                   policy, budgets, approvals)


def plan_run(scenario_path: Path, settings: Settings, options: RunOptions | None = None) -> RunPlan:
    """Load and resolve a scenario file (see :func:`plan_from_scenario`).

    With ``options.task``, the sandbox's ``task_scenario(data, task)`` hook rewrites the
    scenario data first (one scenario file serves a whole task set).
    """
    if options is None or options.task is None:
        return plan_from_scenario(load_scenario(scenario_path), settings, options)
    data, lines = load_yaml(scenario_path)
    probe = parse_scenario(data, scenario_path, lines)
    sandbox = load_sandbox(resolve_sandbox_path(probe, settings), seed_override=options.data_path)
    if sandbox.task_scenario is None:
        raise _problem(probe, ("sandbox",), f"sandbox {sandbox.name} defines no tasks",
                       "--task needs a sandbox whose tools.py defines task_scenario()")
    data = sandbox.task_scenario(data, options.task)
    return plan_from_scenario(parse_scenario(data, scenario_path, lines), settings, options)


@dataclass
class RunResult:
    """How a run ended.

    Attributes:
        run_id, status (``completed``/``halted``/``failed``), reason, output.
        counters: totals (steps, tool calls, tokens, cost USD, seconds).
        expectations: each checked expectation; ``passed``: the scenario's verdict.
        changes: ``(collection, key, before, after)`` per changed record.
        recommendations: proposed write actions (recommend mode).
    """

    run_id: str
    status: str
    reason: str | None
    output: str | None
    counters: Counters
    expectations: list[ExpectationResult]
    passed: bool
    changes: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)


_SEED_HASHES: dict[int, tuple[Any, str]] = {}


def seed_digest(seed: dict[str, Any]) -> str:
    """Content hash of a seed, cached per seed object (seeds are shared and read-only)."""
    cached = _SEED_HASHES.get(id(seed))
    if cached is not None and cached[0] is seed:
        return cached[1]
    digest = state_hash(seed)
    _SEED_HASHES[id(seed)] = (seed, digest)
    return digest


class Runner:
    """Run one plan against a store.

    Args:
        plan: from :func:`plan_run`.
        store: the trace store to write.
        approver: decides held calls; default from the plan's approvals handler
            (``approve``/``deny``/``fail``; ``prompt`` without a terminal fails the hold).
        on_step: called with every step after it is committed.
    """

    def __init__(self, plan: RunPlan, store: TraceStore, *, approver: Approver | None = None,
                 on_step: StepObserver | None = None) -> None:
        self.plan = plan
        self.store = store
        self.on_step = on_step
        handler = plan.approvals.handler
        self.approver = approver or fixed_approver("fail" if handler in ("prompt", "wait") else handler)
        self.run_id = secrets.token_hex(5)
        self.counters = Counters()
        self.state = State(plan.seed)
        self.next_idx = 0
        scenario = plan.scenario
        self.system_prompt = "\n\n".join(p for p in (scenario.agent.system, plan.sandbox.policy_text) if p)
        self.messages: list[Message] = []
        if self.system_prompt:
            self.messages.append({"role": "system", "content": self.system_prompt})
        self.messages.append({"role": "user", "content": scenario.input})
        allow = plan.policy
        self.visible_tools = [
            spec.openai_schema() for name, spec in plan.sandbox.tools.items()
            if allow.check(name, {}).rule not in ("allowlist", "denylist")
        ]
        self._started = 0.0
        self._recommendations: list[dict[str, Any]] = []

    # ---- bookkeeping ---------------------------------------------------------------
    def _tick(self) -> None:
        self.counters.elapsed_s = time.perf_counter() - self._started

    def _record(self, step: StepRow, *, commit: bool = True) -> StepRow:
        self.counters.steps += 1
        self._tick()
        step.counters = self.counters.to_json()
        self.store.add_step(step)
        if self.on_step is not None:
            self.on_step(step)
        return step

    def _new_step(self, kind: str, name: str | None = None, **fields: Any) -> StepRow:
        step = StepRow(self.run_id, self.next_idx, kind, name, started_at=time.time(), **fields)
        self.next_idx += 1
        return step

    def _halt_if_over_budget(self, *, next_is_tool: bool) -> None:
        self._tick()
        reason = check_budgets(self.plan.budgets, self.counters, next_is_tool=next_is_tool)
        if reason:
            raise RunHalted("halted", reason)

    # ---- the two things an agent can do -------------------------------------------
    def model_call(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelResponse:
        """Ask the model (budget-checked) and record an ``llm`` step."""
        self._halt_if_over_budget(next_is_tool=False)
        started = time.perf_counter()
        response = self.plan.model.complete(messages, tools, self.counters.model_calls)
        latency = response.latency_s or (time.perf_counter() - started)
        c = self.counters
        c.model_calls += 1
        c.input_tokens += response.input_tokens
        c.output_tokens += response.output_tokens
        if response.cost_usd is None:
            c.cost_unknown += 1
        else:
            c.cost_usd += response.cost_usd
        step = self._new_step(
            "llm", response.model or self.plan.model_name, duration_s=latency,
            data={"response": response.to_json(), "request": {"messages": len(messages),
                                                               "tools": [t["function"]["name"] for t in tools]}},
            message=response.message(), input_tokens=response.input_tokens,
            output_tokens=response.output_tokens, cost_usd=response.cost_usd)
        self._record(step)
        return response

    def tool_call(self, name: str, raw_args: Any, call_id: str | None) -> ToolResult:
        """Pass one tool call through the gate and record it (see the module docstring)."""
        call_id = call_id or f"call_{self.next_idx}"
        self._halt_if_over_budget(next_is_tool=True)
        self.counters.tool_calls += 1
        spec = self.plan.sandbox.tools.get(name)
        data: dict[str, Any] = {"tool": name, "call_id": call_id, "args": raw_args}
        if spec is None:
            known = ", ".join(self.plan.sandbox.tools)
            return self._invalid(name, call_id, data, [f"unknown tool {name!r}; tools: {known}"])
        args, errors = spec.validate(raw_args)
        if args is None:
            return self._invalid(name, call_id, data, errors)
        data.update(args=args, effect=spec.effect, valid=True)
        decision = self.plan.policy.check(name, args)
        data["decision"] = decision.to_json()
        if self.plan.mode == "recommend" and spec.effect == "write":
            content = (f"Recorded as a recommendation; not executed in recommend mode. "
                       f"Policy verdict: {decision.verdict} ({decision.reason}).")
            self._recommendations.append({"tool": name, "args": args, "decision": decision.to_json()})
            return self._finish_tool(self._new_step("tool", name, data=data), "recommended", content)
        if decision.verdict == "block":
            self.counters.blocks += 1
            content = f"Error: blocked by policy ({decision.rule}): {decision.reason}"
            return self._finish_tool(self._new_step("tool", name, data=data), "blocked", content)
        if decision.verdict == "hold":
            args, decision, denial = self._approve(name, args, decision)
            data.update(args=args, decision=decision.to_json())
            if denial is not None:
                return self._finish_tool(self._new_step("tool", name, data=data), "denied", denial)
        return self._execute(spec.fn, name, args, spec.effect, data, call_id)

    # ---- gate parts ----------------------------------------------------------------
    def _invalid(self, name: str, call_id: str, data: dict[str, Any], errors: list[str]) -> ToolResult:
        self.counters.invalid_tool_calls += 1
        data.update(valid=False, validation_errors=errors)
        content = f"Error: invalid call to {name}: " + "; ".join(errors)
        return self._finish_tool(self._new_step("tool", name, data=data), "invalid", content)

    def _finish_tool(self, step: StepRow, status: str, content: str, value: Any = None) -> ToolResult:
        step.status = status
        step.data["result"] = content
        step.message = {"role": "tool", "tool_call_id": step.data["call_id"], "content": content}
        self._record(step)
        return ToolResult(status, content, value, step.data["call_id"])

    def _approve(self, name: str, args: dict[str, Any], decision: Decision
                 ) -> tuple[dict[str, Any], Decision, str | None]:
        """Hold a call for approval. Returns (args, decision, denial text or None)."""
        self.counters.holds += 1
        approval_id = "ap_" + secrets.token_hex(4)
        step = self._new_step("approval", name, status="pending",
                              data={"approval_id": approval_id, "tool": name, "args": args,
                                    "decision": decision.to_json()})
        self.store.add_approval(approval_id, self.run_id, step.idx, name, args, decision.rule,
                                decision.reason)
        request = ApprovalRequest(approval_id, self.run_id, step.idx, name, args, decision)
        verdict = self.approver(request)
        if verdict.verdict == "fail":
            step.status = "failed"
            step.data["reason"] = verdict.reason
            self._record(step)
            raise RunHalted("halted", f"{name} held by rule {decision.rule!r} ({decision.reason}); "
                            f"{verdict.reason or 'not approved'}")
        final_args, final_decision = args, decision
        if verdict.verdict == "approve" and verdict.args is not None:
            spec = self.plan.sandbox.tools[name]
            edited, errors = spec.validate(verdict.args)
            if edited is None:
                verdict = ApprovalDecision("deny", reason="edited arguments invalid: " + "; ".join(errors),
                                           by=verdict.by)
            else:
                final_args = edited
                recheck = self.plan.policy.check(name, edited)
                if recheck.verdict == "block":
                    verdict = ApprovalDecision("deny", reason=f"edited arguments blocked by policy "
                                               f"({recheck.rule}): {recheck.reason}", by=verdict.by)
                final_decision = recheck if recheck.verdict != "allow" else decision
        status = "approved" if verdict.verdict == "approve" else "denied"
        if status == "approved" and final_args != args:
            status = "edited"
        self.store.decide_approval(approval_id, "approved" if status != "denied" else "denied",
                                   by=verdict.by, reason=verdict.reason,
                                   edited_args=final_args if final_args != args else None)
        step.status = status
        step.data.update(decided_by=verdict.by, reason=verdict.reason,
                         edited_args=final_args if final_args != args else None)
        self._record(step)
        if status == "denied":
            self.counters.denials += 1
            why = verdict.reason or "no reason given"
            return args, final_decision, f"Error: denied by approver ({verdict.by}): {why}"
        self.counters.approvals += 1
        return final_args, final_decision, None

    def _execute(self, fn: Callable[..., Any], name: str, args: dict[str, Any], effect: str,
                 data: dict[str, Any], call_id: str) -> ToolResult:
        step = self._new_step("tool", name, data=data, status="pending")
        if effect == "write":  # commit the intent before the side effect
            self.store.add_step(step)
            step_committed = True
        else:
            step_committed = False
        started = time.perf_counter()
        value: Any = None
        ending: EndRun | None = None
        try:
            value = fn(self.state, **args)
            status, content = "ok", render_result(value)
        except EndRun as end:
            ending, value = end, end.result
            status, content = "ok", render_result(value)
            data["ends_run"] = True
        except ToolError as exc:
            self.counters.tool_errors += 1
            status, content = "error", f"Error: {exc}"
        except RunHalted:
            raise
        except Exception as exc:
            self.counters.tool_errors += 1
            status, content = "crashed", f"Error: tool {name} failed unexpectedly ({type(exc).__name__})"
            data["traceback"] = traceback.format_exc(limit=8)
        step.duration_s = time.perf_counter() - started
        step.patch = self.state.drain_patch() or None
        if not step_committed:
            result = self._finish_tool(step, status, content, value if status == "ok" else None)
            if ending is not None:
                raise ending
            return result
        step.status = status
        data["result"] = content
        step.message = {"role": "tool", "tool_call_id": call_id, "content": content}
        self.counters.steps += 1
        self._tick()
        step.counters = self.counters.to_json()
        self.store.update_step(self.run_id, step.idx, status=status, data=data, patch=step.patch,
                               message=step.message, duration_s=step.duration_s,
                               counters=step.counters)
        if self.on_step is not None:
            self.on_step(step)
        if ending is not None:
            raise ending
        return ToolResult(status, content, value if status == "ok" else None, call_id)

    # ---- the run -------------------------------------------------------------------
    def run(self) -> RunResult:
        """Execute the plan to the end and return how it went."""
        plan, scenario = self.plan, self.plan.scenario
        digest = seed_digest(plan.seed)
        self.store.put_blob(digest, plan.seed)
        self._started = time.perf_counter()
        started_at = time.time()
        self.store.create_run(
            id=self.run_id, scenario=scenario.name,
            scenario_path=str(scenario.path) if scenario.path else None,
            scenario_json=scenario.model_dump(mode="json", exclude_unset=True),
            sandbox=plan.sandbox.name, sandbox_path=str(plan.sandbox.path), mode=plan.mode,
            agent=scenario.agent.type, model=plan.model_name, status="running",
            input=scenario.input, started_at=started_at, seed_hash=digest,
            messages=self.messages, counters=self.counters.to_json(),
            options={"seed_source": plan.seed_source, "approvals": plan.approvals.handler,
                     "budgets": plan.budgets.model_dump(exclude_none=True)})
        self.store.add_checkpoint(self.run_id, -1, digest, "start")
        status, reason, output = "completed", None, None
        try:
            output = self._drive()
        except EndRun as end:
            output = end.output if end.output is not None else render_result(end.result)
        except RunHalted as halt:
            status, reason = halt.status, halt.reason
            self._record(self._new_step("policy", "halt", status=halt.status, data={"reason": halt.reason}))
        except AgentboxError as exc:
            status, reason = "failed", exc.message
            self._record(self._new_step("error", type(exc).__name__, status="failed",
                                        data={"error": exc.message, "hint": exc.hint}))
        except Exception as exc:  # the user's agent code crashed
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
            self._record(self._new_step("error", type(exc).__name__, status="failed",
                                        data={"error": reason, "traceback": traceback.format_exc(limit=12)}))
        self._tick()
        self._record(self._new_step("final", status, status=status,
                                    data={"output": output, "reason": reason}))
        return self._finish(status, reason, output)

    def _drive(self) -> str | None:
        ctx = AgentContext(self)
        scenario = self.plan.scenario
        if scenario.agent.type == "python":
            assert scenario.agent.entry is not None
            search = [scenario.path.parent] if scenario.path else []
            search.append(self.plan.settings.root)
            fn = load_entry(scenario.agent.entry, search)
            result = fn(ctx)
            return None if result is None else render_result(result)
        return run_llm_loop(ctx, scenario.agent.max_steps)

    def _finish(self, status: str, reason: str | None, output: str | None) -> RunResult:
        outcome = RunOutcome(status=status, output=output, counters=self.counters,
                             steps=self.store.steps(self.run_id), state=self.state,
                             sandbox=self.plan.sandbox)
        expect = self.plan.scenario.expect
        results = check_expectations(expect, outcome)
        passed = all(r.passed for r in results) if expect is not None else status == "completed"
        self.store.update_run(self.run_id, status=status, reason=reason, output=output,
                              ended_at=time.time(), counters=self.counters.to_json(),
                              expectations=[r.to_json() for r in results], passed=int(passed))
        return RunResult(self.run_id, status, reason, output, self.counters, results, passed,
                         self.state.changes(), self._recommendations)
