"""The policy gate: allowlist, argument rules with tiers, and budgets.

``Policy.check(tool, args)`` runs on validated arguments before a tool executes and
returns a :class:`Decision`: ``allow`` (green), ``hold`` (yellow: needs an approval) or
``block`` (red). The most severe firing rule wins; ties go to the first rule in the file.
Rule expressions are evaluated by simpleeval over the arguments (never ``eval``).

The gate fails closed: a rule whose expression raises anything while it is evaluated
(ZeroDivisionError, IndexError, OverflowError, RecursionError, an unknown name, a step
budget of :data:`MAX_EVAL_NODES` exhausted...) fires, and the decision says why. An
expression nested deeper than :data:`MAX_DEPTH` is refused when the scenario loads.

``check_budgets`` is called by the runner before every step and tool call.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import simpleeval
from simpleeval import EvalWithCompoundTypes, InvalidExpression

from agentbox.errors import Problem
from agentbox.events import PolicyVerdict
from agentbox.sandbox.tools import ToolSpec
from agentbox.scenario import Budgets, PolicySpec, Rule, Tier

_VERDICT: dict[Tier, PolicyVerdict] = {"green": "allow", "yellow": "hold", "red": "block"}
_SEVERITY = {"green": 0, "yellow": 1, "red": 2}
MAX_DEPTH = 32
"""Deepest syntax tree a rule's ``when`` may have (deeper is a load error)."""
MAX_EVAL_NODES = 20_000
"""Most expression nodes one rule evaluation may visit (more: the rule fires)."""
MAX_SEQUENCE = 10_000
"""Longest string or list an expression may build with ``*`` or ``+``."""
_FUNCTIONS = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "lower": str.lower,
    "any": any,
    "all": all,
}


@dataclass(frozen=True)
class Decision:
    """What the policy says about one tool call.

    Attributes:
        verdict: ``allow``, ``hold`` or ``block``.
        tier: ``green``, ``yellow`` or ``red``.
        rule: the deciding rule's name (``allowlist``/``denylist`` for those), or None.
        reason: a sentence for the trace, the approver and the agent.
    """

    verdict: PolicyVerdict
    tier: Tier
    rule: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for the trace."""
        return {
            "verdict": self.verdict,
            "tier": self.tier,
            "rule": self.rule,
            "reason": self.reason,
        }


ALLOW = Decision("allow", "green", None, "no rule applies")


class EvaluationTooLong(InvalidExpression):  # type: ignore[misc]
    """A rule expression visited more than :data:`MAX_EVAL_NODES` nodes."""


def _bounded(op: Any) -> Any:
    """``op`` (``*`` or ``+``) refusing to build sequences longer than MAX_SEQUENCE."""

    def apply(a: Any, b: Any) -> Any:
        for x, y in ((a, b), (b, a)):
            if hasattr(x, "__len__") and isinstance(y, int) and len(x) * y > MAX_SEQUENCE:
                raise simpleeval.IterableTooLong(f"sequence longer than {MAX_SEQUENCE}")
        if hasattr(a, "__len__") and hasattr(b, "__len__") and len(a) + len(b) > MAX_SEQUENCE:
            raise simpleeval.IterableTooLong(f"sequence longer than {MAX_SEQUENCE}")
        return op(a, b)

    return apply


class _RuleEvaluator(EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval with a step budget, so arguments cannot make a rule run for minutes."""

    def __init__(self) -> None:
        operators = dict(simpleeval.DEFAULT_OPERATORS)
        operators[ast.Mult] = _bounded(operators[ast.Mult])
        operators[ast.Add] = _bounded(operators[ast.Add])
        super().__init__(operators=operators, functions=_FUNCTIONS)
        self._visited = 0

    def eval(self, expr: str, previously_parsed: Any = None) -> Any:
        self._visited = 0
        return super().eval(expr, previously_parsed)

    def _eval(self, node: ast.AST) -> Any:
        self._visited += 1
        if self._visited > MAX_EVAL_NODES:
            raise EvaluationTooLong(f"more than {MAX_EVAL_NODES} evaluation steps")
        return super()._eval(node)


def depth(tree: ast.AST) -> int:
    """The depth of a syntax tree (iterative: a deep tree must not overflow the stack)."""
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, level = todo.pop()
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _matches(patterns: Iterable[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


class Policy:
    """A compiled policy for one run.

    Args:
        spec: the scenario's policy section.
        tools: the sandbox's tools, used to check rule names and expressions.
    """

    def __init__(self, spec: PolicySpec, tools: dict[str, ToolSpec]) -> None:
        self.spec = spec
        self.tools = tools
        self._parsed: dict[int, ast.AST] = {}
        self._evaluator = _RuleEvaluator()
        for i, rule in enumerate(spec.rules):
            if rule.when:
                try:
                    self._parsed[i] = self._evaluator.parse(rule.when)
                except Exception as exc:  # reported by problems(); fires if run anyway
                    self._parsed[i] = ast.Name(id=f"<unparsable: {type(exc).__name__}>")

    def problems(self, file: str, line_of: Any) -> list[Problem]:
        """Rules that cannot work: unknown tools, bad expressions, unknown argument names.

        ``line_of(loc)`` maps a scenario location tuple to its line.
        """
        found: list[Problem] = []
        names = list(self.tools)
        for pattern_field, patterns in (("allow", self.spec.allow or []), ("deny", self.spec.deny)):
            for i, pattern in enumerate(patterns):
                if not _matches([pattern], "") and not any(_matches([pattern], n) for n in names):
                    loc = ("policy", pattern_field, i)
                    found.append(
                        Problem(
                            file,
                            line_of(loc),
                            f"policy.{pattern_field}[{i}]",
                            f"no sandbox tool matches {pattern!r}",
                        )
                    )
        for pattern in self.spec.timeouts.tools:
            if not any(_matches([pattern], n) for n in names):
                found.append(
                    Problem(
                        file,
                        line_of(("policy", "timeouts", "tools", pattern)),
                        f"policy.timeouts.tools.{pattern}",
                        f"no sandbox tool matches {pattern!r}",
                    )
                )
        for i, rule in enumerate(self.spec.rules):
            loc = ("policy", "rules", i)
            targets = [n for n in names if _matches([rule.tool], n)]
            if not targets:
                found.append(
                    Problem(
                        file,
                        line_of((*loc, "tool")),
                        f"policy.rules[{i}].tool",
                        f"no sandbox tool matches {rule.tool!r}",
                    )
                )
                continue
            params = set().union(*(self.tools[n].args_model.model_fields for n in targets))
            for arg in rule.require:
                if arg not in params:
                    found.append(
                        Problem(
                            file,
                            line_of((*loc, "require")),
                            f"policy.rules[{i}].require",
                            f"{rule.tool} has no argument {arg!r}",
                        )
                    )
            if rule.when:
                try:
                    tree = self._evaluator.parse(rule.when)
                except SyntaxError as exc:
                    why = exc.msg or "syntax error"
                except Exception as exc:  # RecursionError, MemoryError, ValueError
                    why = f"{type(exc).__name__}: {exc}"
                else:
                    why = ""
                    if depth(tree) > MAX_DEPTH:
                        why = f"nested deeper than {MAX_DEPTH} levels; split it into rules"
                if why:
                    found.append(
                        Problem(
                            file,
                            line_of((*loc, "when")),
                            f"policy.rules[{i}].when",
                            f"invalid expression: {why}",
                        )
                    )
                    continue
                idents = [n for n in ast.walk(tree) if isinstance(n, ast.Name)]
                bound = {n.id for n in idents if isinstance(n.ctx, ast.Store)}  # `for x in`
                used = {n.id for n in idents} - set(_FUNCTIONS) - bound
                used -= {"True", "False", "None"}
                for name in sorted(used - params):
                    found.append(
                        Problem(
                            file,
                            line_of((*loc, "when")),
                            f"policy.rules[{i}].when",
                            f"unknown name {name!r}; arguments of {rule.tool}: "
                            + ", ".join(sorted(params)),
                        )
                    )
        return found

    def listed(self, tool: str) -> Decision | None:
        """The block from the allow/deny lists, or None when the lists let ``tool`` through."""
        if _matches(self.spec.deny, tool):
            return Decision("block", "red", "denylist", f"{tool} is on the policy's deny list")
        if self.spec.allow is not None and not _matches(self.spec.allow, tool):
            return Decision(
                "block", "red", "allowlist", f"{tool} is not on the policy's allow list"
            )
        return None

    def check(self, tool: str, args: dict[str, Any]) -> Decision:
        """Decide on one validated tool call."""
        blocked = self.listed(tool)
        if blocked is not None:
            return blocked
        worst: tuple[Rule, str, bool] | None = None
        for i, rule in enumerate(self.spec.rules):
            if not fnmatch.fnmatchcase(tool, rule.tool):
                continue
            fired = self._fires(i, rule, args)
            if fired is None:
                continue
            if worst is None or _SEVERITY[rule.effective_tier] > _SEVERITY[worst[0].effective_tier]:
                worst = (rule, *fired)
        if worst is None:
            return ALLOW
        rule, why, failed = worst
        tier = rule.effective_tier
        reason = why if failed else (rule.reason or why)  # an error is never hidden
        return Decision(_VERDICT[tier], tier, rule.name, reason)

    def _fires(self, index: int, rule: Rule, args: dict[str, Any]) -> tuple[str, bool] | None:
        """``(why, evaluation_failed)`` when the rule fires, else None."""
        missing = [a for a in rule.require if args.get(a) in (None, "", [], {})]
        if missing:
            return "missing required argument(s): " + ", ".join(missing), False
        if rule.when:
            self._evaluator.names = args
            try:
                result = bool(
                    self._evaluator.eval(rule.when, previously_parsed=self._parsed[index])
                )
            except Exception as exc:  # fail closed: whatever went wrong, the rule fires
                text = str(exc).splitlines()[0][:200] if str(exc) else ""
                error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
                return f"rule {rule.name} could not be evaluated: {error}", True
            return (f"{rule.when} is true", False) if result else None
        if rule.require:
            return None
        return f"every call of {rule.tool} matches this rule", False


@dataclass
class Counters:
    """Running totals the budgets are checked against (tokens, USD, seconds)."""

    steps: int = 0
    tool_calls: int = 0
    model_calls: int = 0
    invalid_tool_calls: int = 0
    tool_errors: int = 0
    tool_error_streak: int = 0
    """Tool calls in a row that failed (error, crashed, invalid); for the circuit breaker."""
    holds: int = 0
    blocks: int = 0
    approvals: int = 0
    denials: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown: int = 0
    elapsed_s: float = 0.0
    user_turns: int = 0
    """Messages from the conversation's user (``user`` steps); the input is not one."""
    user_input_tokens: int = 0
    user_output_tokens: int = 0
    user_cost_usd: float = 0.0
    """What the simulated user's model cost, in USD: kept apart from the agent's
    ``cost_usd`` (budgets and ``max_cost_usd`` count the agent only)."""
    user_cost_unknown: int = 0

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for checkpoints."""
        return dict(self.__dict__)


def check_budgets(
    budgets: Budgets, counters: Counters, *, next_is_tool: bool = False
) -> tuple[str, str] | None:
    """``(status, reason)`` when the run must stop now, else None.

    Steps and tool calls are checked before the next one is taken (``next_is_tool``
    says whether it is a tool call); tokens, cost and time after they are spent. The
    status is ``halted``, or ``timeout`` for ``max_seconds`` (the same status the watcher
    gives a run whose time runs out in the middle of a step).
    """
    b = budgets
    if b.max_steps is not None and counters.steps >= b.max_steps:
        return "halted", f"step budget exhausted: {counters.steps} of max_steps={b.max_steps}"
    if next_is_tool and b.max_tool_calls is not None and counters.tool_calls >= b.max_tool_calls:
        return (
            "halted",
            f"tool-call budget exhausted: {counters.tool_calls} of max_tool_calls={b.max_tool_calls}",
        )
    if b.max_tokens is not None and counters.tokens > b.max_tokens:
        return "halted", f"token budget exceeded: {counters.tokens} > max_tokens={b.max_tokens}"
    if b.max_cost_usd is not None and counters.cost_usd > b.max_cost_usd:
        return (
            "halted",
            f"cost budget exceeded: ${counters.cost_usd:.4f} > max_cost_usd=${b.max_cost_usd}",
        )
    if b.max_seconds is not None and counters.elapsed_s > b.max_seconds:
        return "timeout", time_budget_reason(counters.elapsed_s, b.max_seconds)
    return None


def time_budget_reason(elapsed_s: float, max_seconds: float) -> str:
    """Why a run that ran ``elapsed_s`` seconds is over ``max_seconds`` (one wording for
    the check between steps and the watcher during one)."""
    return f"time budget exceeded: {elapsed_s:.1f} s > max_seconds={max_seconds:g}"


def merge_budgets(*layers: Budgets | None) -> Budgets:
    """Budgets where each later layer's set fields override earlier ones."""
    data: dict[str, Any] = {}
    for layer in layers:
        if layer is not None:
            data.update(layer.model_dump(exclude_none=True))
    return Budgets(**data)
