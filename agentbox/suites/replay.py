"""Replay suite cases (and run plain scenarios), one process or many.

A case replays its inlined scenario with the model replaced by its cassette
(:class:`~agentbox.suites.case.CaseCassette`) and held calls decided by its recorded
decisions; tools run for real on the sandbox seed. The run is stored like any other, with
``replay_of = "case:<path>"``, and passes when the case's ``expect`` (plus its
``llm_judge`` verdicts) holds. ``live`` asks the recorded model instead of the cassette.

Parallel runs (``jobs > 1``) use worker processes (fork where it is safe, else spawn);
each worker opens its own :class:`TraceStore` connection on the same file (WAL lets them
write side by side) and parses each case file once per run of its repeats (a few parsed
cases are kept, so memory stays flat in the suite's size). Each case is written in one
transaction (:meth:`TraceStore.batch`): its run is stored whole or not at all. Results come back as small
:class:`CaseResult` values, sorted into input order, so ``-j N`` reports exactly what
``-j 1`` does.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbox.approvals import Approver, fixed_approver
from agentbox.config import Settings
from agentbox.errors import AgentboxError, ModelError
from agentbox.evals import ExpectationResult
from agentbox.llm_judge import judge, judgment_key
from agentbox.models import make_model
from agentbox.planning import RunOptions, plan_from_scenario, plan_run
from agentbox.runner import Runner, RunResult
from agentbox.runner.guard import idle_agent_threads
from agentbox.store import StepRow, TraceStore
from agentbox.suites.case import (
    Case,
    CaseCassette,
    decisions_approver,
    is_case_file,
    is_case_text,
    load_case,
)
from agentbox.suites.edits import edit_hook
from agentbox.suites.metrics import RunMetrics, SuiteMetrics, run_metrics
from agentbox.versions import agent_version
from agentbox.watchdog import CallFailed, CallTimedOut, bounded_call
from agentbox.yamlfile import read_text


@dataclass
class CaseResult:
    """How one case (or scenario) fared in one repeat.

    Attributes:
        path: the file, as displayed (relative to the working folder when inside it).
        name: case or scenario name. kind: ``case`` or ``scenario``.
        index / repeat: position in the input and repeat number (0-based).
        passed, status (the run's, or ``error`` when it could not start), run_id, reason.
        failures: failed expectations ``{name, passed, detail}``.
        miss: the cassette miss with a compact diff (changed messages only), when the
            recording did not match; miss_full: the same with the whole request (``-v``).
        metrics: the run's metrics. seconds: wall time of load + run + checks.
    """

    path: str
    name: str
    kind: str
    index: int = 0
    repeat: int = 0
    passed: bool = False
    status: str = "error"
    run_id: str | None = None
    reason: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    miss: str | None = None
    miss_full: str | None = None
    metrics: RunMetrics = field(default_factory=RunMetrics)
    seconds: float = 0.0

    @property
    def simulator_error(self) -> bool:
        """Whether the run ended because its simulated (or python) user failed: a
        failure of the simulator, counted apart from the agent's failures."""
        return self.status == "simulator_error"

    def explain(self, verbose: bool = False) -> list[str]:
        """Why it failed: the miss (whole requests when ``verbose``) or reason first, then
        each failed expectation."""
        lines = []
        if self.miss:
            lines.append((self.miss_full or self.miss) if verbose else self.miss)
        elif self.reason and (self.status != "completed" or not self.failures):
            lines.append(f"{self.status}: {self.reason}")
        lines += [f"{f['name']}: {f['detail']}" for f in self.failures]
        return lines

    @property
    def message(self) -> str:
        """A one-line failure message (JUnit ``message``)."""
        if self.miss:
            return self.miss.splitlines()[0]
        if self.failures:
            return "; ".join(f"{f['name']}: {f['detail']}" for f in self.failures)[:500]
        return f"{self.status}: {self.reason or 'did not pass'}"


_CWD: dict[str, Path] = {}


def display_path(path: Path) -> str:
    """``path`` relative to the working folder when inside it, else absolute."""
    here = os.getcwd()
    cwd = _CWD.get(here) or _CWD.setdefault(here, Path(here).resolve())
    full = Path(os.path.normpath(path if path.is_absolute() else cwd / path))
    try:
        return str(full.relative_to(cwd))
    except ValueError:
        return str(full.resolve())


def discover(paths: Iterable[Path]) -> list[Path]:
    """YAML files under ``paths`` (files as given; folders searched recursively, sorted).

    Raises:
        AgentboxError: a path does not exist.
    """
    out: list[Path] = []
    for path in paths:
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            found = [
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml")
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ]
            out += sorted(found)
        else:
            raise AgentboxError(
                f"no such file or folder: {path}", "pass suite folders, case files or scenarios"
            )
    seen: set[Path] = set()
    return [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]  # type: ignore[func-returns-value]


# ---- one case ----------------------------------------------------------------------
class _Steps:
    """Collects a run's steps as the runner emits them (the last version of each wins)."""

    def __init__(self) -> None:
        self.by_idx: dict[int, StepRow] = {}

    def __call__(self, step: StepRow) -> None:
        self.by_idx[step.idx] = step


def _judge(case: Case, result: RunResult, live: bool) -> list[ExpectationResult]:
    out = []
    recorded = {j.key: j.model_dump() for j in case.cassette.judgments}

    for i, spec in enumerate(case.judges):
        label = f"llm_judge[{i}]"
        output = result.output or ""
        key = judgment_key(spec.rubric, output)
        if key not in recorded and not live:
            out.append(
                ExpectationResult(
                    label,
                    False,
                    "no recorded verdict for this output (it "
                    "changed since the recording); run with --live to ask the judge",
                )
            )
            continue
        timeout_s = case.scenario.policy.timeouts.model_s
        try:
            passed, reasoning, _ = bounded_call(
                functools.partial(
                    judge,
                    spec.rubric,
                    output,
                    spec.model or case.cassette.model,
                    recorded.get(key),
                    **spec.params,
                ),
                timeout_s,
            )
        except CallTimedOut as exc:
            out.append(ExpectationResult(label, False, f"the judge {exc}"))
            continue
        except CallFailed as failed:
            error = failed.error
            text = error.message if isinstance(error, ModelError) else f"the judge raised {failed}"
            out.append(ExpectationResult(label, False, text))
            continue
        out.append(
            ExpectationResult(label, passed, reasoning or ("passed" if passed else "failed"))
        )
    return out


def replay_case(
    case: Case,
    store: TraceStore,
    settings: Settings,
    *,
    live: bool = False,
    key: str | None = None,
    model: str | None = None,
    label: str | None = None,
) -> tuple[RunResult, list[StepRow], str | None, str | None]:
    """Replay one case into ``store``; returns the run result, its steps and any miss,
    twice: the compact diff of the changed lines, and the whole-request diff (``-v``).

    ``model`` (live only): ask this model instead of the recorded one, keeping the
    recorded tool world (MCP and gated-function results) so only the agent varies.
    ``label`` names the agent version the run is stored with.

    Raises:
        AgentboxError: the scenario cannot be planned (unknown sandbox, bad policy...).
    """
    for folder in case.file.python_path:  # before planning: the agent version hashes the entry
        text = str((case.path.parent / folder).resolve())
        if text not in sys.path:
            sys.path.append(text)
    plan = plan_from_scenario(case.scenario, settings, RunOptions(label=label))
    cassette = CaseCassette(case.cassette, settings.redactor())
    fallback: Approver | None = None
    plan.model_name = (model if live else None) or case.cassette.model
    if live:
        plan.model = make_model(plan.model_name, case.scenario.script, case.scenario.agent.params)
        handler = plan.approvals.handler
        fallback = fixed_approver("fail" if handler in ("prompt", "wait") else handler)  # type: ignore[arg-type]
        if model is not None:  # A/B: the recorded tool world stays, only the agent varies
            plan.recording = case.cassette.recording("the case")
    else:
        plan.model = cassette
        plan.recording = case.cassette.recording("the case")
        if case.cassette.user_calls is not None:  # a simulated user, answered offline
            plan.user_recording = [c.model_dump() for c in case.cassette.user_calls]
    if plan.version is not None and plan.version.parts.get("model") != plan.model_name:
        plan.version = agent_version(plan, label)
    steps = _Steps()
    runner = Runner(
        plan,
        store,
        approver=decisions_approver(case.file.decisions, fallback),
        on_step=steps,
        lineage={"replay_of": f"case:{key or display_path(case.path)}"},
        after_prefix=edit_hook(case.file.edits, case.path.parent),
        freeze_gc=False,  # many short runs in one process: see Runner
    )
    with store.batch():  # the case is atomic: one commit, not one per step
        result = runner.run()
        if case.judges:
            extra = _judge(case, result, live)
            result.expectations += extra
            result.passed = all(e.passed for e in result.expectations)
            store.update_run(
                result.run_id,
                expectations=[e.to_json() for e in result.expectations],
                passed=int(result.passed),
            )
    tool_miss = plan.recording.miss if plan.recording is not None else None
    miss, full = (tool_miss, tool_miss) if tool_miss else (cassette.miss, cassette.miss_full)
    return result, [steps.by_idx[i] for i in sorted(steps.by_idx)], miss, full


def run_file(
    path: Path,
    store: TraceStore,
    settings: Settings,
    *,
    live: bool = False,
    case: Case | None = None,
    model: str | None = None,
    label: str | None = None,
) -> CaseResult:
    """Replay a case file, or run a plain scenario file, and say how it went."""
    shown = display_path(path)
    started = time.perf_counter()
    out = CaseResult(shown, path.stem, "case" if case is not None else "scenario")
    try:
        miss = full = None
        if case is not None:
            out.name = case.name
            result, steps, miss, full = replay_case(
                case, store, settings, live=live, key=shown, model=model, label=label
            )
        elif is_case_file(path):
            case = load_case(path)
            out.name, out.kind = case.name, "case"
            result, steps, miss, full = replay_case(
                case, store, settings, live=live, key=shown, model=model, label=label
            )
        else:
            plan = plan_run(path, settings, RunOptions(model=model, label=label))
            out.name = plan.scenario.name
            collected = _Steps()
            result = Runner(
                plan, store, on_step=collected, lineage={"origin": "test"}, freeze_gc=False
            ).run()
            steps = [collected.by_idx[i] for i in sorted(collected.by_idx)]
    except AgentboxError as exc:
        out.reason = exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
        out.seconds = time.perf_counter() - started
        return out
    except KeyboardInterrupt:  # a real Ctrl-C stops the suite
        raise
    except BaseException as exc:  # SystemExit & co. from a sandbox's import: this case fails
        out.reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        out.seconds = time.perf_counter() - started
        return out
    expectations = [e.to_json() for e in result.expectations]
    out.passed, out.status, out.run_id = result.passed, result.status, result.run_id
    out.reason, out.miss, out.miss_full = result.reason, miss, full
    out.failures = [e for e in expectations if not e["passed"]]
    out.metrics = run_metrics(
        result.counters.to_json(), steps, expectations, result.passed, result.run_id
    )
    out.seconds = time.perf_counter() - started
    return out


# ---- many cases --------------------------------------------------------------------
_WORKER: dict[str, Any] = {}
_CASES: dict[str, tuple[tuple[int, int], Case | None]] = {}
_CASES_KEPT = 4
"""Parsed cases kept per process: a file's repeats run one after another, so a few
suffice; more would grow memory with the suite (~60 KB a case)."""


def _init_worker(
    store_path: str,
    settings: Settings,
    live: bool,
    model: str | None = None,
    label: str | None = None,
) -> None:
    _WORKER.update(
        store=TraceStore(store_path), settings=settings, live=live, model=model, label=label
    )


def _cached_case(path: Path, store: TraceStore) -> Case | None:
    """The parsed case of a file (None: a plain scenario): kept for its repeats, and its
    YAML parsed once per content (the data is cached in the store)."""
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _CASES.get(str(path))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    text = read_text(path)  # size-bounded, UTF-8 checked (ScenarioError)
    case = load_case(path, text, store) if is_case_text(text) else None
    _CASES.pop(str(path), None)
    while len(_CASES) >= _CASES_KEPT:
        _CASES.pop(next(iter(_CASES)))
    _CASES[str(path)] = (stamp, case)
    return case


def _run_tasks(tasks: list[tuple[int, str, int]]) -> list[CaseResult]:
    store, settings, live = _WORKER["store"], _WORKER["settings"], _WORKER["live"]
    out = []
    for index, name, repeat in tasks:
        path = Path(name)
        result: CaseResult | None = None
        extra = {"model": _WORKER.get("model"), "label": _WORKER.get("label")}
        with store.batch():  # the cached parse and the case's run: one commit
            try:
                case = _cached_case(path, store)
            except OSError as exc:
                reason = f"cannot read: {exc}"
                result = CaseResult(display_path(path), path.stem, "case", reason=reason)
            except AgentboxError as exc:
                result = CaseResult(display_path(path), path.stem, "case", reason=exc.message)
            else:
                if case is not None:
                    result = run_file(path, store, settings, live=live, case=case, **extra)
        if result is None:  # a plain scenario: committed step by step, as `agentbox run`
            result = run_file(path, store, settings, live=live, **extra)  # (it may wait)
        result.index, result.repeat = index, repeat
        out.append(result)
    return out


def _context() -> Any:
    # fork is fastest (no re-import) but unsafe once threads run; spawn otherwise. Agent
    # threads kept idle between runs wait on their queue holding no lock: they don't count.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() - idle_agent_threads() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def run_cases(
    paths: list[Path],
    store_path: Path,
    settings: Settings,
    *,
    live: bool = False,
    repeat: int = 1,
    jobs: int = 1,
    on_result: Callable[[CaseResult], None] | None = None,
    on_start: Callable[[], None] | None = None,
    model: str | None = None,
    label: str | None = None,
) -> list[CaseResult]:
    """Run every file ``repeat`` times with ``jobs`` processes; results in input order.

    ``model`` (with ``live``) replaces the recorded model of every case (and the model of
    plain scenarios); ``label`` names the agent version of every run.

    ``on_start`` is called once the workers exist (start progress displays and their
    threads only then: workers may be forked); ``on_result`` after each result.
    """
    tasks = [(i, str(p), r) for i, p in enumerate(paths) for r in range(repeat)]
    TraceStore(store_path).close()  # create and migrate once, before workers race to
    results: list[CaseResult] = []
    if jobs <= 1 or len(tasks) <= 1:
        _init_worker(str(store_path), settings, live, model, label)
        if on_start:
            on_start()
        try:
            for task in tasks:
                (result,) = _run_tasks([task])
                results.append(result)
                if on_result:
                    on_result(result)
        finally:
            _WORKER.pop("store").close()
        return sorted(results, key=lambda r: (r.index, r.repeat))
    size = max(1, min(8, len(tasks) // (jobs * 16)))  # small chunks: workers finish together
    chunks = [tasks[i : i + size] for i in range(0, len(tasks), size)]
    with ProcessPoolExecutor(
        jobs,
        mp_context=_context(),
        initializer=_init_worker,
        initargs=(str(store_path), settings, live, model, label),
    ) as pool:
        futures = [pool.submit(_run_tasks, chunk) for chunk in chunks]
        if on_start:
            on_start()
        for future in as_completed(futures):
            for result in future.result():
                results.append(result)
                if on_result:
                    on_result(result)
    return sorted(results, key=lambda r: (r.index, r.repeat))


def summarize(results: list[CaseResult], repeat: int = 1) -> SuiteMetrics:
    """Pooled metrics of the runs, with pass^k over each file's ``repeat`` runs.

    Runs that ended in a ``simulator_error`` are left out of pass^k (the simulated user
    failed, not the agent); a file with nothing but simulator errors is not counted."""
    by_file: dict[int, bool] = {}
    for r in results:
        if not r.simulator_error:
            by_file[r.index] = by_file.get(r.index, True) and r.passed
    pass_k = (sum(by_file.values()) / len(by_file)) if by_file else None
    return SuiteMetrics([r.metrics for r in results], pass_k=pass_k, k=repeat)


def default_paths(settings: Settings) -> list[Path]:
    """What ``agentbox test`` runs without arguments: ``suites/`` and the scenarios folder."""
    return [p for p in (settings.root / "suites", settings.scenarios_path) if p.is_dir()]


def worker_count(jobs: int) -> int:
    """``jobs`` with 0 meaning one per CPU."""
    return jobs if jobs > 0 else (os.cpu_count() or 1)
