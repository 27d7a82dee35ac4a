"""Paged, cached access to one run's steps, and how a step reads in one timeline line.

How each kind reads is decided in :mod:`agentbox.steplook` (shared with the CLI).
Headless (no Textual): the run screen asks :class:`StepPages` for the step at a position;
only the page holding it is read from the store (``store.steps(run, start, stop)``), and a
bounded number of pages is kept. A 10,000-step run therefore costs one page read to open,
and moving the cursor costs a dictionary lookup.
"""

from __future__ import annotations

from collections import OrderedDict

from agentbox import steplook
from agentbox.steplook import Summary, args_text, oneline
from agentbox.store import StepRow, TraceStore

__all__ = ["PAGE", "StepPages", "Summary", "args_text", "held_approval_id", "oneline", "summarize"]

PAGE = 100
"""Steps per page read from the store."""


class StepPages:
    """Steps of one run, read from the store a page at a time.

    Args:
        store: the trace store.
        run_id: the run.
        page_size: steps per store read.
        max_pages: pages kept in memory (least recently used are dropped).
    """

    def __init__(
        self, store: TraceStore, run_id: str, *, page_size: int = PAGE, max_pages: int = 40
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.page_size = page_size
        self.max_pages = max_pages
        self._pages: OrderedDict[int, dict[int, StepRow]] = OrderedDict()
        self.count = store.step_count(run_id)

    def get(self, idx: int) -> StepRow | None:
        """The step at ``idx`` (None when out of range or missing)."""
        if not 0 <= idx < self.count:
            return None
        page_no = idx // self.page_size
        page = self._pages.get(page_no)
        if page is None:
            start = page_no * self.page_size
            rows = self.store.steps(self.run_id, start, start + self.page_size)
            page = {s.idx: s for s in rows}
            self._pages[page_no] = page
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        return page.get(idx)

    def cached(self, idx: int) -> StepRow | None:
        """The step at ``idx`` if its page is in memory (never reads the store)."""
        page = self._pages.get(idx // self.page_size)
        return None if page is None else page.get(idx)

    def poll(self) -> tuple[int, int]:
        """Re-count the stored steps; drop pages that may have changed.

        The page holding the previous last step is dropped too: the runner updates a
        step in place when a held call is decided or a write's result is recorded.

        Returns:
            ``(old_count, new_count)``.
        """
        old = self.count
        new = self.store.step_count(self.run_id)
        if new != old:
            first = max(0, min(old, new) - 1) // self.page_size
            for page_no in [p for p in self._pages if p >= first]:
                del self._pages[page_no]
            self.count = new
        return old, new

    def reload(self, idx: int) -> StepRow | None:
        """Re-read one step from the store (a step that may have been updated in place)."""
        rows = self.store.steps(self.run_id, idx, idx + 1)
        page = self._pages.get(idx // self.page_size)
        if rows and page is not None:
            page[idx] = rows[0]
        return rows[0] if rows else None

    def find(self, query: str, start: int, *, forward: bool = True) -> int | None:
        """The first step after (or before) ``start`` matching ``query``, wrapping around.

        Reads pages straight from the store (not the cache); meant for a worker thread.
        """
        needle = query.casefold()
        if forward:
            segments = [(start + 1, self.count), (0, min(start + 1, self.count))]
        else:
            segments = [(0, max(0, start)), (max(0, start), self.count)]
        for lo, hi in segments:
            found = self._scan(needle, lo, hi, forward)
            if found is not None:
                return found
        return None

    def _scan(self, needle: str, lo: int, hi: int, forward: bool) -> int | None:
        size = self.page_size
        bounds = (
            [(s, min(s + size, hi)) for s in range(lo, hi, size)]
            if forward
            else [(max(lo, e - size), e) for e in range(hi, lo, -size)]
        )
        for a, b in bounds:
            rows = self.store.steps(self.run_id, a, b)
            for step in rows if forward else reversed(rows):
                if needle in search_text(step).casefold():
                    return step.idx
        return None


def summarize(step: StepRow) -> Summary:
    """The timeline line for a step (:func:`agentbox.steplook.summary`)."""
    return steplook.summary(step)


def search_text(step: StepRow) -> str:
    """What ``/`` search looks in (:func:`agentbox.steplook.search_text`)."""
    return steplook.search_text(step)


def held_approval_id(step: StepRow | None) -> str | None:
    """The approval id of a held call still pending in the trace, else None."""
    if step is None or step.kind != "approval" or step.status != "pending":
        return None
    value = step.data.get("approval_id")
    return str(value) if value else None
