"""Recorded-prefix replay: how resume and fork re-run an agent without re-executing it.

A runner may start with a *prefix* of recorded steps. The agent is re-run from the start,
and while the prefix lasts each of its calls is answered by the next recorded step
(:meth:`RecordedPrefix.take` checks it is the same kind of call, else the agent diverged):
state is rebuilt from the recorded patches and counters from the recorded totals
(:meth:`RecordedPrefix.replay`), and a fork stores a copy of each served step under the
new run. When the prefix is exhausted the run goes live, after an optional hook (a
fork's edits).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentbox.policy import Counters
from agentbox.runner.signals import Diverged
from agentbox.sandbox.state import State
from agentbox.store import StepRow

if TYPE_CHECKING:
    from agentbox.runner.core import Runner

__all__ = ["RecordedPrefix"]


class RecordedPrefix:
    """The recorded steps a run serves before going live.

    Args:
        runner: the run being served.
        steps: the recorded steps (resume: the run's own; fork: the parent's before N).
        copy: store each served step under this run (fork).
        after: called with the runner when the prefix is exhausted; a hook returning
            ``False`` is called again at the next call (a case's edits due at a later step).
    """

    def __init__(
        self,
        runner: Runner,
        steps: list[StepRow],
        *,
        copy: bool = False,
        after: Callable[[Runner], bool | None] | None = None,
    ) -> None:
        self._runner = runner
        self._steps = list(steps)
        self._copy = copy
        self._after = after

    @property
    def active(self) -> bool:
        """Whether recorded steps remain to be served."""
        return bool(self._steps)

    @property
    def head(self) -> StepRow:
        """The next recorded step (only while :attr:`active`)."""
        return self._steps[0]

    def take(self, kind: str, name: str | None) -> StepRow:
        """Pop the next recorded step, which must be a ``kind`` step (named ``name``).

        Raises:
            Diverged: the recording holds another step here.
        """
        step = self._steps.pop(0)
        if step.kind != kind or (name is not None and step.name != name):
            raise Diverged(
                f"the agent diverged from the recording at step {step.idx}: recorded "
                f"{step.kind} {step.name}, now {kind} {name}",
                "the agent, scenario or tools changed; fork the run instead of resuming it",
            )
        return step

    def serve(self, kind: str, name: str | None) -> StepRow:
        """:meth:`take` the next step and :meth:`replay` it."""
        step = self.take(kind, name)
        self.replay(step)
        return step

    def replay(self, step: StepRow) -> None:
        """Account for a served step: state, counters, position, and copy it if forking."""
        runner, log = self._runner, self._runner.log
        if step.patch:
            runner.state.apply_patch(step.patch)
            runner.state.drain_patch()
        if step.counters:
            log.counters = Counters(**step.counters)
            log.started = time.perf_counter() - log.counters.elapsed_s
        log.next_idx = step.idx + 1
        if step.kind == "tool" and step.status == "recommended":
            runner.recommendations.append(
                {
                    "tool": step.name,
                    "args": step.data.get("args"),
                    "decision": step.data.get("decision"),
                }
            )
        if self._copy:
            step = dataclasses.replace(step, run_id=runner.run_id)
        log.keep(step, copy=self._copy)

    def skip_markers(self) -> None:
        """Replay the fork markers at the head of the prefix (a fork being resumed)."""
        runner, store = self._runner, self._runner.store
        while self._steps and self._steps[0].kind == "fork":
            marker = self._steps.pop(0)
            point = store.checkpoint_before(marker.run_id, marker.idx)
            if point is not None and point[0] == marker.idx:  # fork --state-file
                runner.state = State(store.get_blob(point[1]))
                if self._copy:
                    store.add_checkpoint(runner.run_id, marker.idx, point[1], "copied")
            message = marker.data.get("edits", {}).get("message")
            if message:
                runner.injected.append({"role": "user", "content": message})
            self.replay(marker)

    def abandon(self) -> None:
        """Stop serving the recording; new steps go after everything already stored."""
        if self._steps:
            log = self._runner.log
            log.next_idx = max(log.next_idx, self._steps[-1].idx + 1)
            self._steps = []

    def leave_if_done(self) -> None:
        """Run the after-prefix hook once the prefix is exhausted."""
        if not self._steps and self._after is not None:
            hook, self._after = self._after, None
            if hook(self._runner) is False:  # not its step yet: ask again at the next call
                self._after = hook
