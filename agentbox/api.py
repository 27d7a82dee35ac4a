"""The Python API: run a scenario, replay a run and read a trace store from code.

What ``agentbox run``, ``agentbox replay`` and ``agentbox runs``/``show`` do, as
functions that return objects instead of printing (``docs/python-api.md``)::

    import agentbox

    result = agentbox.run("scenarios/refund-clean.yaml", store="traces.db")
    with agentbox.open_store("traces.db") as store:
        for step in store.steps(result.run_id):
            print(step.idx, step.kind, step.name)

Each function is a thin layer over the engine (:mod:`agentbox.planning`,
:class:`agentbox.runner.Runner`, :mod:`agentbox.lifecycle`), which the CLI uses too.
Settings come from the nearest ``.agentbox.toml`` of ``root`` (default: the working
folder), as for the CLI; keyword arguments beat the scenario, which beats the file.
Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Literal

from agentbox.approvals import Approver
from agentbox.config import Settings, load_settings
from agentbox.lifecycle import ReplayResult, replay_run
from agentbox.models import LiteLLMModel
from agentbox.planning import RunOptions, plan_run
from agentbox.runner import Runner, RunResult
from agentbox.scenario import Budgets, Mode
from agentbox.store import RunRow, StepRow, TraceStore

__all__ = ["ReplayResult", "RunResult", "Store", "open_store", "replay", "run"]

StepObserver = Callable[[StepRow], None]


class Store:
    """A trace store file, for reading runs and their steps.

    Returned by :func:`open_store`; close it (or use it as a context manager) when done.
    The file stays usable by other processes meanwhile (SQLite WAL: a run may be writing).

    Attributes:
        path: the store file.
        trace_store: the engine's :class:`~agentbox.store.TraceStore` (approvals,
            checkpoints, leases), for what this class does not cover.
    """

    def __init__(self, trace_store: TraceStore) -> None:
        self.trace_store = trace_store
        self.path = Path(trace_store.path)

    def runs(
        self, *, limit: int | None = None, status: str | None = None, search: str | None = None
    ) -> list[RunRow]:
        """Stored runs, newest first.

        Args:
            limit: at most this many (None: all).
            status: only runs with this stored status (``completed``, ``halted``,
                ``failed``, ``timeout``, ``stopped``, ``awaiting_approval``, ``running``).
            search: only runs with this text in their id, scenario or model.
        """
        return self.trace_store.list_runs(limit=limit, status=status, text=search)

    def run(self, run_id: str) -> RunRow:
        """One run, by id or unique id prefix.

        Raises:
            StoreError: no run, or the prefix is ambiguous.
        """
        return self.trace_store.get_run(run_id)

    def steps(self, run_id: str) -> list[StepRow]:
        """The steps of a run (id or unique prefix), in order, numbered from 0.

        Raises:
            StoreError: no run, or the prefix is ambiguous.
        """
        return self.trace_store.steps(self.run(run_id).id)

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        self.trace_store.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"


def open_store(path: str | Path) -> Store:
    """Open (creating or migrating it when needed) a trace store file.

    Raises:
        StoreError: the file is not a usable agentbox store.
    """
    return Store(TraceStore(Path(path)))


def _settings(root: str | Path | None) -> Settings:
    return load_settings(Path(root).resolve() if root is not None else None)


@contextmanager
def _store_for(store: str | Path | Store | None, settings: Settings) -> Iterator[TraceStore]:
    """The engine store to write: a given :class:`Store` (left open) or a file (closed)."""
    if isinstance(store, Store):
        yield store.trace_store
        return
    opened = TraceStore(Path(store) if store is not None else settings.store_path)
    try:
        yield opened
    finally:
        opened.close()


def run(
    scenario: str | Path,
    *,
    store: str | Path | Store | None = None,
    mode: Mode | None = None,
    model: str | None = None,
    state: str | Path | None = None,
    data: str | Path | None = None,
    approvals: Literal["approve", "deny", "fail"] | None = None,
    approver: Approver | None = None,
    budgets: Budgets | None = None,
    task: int | None = None,
    on_step: StepObserver | None = None,
    root: str | Path | None = None,
) -> RunResult:
    """Run a scenario file, as ``agentbox run`` does, and return how it ended.

    Args:
        scenario: the scenario YAML file.
        store: the trace store to write: a file path, an open :class:`Store`, or None for
            the configured one (``store`` in ``.agentbox.toml``, else
            ``.agentbox/traces.db`` under the project root).
        mode: ``execute``, ``shadow`` or ``recommend`` (default: the scenario's).
        model: ``scripted`` or a litellm model string (default: the scenario's).
        state: a state snapshot (folder or JSON/YAML file) or a database URL.
        data: a folder or file replacing the sandbox's seed.
        approvals: decide every held call this way (default: the scenario's handler;
            ``prompt`` and ``wait`` handlers fail a hold, as there is nobody to ask).
        approver: a function ``(ApprovalRequest) -> ApprovalDecision`` deciding holds;
            beats ``approvals``.
        budgets: budget overrides (each set field beats the scenario's).
        task: the task index, for a sandbox with a task set (``--task``).
        on_step: called with every step (a :class:`~agentbox.store.StepRow`) once stored.
        root: where to look for ``.agentbox.toml`` (default: the working folder).

    Returns:
        The :class:`~agentbox.runner.RunResult`: ``run_id``, ``status``, ``passed``,
        ``output``, ``counters``, ``expectations``, ``changes``, ``recommendations``.

    Raises:
        ScenarioError: the scenario is invalid (each problem with file, line and field).
        SandboxError: the sandbox cannot be loaded, or a python agent's or user's
            ``entry`` cannot be found (``FILE:LINE: agent.entry ...``, as the CLI says).
        ModelError: the model is not usable (e.g. no API key for a real model).
        ConfigError: ``.agentbox.toml`` is invalid.
    """
    settings = _settings(root)
    options = RunOptions(
        mode=mode,
        model=model,
        state_path=state,
        data_path=Path(data) if data is not None else None,
        approvals=approvals,
        budgets=budgets,
        task=task,
    )
    plan = plan_run(Path(scenario), settings, options)
    if isinstance(plan.model, LiteLLMModel):
        plan.model.check_ready()
    with _store_for(store, settings) as trace:
        return Runner(plan, trace, approver=approver, on_step=on_step).run()


def replay(
    run_id: str,
    *,
    store: str | Path | Store | None = None,
    mode: Literal["strict", "live-on-miss"] = "strict",
    on_step: StepObserver | None = None,
    root: str | Path | None = None,
) -> ReplayResult:
    """Re-run a stored run from its recording and compare it step by step.

    Model responses come from the run's recorded steps (no model access in ``strict``
    mode); tools run for real on the recorded seed; the scenario is read from its file as
    it is now. The replay is a new run in the same store.

    Args:
        run_id: the run to replay (id or unique prefix).
        store: the store holding it (path, open :class:`Store`, or None: configured).
        mode: ``strict`` (a changed model request fails the replay) or ``live-on-miss``
            (ask the real model from the first miss on).
        on_step: called with every step of the replay once stored.
        root: where to look for ``.agentbox.toml`` (default: the working folder).

    Returns:
        A :class:`~agentbox.lifecycle.ReplayResult`: ``identical``, ``differences``
        (one line each) and ``result`` (the replay's RunResult).

    Raises:
        StoreError: no such run, or it is unfinished or a fork.
    """
    settings = _settings(root)
    with _store_for(store, settings) as trace:
        return replay_run(trace, run_id, settings, mode=mode, on_step=on_step)
