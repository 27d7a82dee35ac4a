"""Compare two suite runs: did the change make the agent better or worse?

:func:`compare_suite_runs` lines up two stored suite runs case by case (the cases both
ran; the others are listed, not compared) and says, for the overlap:

- flips: per case ``fixed`` (failed in A, passes in B), ``broken``, ``still failing``,
  ``still passing`` -- a case passes when all its ``k`` repeats passed;
- metrics per side (:data:`METRICS`): pass rate, pass^k, tool-call validity and success,
  post-condition (expectation) pass rate, approval and block rates, tokens per run, cost
  per run and per successful outcome, step latency p50/p95;
- whether the pass-rate difference is beyond noise: an exact two-sided sign test over the
  paired cases (each case's pass fraction over its k repeats, ties dropped; with k = 1
  this is McNemar's exact test), judged only when both sides ran k >= 3;
- gates (:class:`Gate`): per-metric regression thresholds for CI.

Nothing here prints: the CLI renders :class:`Comparison` (and its ``to_markdown`` /
``to_junit`` / ``to_json``), the TUI shows it.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentbox.errors import AgentboxError
from agentbox.store import SuiteResultRow, SuiteRunRow, TraceStore
from agentbox.suites.metrics import RunMetrics, SuiteMetrics

FLIP_ORDER = ("broken", "fixed", "still failing", "still passing")
"""How flips are sorted: what got worse first."""


@dataclass(frozen=True)
class MetricSpec:
    """A compared metric: ``better`` is ``higher``, ``lower`` or None (neither), ``rate``
    says its values are fractions 0..1 (thresholds in points), ``unit`` how to show it."""

    name: str
    title: str
    better: str | None
    rate: bool
    unit: str
    get: Callable[[SuiteMetrics], float | None]


def _mean_tokens(s: SuiteMetrics) -> float | None:
    return None if not s.runs else s.total.tokens / len(s.runs)


def _block_rate(s: SuiteMetrics) -> float | None:
    t = s.total
    return None if not t.tool_calls else t.blocks / t.tool_calls


def _pass_rate(s: SuiteMetrics) -> float | None:
    return None if not s.runs else s.passed / len(s.runs)


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("pass_rate", "pass rate (runs)", "higher", True, "%", _pass_rate),
    MetricSpec("pass_k", "pass^k (cases)", "higher", True, "%", lambda s: s.pass_k),
    MetricSpec(
        "validity", "tool-call validity", "higher", True, "%", lambda s: s.total.validity_rate
    ),
    MetricSpec("success", "tool-call success", "higher", True, "%", lambda s: s.total.success_rate),
    MetricSpec(
        "post_conditions",
        "post-conditions passed",
        "higher",
        True,
        "%",
        lambda s: s.total.expectation_rate,
    ),
    MetricSpec("approval_rate", "approval rate", None, True, "%", lambda s: s.total.approval_rate),
    MetricSpec("block_rate", "block rate", "lower", True, "%", _block_rate),
    MetricSpec("tokens", "tokens per run", "lower", False, "tokens", _mean_tokens),
    MetricSpec("cost_per_run", "cost per run", "lower", False, "usd", lambda s: s.cost_per_run),
    MetricSpec(
        "cost_per_success",
        "cost per successful outcome",
        "lower",
        False,
        "usd",
        lambda s: s.cost_per_success,
    ),
    MetricSpec("latency_p50", "step latency p50", "lower", False, "s", lambda s: s.total.p(0.5)),
    MetricSpec("latency_p95", "step latency p95", "lower", False, "s", lambda s: s.total.p(0.95)),
)
BROKEN = MetricSpec("broken_cases", "cases broken", "lower", True, "%", lambda s: None)
"""The share of compared cases that passed in A and fail in B (a gate, not a side metric)."""
METRIC_NAMES = (*(m.name for m in METRICS), BROKEN.name)


@dataclass
class CaseFlip:
    """One case on both sides: pass fractions over the repeats and the flip.

    Attributes:
        key: the case's path inside its suite. name: the case name.
        kind: ``fixed``, ``broken``, ``still failing`` or ``still passing``.
        a_rate / b_rate: passed repeats / repeats (0..1).
        a_run / b_run: the run to open on each side (the first failing repeat, else the first).
    """

    key: str
    name: str
    kind: str
    a_rate: float
    b_rate: float
    a_run: str | None
    b_run: str | None

    def to_json(self) -> dict[str, Any]:
        """All fields."""
        return dict(self.__dict__)


@dataclass
class MetricDelta:
    """A metric on both sides; ``delta`` is ``b - a`` (None when either is unknown)."""

    spec: MetricSpec
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        """``b - a``, or None."""
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def worse(self) -> bool:
        """Whether B moved in the metric's bad direction."""
        d = self.delta
        if d is None or not d or self.spec.better is None:
            return False
        return d < 0 if self.spec.better == "higher" else d > 0

    def to_json(self) -> dict[str, Any]:
        """``{"metric", "a", "b", "delta", "better"}``."""
        return {
            "metric": self.spec.name,
            "a": self.a,
            "b": self.b,
            "delta": self.delta,
            "better": self.spec.better,
        }


@dataclass
class NoiseTest:
    """Whether the pass-rate difference is beyond noise.

    Attributes:
        test: the test's name. improved / worsened / ties: paired cases whose pass
        fraction went up / down / stayed. p_value: two-sided exact p. assessed: both
        sides ran k >= 3. significant: assessed and ``p_value < alpha``.
    """

    test: str
    improved: int
    worsened: int
    ties: int
    p_value: float
    alpha: float
    assessed: bool

    @property
    def significant(self) -> bool:
        """Beyond noise at ``alpha``."""
        return self.assessed and self.p_value < self.alpha

    def summary(self) -> str:
        """One line: the verdict and the test."""
        counts = f"{self.improved} up, {self.worsened} down, {self.ties} tied"
        if not self.assessed:
            return f"not assessed (needs k >= 3 on both sides; {counts})"
        verdict = "beyond noise" if self.significant else "within noise"
        return f"{verdict}: p = {self.p_value:.3g} ({self.test}; {counts})"

    def to_json(self) -> dict[str, Any]:
        """The fields plus ``significant``."""
        return {**self.__dict__, "significant": self.significant}


def sign_test_p(up: int, down: int) -> float:
    """Two-sided exact binomial (sign) test p-value for ``up`` vs ``down`` (p = 1/2)."""
    n = up + down
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, i) for i in range(min(up, down) + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass
class Gate:
    """A regression threshold on one metric: B may be worse than A by at most ``limit``
    (points for rates, a fraction of A when ``relative``, else in the metric's unit)."""

    metric: str
    limit: float
    relative: bool
    given: str
    a: float | None = None
    b: float | None = None
    breached: bool = False
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """All fields."""
        return dict(self.__dict__)


_THRESHOLD = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")


def regression_gates(text: str) -> list[Gate]:
    """``--fail-on-regression 1%``: B fails when more than 1% of the compared cases broke,
    or its pass rate is more than 1 point below A's (a fixed case does not excuse a
    broken one).

    Raises:
        AgentboxError: an unreadable limit (exit 2).
    """
    return [parse_gate(f"broken_cases={text}"), parse_gate(f"pass_rate={text}")]


def parse_gate(text: str, default_metric: str = "pass_rate") -> Gate:
    """``1%`` (the default metric) or ``METRIC=LIMIT`` (``cost_per_run=10%``,
    ``latency_p95=0.5``) as a :class:`Gate`.

    For rate metrics ``N%`` means N percentage points; for the others a fraction of A.
    A bare number is in the metric's own unit (a fraction for rates, USD, tokens, s).

    Raises:
        AgentboxError: unknown metric or unreadable limit (exit 2).
    """
    metric, sep, limit = text.partition("=")
    if not sep:
        metric, limit = default_metric, text
    metric = metric.strip()
    spec = next((m for m in (*METRICS, BROKEN) if m.name == metric), None)
    if spec is None:
        raise AgentboxError(
            f"unknown metric {metric!r} in {text!r}",
            "metrics: " + ", ".join(METRIC_NAMES),
        )
    m = _THRESHOLD.match(limit)
    if m is None:
        raise AgentboxError(
            f"threshold {text!r}: expected a number or a percentage, e.g. 1% or {metric}=2%",
            "e.g. --fail-on-regression 1% or --max-regression cost_per_run=10%",
        )
    value = float(m.group(1))
    percent = bool(m.group(2))
    if percent:
        value /= 100
    return Gate(metric, value, percent and not spec.rate, text.strip())


def _check(gate: Gate, row: MetricDelta) -> Gate:
    gate.a, gate.b = row.a, row.b
    if row.a is None or row.b is None:
        gate.reason = "unknown on one side: not gated"
        return gate
    allowed = gate.limit * abs(row.a) if gate.relative else gate.limit
    delta = row.b - row.a
    better = row.spec.better
    worse_by = -delta if better == "higher" else delta if better == "lower" else abs(delta)
    gate.breached = worse_by > allowed + 1e-12
    limit = f"(allowed {fmt_metric(row.spec, allowed)} worse)"
    if worse_by > 1e-12:
        gate.reason = f"worse by {fmt_metric(row.spec, worse_by)} {limit}"
    elif worse_by < -1e-12 and better is not None:
        gate.reason = f"better by {fmt_metric(row.spec, -worse_by)} {limit}"
    else:
        gate.reason = f"unchanged {limit}"
    return gate


def fmt_metric(spec: MetricSpec, value: float | None) -> str:
    """A value of ``spec`` as shown: ``95.0%`` (rates), ``$0.0012``, ``3.10 ms``, ``412.0``;
    ``unknown`` for None."""
    if value is None:
        return "unknown"
    value = value + 0.0 if value else 0.0  # no "-0.00"
    if (spec.unit == "s" and abs(value) < 5e-6) or (spec.rate and abs(value) < 5e-4):
        value = 0.0
    if spec.rate:
        return f"{value * 100:.1f}%" if spec.unit == "%" else f"{value:.3f}"
    if spec.unit == "usd":
        return f"${value:.4f}"
    if spec.unit == "s":
        return f"{value * 1000:.2f} ms"
    return f"{value:.1f}"


def format_value(metric: str, value: float | None) -> str:
    """A metric value as shown (``95.0%``, ``$0.0012``, ``3.10 ms``, ``412.0``)."""
    spec = next(m for m in (*METRICS, BROKEN) if m.name == metric)
    return fmt_metric(spec, value)


@dataclass
class Comparison:
    """Two suite runs compared over the cases both ran (see the module docstring)."""

    a: SuiteRunRow
    b: SuiteRunRow
    only_a: list[str]
    only_b: list[str]
    cases: list[CaseFlip]
    metrics: list[MetricDelta]
    noise: NoiseTest
    gates: list[Gate] = field(default_factory=list)

    def flips(self, kind: str) -> list[CaseFlip]:
        """The cases with this flip kind."""
        return [c for c in self.cases if c.kind == kind]

    @property
    def regressed(self) -> bool:
        """Whether a gate was breached."""
        return any(g.breached for g in self.gates)

    def metric(self, name: str) -> MetricDelta:
        """The compared metric called ``name``."""
        return next(m for m in self.metrics if m.spec.name == name)

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        return {
            "a": _side(self.a),
            "b": _side(self.b),
            "same_suite": self.a.suite == self.b.suite,
            "only_in_a": self.only_a,
            "only_in_b": self.only_b,
            "counts": {k: len(self.flips(k)) for k in FLIP_ORDER},
            "cases": [c.to_json() for c in self.cases],
            "metrics": [m.to_json() for m in self.metrics],
            "noise": self.noise.to_json(),
            "gates": [g.to_json() for g in self.gates],
            "regressed": self.regressed,
        }

    def to_markdown(self) -> str:
        """A summary for a pull-request comment."""
        a, b = self.a, self.b
        verdict = "❌ regression" if self.regressed else "✅ no regression"
        lines = [
            f"### agentbox compare: {verdict}",
            "",
            f"**A** `{a.id}` {_name(a)} · **B** `{b.id}` {_name(b)}",
            "",
            " · ".join(f"{len(self.flips(k))} {k}" for k in FLIP_ORDER),
            "",
        ]
        changed = [c for c in self.cases if c.kind != "still passing"]
        if changed:
            lines += ["| case | A | B | flip |", "|---|---|---|---|"]
            lines += [
                f"| `{c.key}` | {c.a_rate * 100:.0f}% | {c.b_rate * 100:.0f}% | {c.kind} |"
                for c in changed
            ]
            lines.append("")
        lines += ["| metric | A | B | Δ |", "|---|---|---|---|"]
        for m in self.metrics:
            delta = "" if m.delta is None else fmt_metric(m.spec, m.delta)
            if m.delta is not None and m.delta > 0:
                delta = "+" + delta
            mark = " ⚠️" if m.worse else ""
            lines.append(
                f"| {m.spec.title} | {fmt_metric(m.spec, m.a)} | {fmt_metric(m.spec, m.b)} | {delta}{mark} |"
            )
        lines += ["", f"Pass-rate difference: {self.noise.summary()}."]
        if self.only_a or self.only_b:
            lines.append(
                f"Not compared: {len(self.only_a)} case(s) only in A, {len(self.only_b)} only in B."
            )
        for g in self.gates:
            mark = "❌" if g.breached else "✅"
            lines.append(f"- {mark} gate `{g.given}`: {g.reason}")
        return "\n".join(lines) + "\n"

    def to_junit(self) -> str:
        """JUnit XML: one testcase per compared case (``broken`` fails) and per gate."""
        root = ET.Element("testsuites", name="agentbox compare")
        suite = ET.SubElement(root, "testsuite", name=f"compare {self.a.id}..{self.b.id}")
        failures = 0
        for c in self.cases:
            tc = ET.SubElement(suite, "testcase", classname="cases", name=c.key)
            if c.kind == "broken":
                failures += 1
                ET.SubElement(
                    tc, "failure", message=f"broken: passed in {self.a.id}, fails in {self.b.id}"
                ).text = f"A run {c.a_run}, B run {c.b_run}"
        for g in self.gates:
            tc = ET.SubElement(suite, "testcase", classname="gates", name=g.given)
            if g.breached:
                failures += 1
                ET.SubElement(tc, "failure", message=g.reason)
        tests = len(self.cases) + len(self.gates)
        for el in (root, suite):
            el.set("tests", str(tests))
            el.set("failures", str(failures))
            el.set("errors", "0")
        ET.indent(root)
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _name(run: SuiteRunRow) -> str:
    label = f"`{run.label}` " if run.label else ""
    mode = "live" if run.live else "replay"
    return f"{label}({run.suite}, k={run.k}, {mode}, version {run.fingerprint or '-'})"


def _side(run: SuiteRunRow) -> dict[str, Any]:
    return {
        "id": run.id,
        "suite": run.suite,
        "label": run.label,
        "fingerprint": run.fingerprint,
        "live": run.live,
        "model": run.model,
        "k": run.k,
        "cases": run.cases,
        "passed_cases": run.passed_cases,
        "started_at": run.started_at,
    }


def _by_case(rows: Sequence[SuiteResultRow]) -> dict[str, list[SuiteResultRow]]:
    out: dict[str, list[SuiteResultRow]] = {}
    for row in rows:
        out.setdefault(row.case_key, []).append(row)
    return out


def _metrics(groups: dict[str, list[SuiteResultRow]], keys: list[str], k: int) -> SuiteMetrics:
    runs = [RunMetrics.from_json(r.metrics) for key in keys for r in groups[key]]
    pass_k = None if not keys else sum(all(r.passed for r in groups[x]) for x in keys) / len(keys)
    return SuiteMetrics(runs, pass_k=pass_k, k=k)


def _first_run(rows: list[SuiteResultRow]) -> str | None:
    bad = [r for r in rows if not r.passed and r.run_id]
    pick = bad[0] if bad else next((r for r in rows if r.run_id), None)
    return None if pick is None else pick.run_id


def compare_suite_runs(
    store: TraceStore,
    a: SuiteRunRow,
    b: SuiteRunRow,
    gates: Sequence[Gate] = (),
    alpha: float = 0.05,
) -> Comparison:
    """Compare suite run ``a`` (before) with ``b`` (after) over the cases both ran.

    Raises:
        AgentboxError: the two runs share no case (nothing to compare; exit 2).
    """
    ga, gb = _by_case(store.suite_results(a.id)), _by_case(store.suite_results(b.id))
    overlap = sorted(set(ga) & set(gb))
    only_a, only_b = sorted(set(ga) - set(gb)), sorted(set(gb) - set(ga))
    if not overlap:
        raise AgentboxError(
            f"suite runs {a.id} ({a.suite}) and {b.id} ({b.suite}) share no case",
            "compare two runs of the same suite (or copies of it with the same case files)",
        )
    cases = []
    up = down = ties = 0
    for key in overlap:
        ra, rb = ga[key], gb[key]
        rate_a = sum(r.passed for r in ra) / len(ra)
        rate_b = sum(r.passed for r in rb) / len(rb)
        pa, pb = all(r.passed for r in ra), all(r.passed for r in rb)
        kind = (
            "still passing" if pa and pb else "broken" if pa else "fixed" if pb else "still failing"
        )
        up += rate_b > rate_a
        down += rate_b < rate_a
        ties += rate_b == rate_a
        cases.append(
            CaseFlip(key, rb[0].name, kind, rate_a, rate_b, _first_run(ra), _first_run(rb))
        )
    cases.sort(key=lambda c: (FLIP_ORDER.index(c.kind), c.key))
    sa, sb = _metrics(ga, overlap, a.k), _metrics(gb, overlap, b.k)
    deltas = [MetricDelta(spec, spec.get(sa), spec.get(sb)) for spec in METRICS]
    test = (
        "McNemar's exact test over paired cases"
        if a.k == b.k == 1
        else "exact two-sided sign test over paired cases' pass rates"
    )
    noise = NoiseTest(
        test,
        up,
        down,
        ties,
        sign_test_p(up, down),
        alpha,
        min(a.k, b.k) >= 3,
    )
    rows = {d.spec.name: d for d in deltas}
    broken = sum(c.kind == "broken" for c in cases)
    rows[BROKEN.name] = MetricDelta(BROKEN, 0.0, broken / len(cases))
    checked = [_check(Gate(g.metric, g.limit, g.relative, g.given), rows[g.metric]) for g in gates]
    return Comparison(a, b, only_a, only_b, cases, deltas, noise, checked)
