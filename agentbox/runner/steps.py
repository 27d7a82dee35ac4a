"""Step recording: numbering, counting, storing and announcing the steps of one run.

Every step of a run goes through :class:`StepLog`: a new step gets the next index
(:meth:`StepLog.new_step`); :meth:`StepLog.commit` counts it, stores it -- as a new row, or
by filling in a write's intent row committed before the write ran -- keeps it in memory
and hands it to the observer. The log also owns the run's counters and clock, keeps the
run row's totals fresh for live views, and stores what a shadow run read from its
database (the seed its replays start from).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from agentbox.policy import Counters
from agentbox.sandbox.loader import state_hash
from agentbox.store import StepRow, TraceStore

if TYPE_CHECKING:
    from agentbox.planning import RunPlan
    from agentbox.runner.result import StepObserver

__all__ = ["StepLog", "seed_digest"]

_SEED_HASHES: dict[int, tuple[Any, str]] = {}


def seed_digest(seed: dict[str, Any]) -> str:
    """Content hash of a seed, cached per seed object (seeds are shared and read-only)."""
    cached = _SEED_HASHES.get(id(seed))
    if cached is not None and cached[0] is seed:
        return cached[1]
    digest = state_hash(seed)
    _SEED_HASHES[id(seed)] = (seed, digest)
    return digest


class StepLog:
    """The steps, counters and clock of one run, and how they reach the store.

    Args:
        plan: the run's plan (its database source, when it has one).
        store: the (redacting) trace store to write.
        run_id: the run's id.
        on_step: called with every step after it is committed.

    Attributes:
        counters: the run's totals; ``next_idx``: the index the next step gets;
        started: ``perf_counter`` of the run's start (moved forward by approval waits).
    """

    def __init__(
        self, plan: RunPlan, store: TraceStore, run_id: str, on_step: StepObserver | None
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.on_step = on_step
        self.counters = Counters()
        self.next_idx = 0
        self.started = 0.0
        self._plan = plan
        self._steps: dict[int, StepRow] = {}  # every step of this run, as stored
        self._row_refreshed = time.perf_counter()
        self._reads_saved = 0.0  # when the source's read set was last stored

    def tick(self) -> None:
        """Bring ``counters.elapsed_s`` up to now."""
        self.counters.elapsed_s = time.perf_counter() - self.started

    def new_step(self, kind: str, name: str | None = None, **fields: Any) -> StepRow:
        """A step at the next index (not stored yet)."""
        step = StepRow(self.run_id, self.next_idx, kind, name, started_at=time.time(), **fields)
        self.next_idx += 1
        return step

    def emit(self, step: StepRow) -> None:
        """Hand ``step`` to the observer."""
        if self.on_step is not None:
            self.on_step(step)

    def commit(self, step: StepRow, *, update: bool = False) -> StepRow:
        """Count ``step``, store it, keep it and announce it.

        ``update``: its intent row was committed before a write ran (see
        :meth:`commit_intent`); fill in the outcome instead of adding a row.
        """
        self.save_reads(now=bool(step.patch))
        self.counters.steps += 1
        self.tick()
        step.counters = self.counters.to_json()
        if update:
            self.store.update_step(
                self.run_id,
                step.idx,
                status=step.status,
                data=step.data,
                patch=step.patch,
                message=step.message,
                duration_s=step.duration_s,
                counters=step.counters,
            )
        else:
            self.store.add_step(step)
        self._steps[step.idx] = step
        self._refresh_run_row(step.counters)
        self.emit(step)
        return step

    def commit_intent(self, step: StepRow) -> None:
        """Store a write's intent (tool, args, decision) before the write executes."""
        self.store.add_step(step)
        self._steps[step.idx] = step

    def amend(self, step: StepRow, *, emit: bool = False, **fields: Any) -> None:
        """Store changed ``fields`` of a stored step (an approval being decided)."""
        self.store.update_step(self.run_id, step.idx, **fields)
        self._steps[step.idx] = step
        if emit:
            self.emit(step)

    def drop(self, idx: int) -> None:
        """Delete a stored step (an incomplete write about to be retried)."""
        self.store.delete_step(self.run_id, idx)
        self._steps.pop(idx, None)

    def keep(self, step: StepRow, *, copy: bool = False) -> None:
        """Keep a step served from a recording; ``copy`` also stores and announces it."""
        if copy:
            self.store.add_step(step)
            self.emit(step)
        self._steps[step.idx] = step

    def steps(self) -> list[StepRow]:
        """This run's steps in order (from memory when it holds them all)."""
        if len(self._steps) == self.next_idx:
            return [self._steps[i] for i in range(self.next_idx)]
        return self.store.steps(self.run_id)

    def _refresh_run_row(self, counters: dict[str, Any]) -> None:
        """Keep the run row's totals fresh for live views (at most twice a second)."""
        now = time.perf_counter()
        if now - self._row_refreshed >= 0.5:
            self._row_refreshed = now
            self.store.update_run(self.run_id, counters=counters)

    def save_reads(self, *, now: bool = True) -> None:
        """Store what the run read from its database source so far (the seed of replays).

        The read set only grows, so the latest one serves every step: it replaces the
        run's start checkpoint and seed hash. Saving costs time in proportion to the
        read set, so with ``now=False`` (steps without a state patch) it is saved at most
        once a second; a step with a patch, and the end of the run, always save (a patch
        must find its records in the stored seed).
        """
        source = self._plan.source
        if source is None or not source.dirty:
            return
        clock = time.perf_counter()
        if not now and clock - self._reads_saved < 1.0:
            return
        self._reads_saved = clock
        reads = source.read_set()
        digest = state_hash(reads)
        self.store.put_blob(digest, reads)
        self.store.update_run(self.run_id, seed_hash=digest)
        self.store.add_checkpoint(self.run_id, -1, digest, "start (read set)")

    def close_source(self) -> None:
        """Save the final read set and close the run's database source."""
        if self._plan.source is not None:
            self.save_reads()
            self._plan.source.source.close()
