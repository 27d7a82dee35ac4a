"""The agent's thread and who may change the run: the agent, or the caller after a stop.

The agent runs on its own daemon thread (:meth:`AgentThread.run`) while the calling
thread waits on the :class:`~agentbox.watchdog.Watch`. Two locks and one sticky stop:

- ``gate`` is held by whoever may change the run right now. The agent thread holds it
  while inside the runner and lets go of it around a call that may hang (a tool, the
  model, an approver: :meth:`AgentThread.blocking`), so the caller can take the run over
  when a deadline passes or the run is interrupted (:meth:`AgentThread.take`). From then
  on the agent thread cannot record anything: :meth:`AgentThread.check_live` raises
  :class:`~agentbox.runner.signals.Abandoned` on it.
- ``calls`` serializes the agent's own calls (several agent threads may call through one
  :class:`~agentbox.agents.context.AgentContext`); it stays held across a blocking call.
- ``stop`` is the first run-ending signal (a halt, a park, a fatal tool error, a
  hand-off) raised to the agent; every later call raises it again, so an agent that
  swallows it cannot carry on, and the run ends with it even if the agent returns.
"""

from __future__ import annotations

import contextvars
import functools
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

from agentbox.errors import EndRun, RunHalted
from agentbox.runner.signals import Abandoned, Fatal, Parked
from agentbox.watchdog import Expired, Watch

__all__ = ["AgentThread", "idle_agent_threads"]

T = TypeVar("T")


class AgentThread:
    """Runs the agent on a daemon thread and guards every way into the run.

    Args:
        watch: the run's deadlines (see :mod:`agentbox.watchdog`).
    """

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.gate = threading.RLock()
        self.calls = threading.RLock()
        self.stop: BaseException | None = None
        self.abandoned = False  # the agent thread may not record anything any more
        self.ending = False  # the agent thread is recording the end: no more deadlines
        self._taken_by: int | None = None  # the thread that took the run over

    # ---- the sticky stop -----------------------------------------------------------
    def stick(self, signal: BaseException) -> None:
        """Keep ``signal`` as what ended the run, unless something already did."""
        if self.stop is None:
            self.stop = signal

    def raise_if_stopped(self) -> None:
        """Raise the run-ending signal again, if there is one."""
        if self.stop is not None:
            raise self.stop

    def check_live(self, *, stop: bool = True) -> None:
        """Stop an abandoned agent thread, or (``stop``) an agent that swallowed what
        ended its run and called again."""
        if self.abandoned and threading.get_ident() != self._taken_by:
            raise Abandoned()
        if stop:
            self.raise_if_stopped()

    # ---- ways in ---------------------------------------------------------------------
    @contextmanager
    def serialized(self) -> Iterator[None]:
        """One agent call at a time; a run-ending signal raised here ends every later one."""
        with self.calls:
            self.raise_if_stopped()
            try:
                yield
            except Exception:
                raise
            except BaseException as signal:  # RunHalted, EndRun, a parked approval...
                self.stick(signal)
                raise

    @contextmanager
    def entry(self, *, touch: bool = True) -> Iterator[None]:
        """The agent calls into the runner: hold the gate, check, and (``touch``)
        restart the clock of its own code."""
        with self.gate:
            self.check_live()
            try:
                yield
            except (RunHalted, EndRun, Parked, Fatal) as stop:
                self.stick(stop)
                raise
            finally:
                if touch:
                    self.watch.touch()

    @contextmanager
    def blocking(self, kind: str, name: str, limit_s: float | None, setting: str) -> Iterator[None]:
        """Release the gate around a call that may hang (a tool, the model, an approver).

        ``kind`` ``approval`` pauses every deadline instead of starting one. On return the
        gate is taken back; if the run was taken over meanwhile, the thread stops here.
        """
        if kind == "approval":
            self.watch.pause()
        else:
            self.watch.enter(kind, name, limit_s, setting)
        saved = self.gate._release_save()  # type: ignore[attr-defined]  # fully (RLock)
        try:
            yield
        finally:
            self.gate._acquire_restore(saved)  # type: ignore[attr-defined]
            if kind == "approval":
                self.watch.resume()
            else:
                self.watch.leave()
            if self.abandoned:
                raise Abandoned()

    # ---- the end -----------------------------------------------------------------------
    def take(self) -> None:
        """The calling thread takes the run over (hold ``gate``): the agent's thread is
        abandoned."""
        self.abandoned, self._taken_by = True, threading.get_ident()

    def begin_ending(self) -> None:
        """The agent thread records the run's end: no deadline or interrupt applies."""
        with self.gate:
            self.check_live(stop=False)
            self.ending = True
            self.watch.ending()

    def run(
        self,
        body: Callable[[], T],
        take_over: Callable[[Expired], T],
        name: str,
        *,
        reuse: bool = False,
    ) -> T:
        """``body()`` on a daemon thread named ``name``; ``take_over(expired)`` on this one
        (holding the gate) when a deadline passes or the run is interrupted first.

        ``reuse``: run it on this process's idle agent thread (renamed ``name``) instead
        of a new one, and keep the thread for the next run if this one ends by itself
        (for agentbox's own agent loop: no user code keeps thread-local state on it). A
        thread whose run was taken over is never reused.

        A real Ctrl-C reaches this thread: the agent thread is abandoned and it propagates.
        """
        box: dict[str, Any] = {}
        done = threading.Event()

        def agent_thread() -> bool:
            if reuse:
                threading.current_thread().name = name
            try:
                box["result"] = body()
            except Abandoned:
                pass  # the caller took the run over; nothing here counts any more
            except BaseException as exc:  # an agentbox error: re-raised by the caller
                box["error"] = exc
            finally:
                self.watch.finish()
                done.set()
            return not self.abandoned  # an abandoned thread ends here

        worker = self._start(agent_thread, name, reuse)
        while True:
            try:
                expired = self.watch.wait()
            except BaseException:  # a real Ctrl-C: the agent thread must stop recording
                with self.gate:
                    self.take()
                raise
            if expired is None:
                done.wait()  # it is past its last step: returns at once
                if worker is not None:
                    worker.release()
                break
            with self.gate:  # the agent thread is outside the runner or in a call
                expired = self.watch.expired() if not self.ending else None
                if expired is None:
                    continue  # it finished or moved on meanwhile
                self.take()
                return take_over(expired)
        if "error" in box:
            raise box["error"]
        result: T = box["result"]
        return result

    @staticmethod
    def _start(job: Callable[[], bool], name: str, reuse: bool) -> _Worker | None:
        """Start ``job`` on a kept agent thread (``reuse``: returned) or a new one."""
        context = contextvars.copy_context()  # the agent sees the caller's context variables
        if reuse:
            worker = _Worker.take()
            worker.submit(functools.partial(context.run, job))
            return worker
        threading.Thread(target=context.run, args=(job,), name=name, daemon=True).start()
        return None


class _Worker:
    """An agent thread kept between runs: it runs one job at a time from its queue and
    ends when a job returns False (its run was taken over). Creating a thread per run
    cost ~0.1 ms of CPU and a switch to it; a suite replays thousands of runs."""

    _idle: ClassVar[list[_Worker]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], bool]] = queue.SimpleQueue()
        thread = threading.Thread(target=self._loop, name="agentbox-agent", daemon=True)
        thread.start()

    @classmethod
    def take(cls) -> _Worker:
        """An idle worker of this process, or a new one."""
        with cls._lock:
            if cls._idle:
                return cls._idle.pop()
        return cls()

    def release(self) -> None:
        """Back to the idle list (its job has returned)."""
        with self._lock:
            self._idle.append(self)

    def submit(self, job: Callable[[], bool]) -> None:
        """Run ``job`` on this worker's thread."""
        self._jobs.put(job)

    def _loop(self) -> None:
        while True:
            try:
                keep = self._jobs.get()()
            except BaseException:  # never raised by AgentThread's jobs: stop to be safe
                keep = False
            if not keep:
                return


def idle_agent_threads() -> int:
    """How many kept agent threads of this process wait for a run (they hold no lock: a
    fork may copy the process)."""
    with _Worker._lock:
        return len(_Worker._idle)


def _forget_workers() -> None:
    _Worker._idle = []  # a forked child has none of its parent's threads


os.register_at_fork(after_in_child=_forget_workers)
