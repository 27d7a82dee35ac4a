"""Suite runs: one ``agentbox test`` invocation as a stored, comparable thing.

A suite run records what was tested (``suite``: the paths given), under which agent
version (a fingerprint over its cases' versions, and a label), with ``k`` repeats, live or
from the cassettes, its pooled totals and one :class:`~agentbox.store.SuiteResultRow` per
case repeat. Cases are keyed by their path inside the suite folder
(``refund-denied.yaml``), so two copies of a suite (``suites/v1``, ``suites/v2``) line
up case by case in ``agentbox compare``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agentbox.errors import AgentboxError
from agentbox.store import SuiteResultRow, SuiteRunRow, TraceStore
from agentbox.suites.replay import display_path, summarize
from agentbox.versions import fingerprint_of

if TYPE_CHECKING:
    from agentbox.suites.replay import CaseResult


def suite_name(targets: Sequence[Path]) -> str:
    """What a suite run tested: the given paths as displayed, sorted, space-separated."""
    return " ".join(sorted(display_path(t) for t in targets))


def case_keys(targets: Sequence[Path], files: Sequence[Path]) -> list[str]:
    """Each file's key: its path inside the target folder it was found under (``/``
    separated), or its name when it was given as a file."""
    folders = [t.resolve() for t in targets if t.is_dir()]
    out = []
    for f in files:
        full = f.resolve()
        key = full.name
        for folder in folders:
            if full.is_relative_to(folder):
                key = full.relative_to(folder).as_posix()
                break
        out.append(key)
    return out


def record_suite_run(
    store: TraceStore,
    *,
    suite: str,
    keys: Sequence[str],
    results: Sequence[CaseResult],
    k: int,
    live: bool,
    model: str | None,
    label: str | None,
    started_at: float,
    ended_at: float,
) -> SuiteRunRow:
    """Store a suite run from the results of :func:`agentbox.suites.replay.run_cases`
    (``keys[i]`` is the key of input file ``i``) and return it."""
    versions = store.run_fingerprints(r.run_id for r in results if r.run_id)
    rows = []
    for r in results:
        fp = versions.get(r.run_id or "", (None, None))[0]
        metrics = {**r.metrics.to_json(), "latencies": r.metrics.latencies, "seconds": r.seconds}
        detail = None if r.passed else "\n".join(r.explain())[:4000] or None
        rows.append(
            SuiteResultRow(
                keys[r.index], r.repeat, r.name, r.passed, r.status, r.run_id, fp, metrics, detail
            )
        )
    by_case = {row.case_key: row.fingerprint for row in rows}
    fingerprints = {fp for fp in by_case.values() if fp}
    fingerprint = None
    if fingerprints:
        fingerprint = fingerprint_of({"cases": dict(sorted(by_case.items()))})
    labels = {versions[r.run_id][1] for r in results if r.run_id in versions}
    if label is None and len(labels) == 1:
        label = labels.pop()
    passed: dict[str, bool] = {}
    for row in rows:
        passed[row.case_key] = passed.get(row.case_key, True) and row.passed
    run = SuiteRunRow(
        id=secrets.token_hex(5),
        suite=suite,
        label=label,
        fingerprint=fingerprint,
        live=live,
        model=model,
        k=k,
        started_at=started_at,
        ended_at=ended_at,
        cases=len(passed),
        passed_cases=sum(passed.values()),
        totals=summarize(list(results), k).to_json(),
    )
    store.add_suite_run(run, rows)
    return run


def resolve_suite_run(store: TraceStore, ref: str) -> SuiteRunRow:
    """A suite run by id, unique id prefix or label (the latest run with that label).

    Raises:
        AgentboxError: no suite run has that id or label (exit 2), or the prefix is
            ambiguous.
    """
    found = store.get_suite_run(ref)
    if found is not None:
        return found
    labelled = store.list_suite_runs(limit=1, label=ref)
    if labelled:
        return labelled[0]
    raise AgentboxError(
        f"no suite run or label {ref!r} in {store.path}",
        "`agentbox runs --suites` lists suite runs with their ids and labels",
    )


def baseline_of(store: TraceStore, run: SuiteRunRow) -> SuiteRunRow:
    """The latest suite run of the same suite before ``run``.

    Raises:
        AgentboxError: there is none (record one first).
    """
    earlier = [
        r
        for r in store.list_suite_runs(limit=20, suite=run.suite, before=run.started_at + 1e-9)
        if r.id != run.id
    ]
    if not earlier:
        raise AgentboxError(
            f"no earlier suite run of {run.suite} to compare {run.id} with",
            f"record a baseline first: agentbox test {run.suite} --label baseline",
        )
    return earlier[0]
