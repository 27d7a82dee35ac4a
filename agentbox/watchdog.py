"""Deadlines for a run: the agent runs on its own thread, the caller watches the clock.

A tool, a model backend or a python agent's own code can hang, and Python cannot stop a
thread. So :class:`~agentbox.runner.Runner` runs the agent -- with everything it calls --
on a daemon thread and waits for it with :meth:`Watch.wait`, which returns early when the
call in progress outlives its limit (``policy.timeouts``), the agent's own code runs too
long between calls, or the run outlives ``max_seconds``. The runner then records the
timeout and ends the run; whatever the abandoned thread still does is never recorded.

The calling thread only waits, so a real Ctrl-C (SIGINT, delivered to the main thread)
reaches the caller, while a ``KeyboardInterrupt`` raised on the agent thread always came
from user code.

:func:`bounded_call` runs one function (an LLM judge) on a daemon thread with a limit.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["CallFailed", "CallTimedOut", "Expired", "Watch", "bounded_call"]

T = TypeVar("T")

RECHECK_S = 2.0
"""Longest the watcher sleeps without looking at the deadlines again (seconds)."""


@dataclass(frozen=True)
class Expired:
    """What ran out of time.

    Attributes:
        kind: ``tool``, ``model``, ``agent`` (its own code between calls), ``run``
            (``max_seconds``) or ``interrupt`` (:meth:`Watch.interrupt`).
        name: the tool's name for ``tool``, else ``""``.
        reason: a sentence for the trace and the run summary.
        status: the run status to record (``timeout``, or an interrupt's).
    """

    kind: str
    name: str
    reason: str
    status: str = "timeout"


@dataclass(frozen=True)
class _Call:
    kind: str
    name: str
    limit_s: float | None
    setting: str
    started: float


class Watch:
    """Deadlines shared by the agent thread (which reports) and the caller (which waits).

    Args:
        agent_s: most seconds the agent's own code may run between two calls (None: no
            limit).
        run_deadline: ``() -> perf_counter deadline or None`` for the whole run (it moves
            while an approval is awaited).
        run_limit: ``() -> reason`` for an expired run deadline.
        clock: ``time.perf_counter`` (seconds).
    """

    def __init__(
        self,
        agent_s: float | None,
        run_deadline: Callable[[], float | None],
        run_limit: Callable[[], str],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._agent_s = agent_s
        self._run_deadline = run_deadline
        self._run_limit = run_limit
        self._clock = clock
        self._call: _Call | None = None
        self._idle_since = clock()
        self._paused = False
        self._done = False
        self._interrupt: Expired | None = None
        self._ending = False
        self._wake_at = float("inf")  # when the waiting caller plans to look again

    # ---- reported by the agent thread ---------------------------------------------
    def enter(self, kind: str, name: str, limit_s: float | None, setting: str) -> None:
        """A blocking call starts (``setting`` names the limit, e.g. ``timeouts.tool_s``)."""
        now = self._clock()
        with self._cv:
            self._call = _Call(kind, name, limit_s, setting, now)
            if limit_s is not None and now + limit_s < self._wake_at:
                self._cv.notify()

    def leave(self) -> None:
        """The blocking call returned (or raised); the agent's own code runs again."""
        with self._cv:
            self._call = None
            self._idle_since = self._clock()

    def touch(self) -> None:
        """The agent just left the runner: its own code's clock starts now."""
        self._idle_since = self._clock()

    def pause(self) -> None:
        """No deadline applies while an approval is awaited (an interrupt still does)."""
        with self._cv:
            self._paused = True

    def resume(self) -> None:
        """Deadlines apply again."""
        with self._cv:
            self._paused = False
            self._idle_since = self._clock()
            self._cv.notify()

    def interrupt(self, status: str, reason: str) -> None:
        """End the run now (from any thread), even during a call or an approval wait."""
        with self._cv:
            if self._interrupt is None:
                self._interrupt = Expired("interrupt", "", reason, status)
            self._cv.notify()

    def ending(self) -> None:
        """The agent thread records the run's end: nothing applies any more."""
        with self._cv:
            self._ending = True

    def finish(self) -> None:
        """The agent thread is done; the caller stops waiting."""
        with self._cv:
            self._done = True
            self._cv.notify()

    # ---- the caller --------------------------------------------------------------
    def wait(self) -> Expired | None:
        """Block until the agent thread finishes (None) or a deadline passes.

        Interruptible by signals: a real Ctrl-C raises KeyboardInterrupt here.
        """
        with self._cv:
            while not self._done:
                expired, wake = self._check(self._clock())
                if expired is not None:
                    return expired
                # look again at least every RECHECK_S: the run deadline can move earlier
                # (a resumed run learns its elapsed time from the recording)
                wake = min(wake, self._clock() + RECHECK_S)
                self._wake_at = wake
                self._cv.wait(max(0.0, wake - self._clock()))
                self._wake_at = float("inf")
            return None

    def expired(self) -> Expired | None:
        """Whether a deadline has passed right now (rechecked by the caller under its lock)."""
        with self._cv:
            if self._done:
                return None
            return self._check(self._clock())[0]

    def _check(self, now: float) -> tuple[Expired | None, float]:
        if self._ending:
            return None, float("inf")
        if self._interrupt is not None:
            return self._interrupt, now
        if self._paused:
            return None, float("inf")
        candidates: list[tuple[float, Expired]] = []
        call = self._call
        if call is not None and call.limit_s is not None:
            what = f"tool {call.name}" if call.kind == "tool" else "the model"
            verb = "did not finish" if call.kind == "tool" else "did not answer"
            reason = f"{what} {verb} within {call.limit_s:g} s (policy.{call.setting})"
            candidates.append((call.started + call.limit_s, Expired(call.kind, call.name, reason)))
        elif call is None and self._agent_s is not None:
            reason = (
                f"the agent's own code ran {self._agent_s:g} s without calling a tool or the "
                "model (policy.timeouts.agent_s)"
            )
            candidates.append((self._idle_since + self._agent_s, Expired("agent", "", reason)))
        run_deadline = self._run_deadline()
        if run_deadline is not None:
            name = call.name if call is not None else ""
            candidates.append((run_deadline, Expired("run", name, "")))
        if not candidates:
            return None, float("inf")
        deadline, expired = min(candidates, key=lambda c: c[0])
        if deadline > now:
            return None, deadline
        if expired.kind == "run":
            where = {
                "tool": f" while tool {expired.name} ran",
                "model": " while the model was answering",
            }.get(call.kind if call is not None else "", "")
            expired = Expired("run", expired.name, self._run_limit() + where)
        return expired, now


class CallTimedOut(Exception):
    """:func:`bounded_call` gave up waiting."""


class CallFailed(Exception):
    """The function given to :func:`bounded_call` raised ``error`` (any BaseException)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def bounded_call(fn: Callable[[], T], timeout_s: float | None) -> T:
    """``fn()`` on a daemon thread, waiting at most ``timeout_s`` seconds (None: forever).

    Raises:
        CallTimedOut: it did not return in time (it keeps running, unobserved).
        CallFailed: it raised; ``.error`` is what (SystemExit and friends included).
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # reported to the caller, whatever it is
            box["error"] = exc
        finally:
            done.set()

    context = contextvars.copy_context()  # e.g. the egress guard's host_traffic() flag
    threading.Thread(
        target=context.run, args=(target,), name="agentbox-bounded", daemon=True
    ).start()
    if not done.wait(timeout_s):
        raise CallTimedOut(f"no answer within {timeout_s:g} s")
    if "error" in box:
        raise CallFailed(box["error"])
    return box["value"]  # type: ignore[no-any-return]
