"""Shadow deltas: how the actions an agent proposed compare with a reference set.

The step before autonomy is a period in recommend (or shadow) mode: the agent proposes,
humans act, and someone compares. :func:`suite_deltas` does that over a suite run's
recommend/shadow runs. A run's *actions* are its valid write tool calls (proposed in
recommend mode, applied to the overlay in shadow mode) plus its calls of any tool the
reference names. The *reference* of a run is, in order of preference:

- the entry of a reference file (:func:`load_reference`) whose ``case`` is the case's key
  or name (or the scenario's name), or whose ``input`` is the run's input text;
- else the case's own ``expect.tool_calls``.

Reference actions are matched in order to the first unmatched action of the same tool:
``agreed`` when every argument the reference gives is equal, an ``argument mismatch``
(naming the differing arguments) otherwise, ``missing`` when the agent made no such call;
actions left over are ``extra``. Agreement rate = agreed / (agreed + mismatched +
missing + extra).

Reference file (YAML or JSON)::

    - case: recommend-cancel          # or input: "I'm cus_1042 and ..."
      actions:
        - cancel_order: {order_id: ord_5600}
        - add_ticket_note: {order_id: ord_5600}
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbox.errors import AgentboxError, Problem, ScenarioError
from agentbox.store import StepRow, SuiteRunRow, TraceStore
from agentbox.yamlfile import load_yaml

Action = tuple[str, dict[str, Any]]
"""``(tool, args)``."""


@dataclass
class ReferenceEntry:
    """What humans did for one case or input."""

    actions: list[Action]
    case: str | None = None
    input: str | None = None


def _actions(items: Any, where: str, lines: dict[Any, int], loc: tuple[Any, ...]) -> list[Action]:
    def bad(message: str, at: tuple[Any, ...]) -> ScenarioError:
        return ScenarioError(
            [Problem(where, lines.get(at), ".".join(map(str, at)), message)],
            "each action is {TOOL: {ARG: VALUE, ...}}, e.g. - cancel_order: {order_id: ord_1}",
        )

    if not isinstance(items, list):
        raise bad("expected a list of actions", loc)
    out: list[Action] = []
    for i, item in enumerate(items):
        if not (isinstance(item, dict) and len(item) == 1):
            raise bad("an action is a mapping with one tool name", (*loc, i))
        ((tool, args),) = item.items()
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise bad(f"arguments of {tool} must be a mapping", (*loc, i, tool))
        out.append((str(tool), args))
    return out


def load_reference(path: Path) -> list[ReferenceEntry]:
    """Read a reference file (see the module docstring).

    Raises:
        ScenarioError: unreadable file or a malformed entry (with its line; exit 2).
    """
    data, lines = load_yaml(path)
    where = str(path)
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and "reference" in data:
        data, prefix = data["reference"], ("reference",)
    if not isinstance(data, list):
        raise ScenarioError(
            [Problem(where, lines.get(prefix), "", "expected a list of {case|input, actions}")],
            "see `agentbox deltas --help` for the file's shape",
        )
    out = []
    for i, entry in enumerate(data):
        loc: tuple[str | int, ...] = (*prefix, i)
        if not isinstance(entry, dict) or not ({"case", "input"} & set(entry)):
            raise ScenarioError(
                [Problem(where, lines.get(loc), ".".join(map(str, loc)), "needs case: or input:")],
                "name the case (its file or name) or give the input text",
            )
        unknown = set(entry) - {"case", "input", "actions"}
        if unknown:
            key = str(sorted(unknown, key=str)[0])
            raise ScenarioError(
                [Problem(where, lines.get((*loc, key)), f"{i}.{key}", "unknown key")],
                "an entry has case or input, and actions",
            )
        actions = _actions(entry.get("actions", []), where, lines, (*loc, "actions"))
        case = entry.get("case")
        text = entry.get("input")
        out.append(ReferenceEntry(actions, None if case is None else str(case), text))
    return out


@dataclass
class ToolDelta:
    """Counts for one tool: reference actions, agent actions and how they matched."""

    tool: str
    reference: int = 0
    proposed: int = 0
    agreed: int = 0
    missing: int = 0
    extra: int = 0
    mismatched: int = 0
    mismatched_args: Counter[str] = field(default_factory=Counter)
    """How often each argument differed."""

    def to_json(self) -> dict[str, Any]:
        """The counts and ``mismatched_args`` as a plain mapping."""
        return {**self.__dict__, "mismatched_args": dict(self.mismatched_args)}


@dataclass
class CaseDelta:
    """One run's actions against its reference."""

    case: str
    run_id: str | None
    source: str
    """``reference file`` or ``expectations``."""
    agreed: list[Action] = field(default_factory=list)
    missing: list[Action] = field(default_factory=list)
    extra: list[Action] = field(default_factory=list)
    mismatched: list[tuple[Action, Action, list[str]]] = field(default_factory=list)
    """``(reference, proposed, differing argument names)``."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready lists."""

        def act(a: Action) -> dict[str, Any]:
            return {"tool": a[0], "args": a[1]}

        return {
            "case": self.case,
            "run_id": self.run_id,
            "source": self.source,
            "agreed": [act(a) for a in self.agreed],
            "missing": [act(a) for a in self.missing],
            "extra": [act(a) for a in self.extra],
            "mismatched": [
                {"reference": act(r), "proposed": act(p), "args": keys}
                for r, p, keys in self.mismatched
            ],
        }


def _rate(d: ToolDelta | CaseDelta) -> float | None:
    if isinstance(d, CaseDelta):
        agreed, other = len(d.agreed), len(d.missing) + len(d.extra) + len(d.mismatched)
    else:
        agreed, other = d.agreed, d.missing + d.extra + d.mismatched
    return None if agreed + other == 0 else agreed / (agreed + other)


@dataclass
class SuiteDeltas:
    """Shadow deltas of one suite run: per case (run) and per tool."""

    suite_run: SuiteRunRow
    cases: list[CaseDelta]
    tools: dict[str, ToolDelta]

    @property
    def total(self) -> ToolDelta:
        """All tools summed (``tool`` is ``*``)."""
        out = ToolDelta("*")
        for t in self.tools.values():
            for name in ("reference", "proposed", "agreed", "missing", "extra", "mismatched"):
                setattr(out, name, getattr(out, name) + getattr(t, name))
            out.mismatched_args.update(t.mismatched_args)
        return out

    @property
    def agreement_rate(self) -> float | None:
        """Agreed / (agreed + mismatched + missing + extra) over all runs (None: no actions)."""
        return _rate(self.total)

    def tool_rate(self, tool: str) -> float | None:
        """The agreement rate of one tool."""
        return _rate(self.tools[tool])

    def to_json(self) -> dict[str, Any]:
        """Totals, per tool and per case."""
        return {
            "suite_run": self.suite_run.id,
            "suite": self.suite_run.suite,
            "agreement_rate": self.agreement_rate,
            "total": self.total.to_json(),
            "tools": {
                name: {**t.to_json(), "agreement_rate": _rate(t)}
                for name, t in sorted(self.tools.items())
            },
            "cases": [c.to_json() for c in self.cases],
        }


def run_actions(steps: list[StepRow], also: set[str]) -> list[Action]:
    """The run's actions: valid write tool calls, and calls of the tools in ``also``."""
    out = []
    for s in steps:
        if s.kind != "tool" or not s.data.get("valid"):
            continue
        if s.data.get("effect") == "write" or (s.name or "") in also:
            out.append((s.name or "", dict(s.data.get("args") or {})))
    return out


def match(
    case: str, run_id: str | None, source: str, ref: list[Action], got: list[Action]
) -> CaseDelta:
    """Match reference actions to the agent's (see the module docstring)."""
    out = CaseDelta(case, run_id, source)
    left = list(got)
    for tool, want in ref:
        same_tool = [i for i, (name, _) in enumerate(left) if name == tool]
        exact = next((i for i in same_tool if _agrees(want, left[i][1])), None)
        if exact is not None:
            out.agreed.append(left.pop(exact))
        elif same_tool:
            proposed = left.pop(same_tool[0])
            keys = sorted(k for k in want if proposed[1].get(k) != want[k])
            out.mismatched.append(((tool, want), proposed, keys))
        else:
            out.missing.append((tool, want))
    out.extra = left
    return out


def _agrees(want: dict[str, Any], got: dict[str, Any]) -> bool:
    return all(k in got and got[k] == v for k, v in want.items())


def _expected_actions(run_scenario: dict[str, Any]) -> list[Action] | None:
    calls = (run_scenario.get("expect") or {}).get("tool_calls")
    if not calls:
        return None
    return [(str(t), dict(a or {})) for item in calls for t, a in item.items()]


def suite_deltas(
    store: TraceStore, suite_run: SuiteRunRow, reference: list[ReferenceEntry] | None = None
) -> SuiteDeltas:
    """Shadow deltas of the recommend/shadow runs of ``suite_run``.

    Raises:
        AgentboxError: the suite run has no recommend or shadow run, or none of them has a
            reference (exit 2).
    """
    cases: list[CaseDelta] = []
    tools: dict[str, ToolDelta] = {}
    any_mode = False
    for row in store.suite_results(suite_run.id):
        if not row.run_id:
            continue
        run = store.get_run(row.run_id)
        if run.mode not in ("recommend", "shadow"):
            continue
        any_mode = True
        stem = row.case_key.rsplit(".", 1)[0]
        names = {row.case_key, stem, row.name, run.scenario}
        entry = next(
            (
                e
                for e in reference or []
                if (e.case is not None and e.case in names)
                or (e.input is not None and e.input.strip() == (run.input or "").strip())
            ),
            None,
        )
        if entry is not None:
            ref, source = entry.actions, "reference file"
        else:
            expected = _expected_actions(run.scenario_json)
            if expected is None:
                continue
            ref, source = expected, "expectations"
        got = run_actions(store.steps(run.id), {t for t, _ in ref})
        delta = match(row.case_key, run.id, source, ref, got)
        cases.append(delta)
        for tool, _ in ref:
            tools.setdefault(tool, ToolDelta(tool)).reference += 1
        for tool, _ in got:
            tools.setdefault(tool, ToolDelta(tool)).proposed += 1
        for tool, _ in delta.agreed:
            tools[tool].agreed += 1
        for tool, _ in delta.missing:
            tools[tool].missing += 1
        for tool, _ in delta.extra:
            tools[tool].extra += 1
        for (tool, _), _, keys in delta.mismatched:
            tools[tool].mismatched += 1
            tools[tool].mismatched_args.update(keys)
    if not any_mode:
        raise AgentboxError(
            f"suite run {suite_run.id} ({suite_run.suite}) has no recommend or shadow runs",
            "shadow deltas compare proposed actions: test a suite of recommend-mode cases",
        )
    if not cases:
        raise AgentboxError(
            f"no reference actions for the recommend/shadow runs of suite run {suite_run.id}",
            "pass --reference FILE (what humans did per case), or give the cases expect.tool_calls",
        )
    return SuiteDeltas(suite_run, cases, tools)
