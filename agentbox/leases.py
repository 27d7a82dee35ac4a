"""One process drives a run at a time: a lease in the store, kept fresh by a heartbeat.

``resume`` (CLI and TUI) and ``stop`` claim a run before touching it. The claim is one
``BEGIN IMMEDIATE`` transaction in the store, so of two processes racing for a run exactly
one wins; the other gets :class:`RunClaimed` naming the holder (pid, host, since when).
While held, a daemon thread refreshes the heartbeat every ``heartbeat_s`` seconds (also
during a long tool call or an approval wait). A lease whose process died (on this host) or
that went quiet is stale and is taken over (see :meth:`LeaseRow.stale`).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from agentbox.errors import StoreError
from agentbox.store import HOST, LeaseRow, TraceStore

HEARTBEAT_S = 2.0
"""Seconds between heartbeats of a held lease."""
STALE_AFTER_S = 30.0
"""Seconds without a heartbeat after which another host's lease is stale."""


class RunClaimed(StoreError):
    """Another live process holds the run (its pid and host are in the message)."""


def describe(lease: LeaseRow) -> str:
    """``pid 4242 on box (resume, since 12:03:04, heartbeat 1 s ago)``."""
    since = time.strftime("%H:%M:%S", time.localtime(lease.acquired_at))
    ago = max(0.0, time.time() - lease.heartbeat_at)
    where = "this host" if lease.host == HOST else lease.host
    return (
        f"pid {lease.pid} on {where} ({lease.purpose or 'run'}, since {since}, "
        f"heartbeat {ago:.0f} s ago)"
    )


@contextmanager
def claim_run(
    store: TraceStore,
    run_id: str,
    purpose: str = "resume",
    *,
    heartbeat_s: float = HEARTBEAT_S,
    stale_after_s: float = STALE_AFTER_S,
) -> Iterator[str]:
    """Hold the lease on a run for the ``with`` block; yields the lease token.

    Raises:
        RunClaimed: another live process holds it.
    """
    token = secrets.token_hex(8)
    holder = store.acquire_lease(run_id, token, purpose=purpose, stale_after_s=stale_after_s)
    if holder is not None:
        raise RunClaimed(
            f"run {run_id} is held by {describe(holder)}",
            f"wait for it to finish, or stop it: agentbox stop {run_id}",
        )
    done = threading.Event()

    def beat() -> None:
        while not done.wait(heartbeat_s):
            if not store.heartbeat_lease(run_id, token):
                return  # taken over as stale; nothing left to refresh

    keeper = threading.Thread(target=beat, name=f"agentbox-lease-{run_id}", daemon=True)
    keeper.start()
    try:
        yield token
    finally:
        done.set()
        keeper.join()
        store.release_lease(run_id, token)
