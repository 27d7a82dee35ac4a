"""Hold Python's cyclic garbage collector while a dialog opens.

Opening the fork dialog builds, lays out and draws a few dozen widgets: enough
allocations to start collections, and a full one walks every object of the app (about
100,000 with a run open: 60-150 ms on a 2-core machine, more than the rest of the open).
Held from the key press until the dialog's first frame is drawn, the collections run
after it, while the user reads. Textual does the same while scrolling
(``App.PAUSE_GC_ON_SCROLL``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

HOLD_AT_MOST_S = 2.0
"""The collector is enabled again after this long whatever happens (e.g. the dialog
never opened because reading the state failed)."""


def hold_gc(app: Any, at_most_s: float = HOLD_AT_MOST_S) -> Callable[[], None]:
    """Disable the cyclic garbage collector; return the call that enables it again.

    The returned call is idempotent and also runs on a timer of ``app`` (a Textual
    ``App``) after ``at_most_s`` seconds. When the collector is already disabled
    (someone else holds it) nothing is changed and the returned call does nothing.
    """
    if not gc.isenabled():
        return lambda: None
    gc.disable()
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            gc.enable()

    app.set_timer(at_most_s, release)
    return release
