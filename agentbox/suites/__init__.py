"""Regression suites: export runs to case files, replay them, measure, report.

A *case* is one YAML file (``suites/NAME/CASE.yaml``, recognised by its top-level
``cassette:`` key) holding a run's scenario, its recorded model calls and approval
decisions, and the expectations its replay must meet. ``agentbox export`` writes one,
``agentbox test`` and the pytest plugin replay them, ``agentbox report`` prints metrics.

Modules: ``case`` (schema, loading, cassette backend, recorded approver), ``export``
(run -> case), ``replay`` (case -> run, in parallel), ``metrics``, ``junit``; the
``llm_judge`` expectation lives in :mod:`agentbox.llm_judge` (the runner grades with it
too) and ``judge`` is re-exported here. None of them prints, and none imports litellm or
Textual at import time.
"""

from __future__ import annotations

from agentbox.llm_judge import judge
from agentbox.suites.case import (
    Case,
    CaseCassette,
    JudgeSpec,
    decisions_approver,
    is_case_file,
    load_case,
)
from agentbox.suites.export import export_run
from agentbox.suites.junit import junit_xml
from agentbox.suites.metrics import RunMetrics, SuiteMetrics, metrics_for_run, run_metrics
from agentbox.suites.replay import CaseResult, discover, replay_case, run_cases, run_file, summarize

__all__ = [
    "Case",
    "CaseCassette",
    "CaseResult",
    "JudgeSpec",
    "RunMetrics",
    "SuiteMetrics",
    "decisions_approver",
    "discover",
    "export_run",
    "is_case_file",
    "judge",
    "junit_xml",
    "load_case",
    "metrics_for_run",
    "replay_case",
    "run_cases",
    "run_file",
    "run_metrics",
    "summarize",
]
