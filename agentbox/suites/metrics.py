"""Metrics per run and aggregated over a suite (DESIGN.md, "Metrics").

Per run: tool-call validity rate (arguments passed the schema), tool-call success rate
(executed calls that raised no tool error), expectation pass rate, approval rate (held
calls approved), policy blocks, tokens, cost, step latency p50/p95. Over a suite: the
same summed or pooled, cost per run and per successful outcome, and pass^k over repeats.

A cost is ``None`` (shown as "unknown", never $0) as soon as one model call had an
unknown price. Rates are ``None`` when there is nothing to divide by.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from agentbox.store import RunRow, StepRow, TraceStore


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


@dataclass
class RunMetrics:
    """The metrics of one run (counts; rates are properties)."""

    run_id: str | None = None
    passed: bool = False
    tool_calls: int = 0
    invalid_tool_calls: int = 0
    executed: int = 0
    """Tool calls that ran (ok, tool error or crash)."""
    succeeded: int = 0
    """Tool calls that ran without an error."""
    expectations: int = 0
    expectations_passed: int = 0
    holds: int = 0
    approvals: int = 0
    blocks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    """Model cost in USD; None when a price was unknown."""
    cost_unknown: int = 0
    latencies: list[float] = field(default_factory=list)
    """Durations of the run's steps in seconds."""

    @property
    def validity_rate(self) -> float | None:
        """Tool calls whose arguments were valid / tool calls."""
        return _rate(self.tool_calls - self.invalid_tool_calls, self.tool_calls)

    @property
    def success_rate(self) -> float | None:
        """Executed tool calls without a tool error / executed tool calls."""
        return _rate(self.succeeded, self.executed)

    @property
    def expectation_rate(self) -> float | None:
        """Passed expectations / checked expectations."""
        return _rate(self.expectations_passed, self.expectations)

    @property
    def approval_rate(self) -> float | None:
        """Approved holds / holds."""
        return _rate(self.approvals, self.holds)

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def p(self, q: float) -> float | None:
        """Step latency percentile in seconds."""
        return percentile(self.latencies, q)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunMetrics:
        """The metrics back from :meth:`to_json` (plus ``latencies`` when kept); derived
        keys (rates, percentiles) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self) -> dict[str, Any]:
        """Counts, rates and latency percentiles (no raw latencies)."""
        data = asdict(self)
        data.pop("latencies")
        data.update(
            validity_rate=self.validity_rate,
            success_rate=self.success_rate,
            expectation_rate=self.expectation_rate,
            approval_rate=self.approval_rate,
            tokens=self.tokens,
            latency_p50_s=self.p(0.5),
            latency_p95_s=self.p(0.95),
        )
        return data


def run_metrics(
    counters: dict[str, Any],
    steps: Iterable[StepRow],
    expectations: list[dict[str, Any]] | None,
    passed: bool,
    run_id: str | None = None,
) -> RunMetrics:
    """Metrics from a run's counters, steps and checked expectations."""
    m = RunMetrics(run_id=run_id, passed=passed)
    for step in steps:
        if step.duration_s is not None:
            m.latencies.append(step.duration_s)
        if step.kind == "tool" and step.status in ("ok", "error", "crashed"):
            m.executed += 1
            m.succeeded += step.status == "ok"
    for key in (
        "tool_calls",
        "invalid_tool_calls",
        "holds",
        "approvals",
        "blocks",
        "input_tokens",
        "output_tokens",
        "cost_unknown",
    ):
        setattr(m, key, int(counters.get(key, 0)))
    m.cost_usd = None if m.cost_unknown else float(counters.get("cost_usd", 0.0))
    exps = expectations or []
    m.expectations = len(exps)
    m.expectations_passed = sum(1 for e in exps if e.get("passed"))
    return m


def metrics_for_run(store: TraceStore, run: RunRow) -> RunMetrics:
    """Metrics of a stored run."""
    return run_metrics(
        run.counters, store.steps(run.id), run.expectations, bool(run.passed), run.id
    )


@dataclass
class SuiteMetrics:
    """Metrics pooled over runs (and pass^k over repeated cases)."""

    runs: list[RunMetrics]
    pass_k: float | None = None
    """Fraction of cases that passed all ``k`` repeats."""
    k: int = 1

    def _sum(self, name: str) -> int:
        return sum(int(getattr(r, name)) for r in self.runs)

    @property
    def total(self) -> RunMetrics:
        """All runs pooled into one (counts summed, latencies joined)."""
        pooled = RunMetrics(passed=all(r.passed for r in self.runs))
        for name in (
            "tool_calls",
            "invalid_tool_calls",
            "executed",
            "succeeded",
            "expectations",
            "expectations_passed",
            "holds",
            "approvals",
            "blocks",
            "input_tokens",
            "output_tokens",
            "cost_unknown",
        ):
            setattr(pooled, name, self._sum(name))
        pooled.cost_usd = None if pooled.cost_unknown else sum(r.cost_usd or 0.0 for r in self.runs)
        pooled.latencies = [x for r in self.runs for x in r.latencies]
        return pooled

    @property
    def passed(self) -> int:
        """Runs that passed."""
        return sum(1 for r in self.runs if r.passed)

    @property
    def cost_per_run(self) -> float | None:
        """Mean cost per run in USD (None: unknown or no runs)."""
        cost = self.total.cost_usd
        return None if cost is None or not self.runs else cost / len(self.runs)

    @property
    def cost_per_success(self) -> float | None:
        """Total cost / passing runs (None: unknown, or nothing passed)."""
        cost = self.total.cost_usd
        return None if cost is None or not self.passed else cost / self.passed

    def to_json(self) -> dict[str, Any]:
        """The pooled metrics plus run counts, cost per run/success and pass^k."""
        return {
            **self.total.to_json(),
            "runs": len(self.runs),
            "passed_runs": self.passed,
            "pass_rate": _rate(self.passed, len(self.runs)),
            "cost_per_run": self.cost_per_run,
            "cost_per_success": self.cost_per_success,
            "pass_k": self.pass_k,
            "k": self.k,
        }
