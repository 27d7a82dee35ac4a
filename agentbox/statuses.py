"""Run and step status names, the words views show for them, and their colours.

The one place the CLI (``agentbox runs``, ``show``, ``approvals``) and the TUI read status
words and styles from, so what a view shows is always something ``--status`` (and the
TUI's ``status:`` filter) accepts. The statuses themselves are the Literals of
:mod:`agentbox.events` (``RunStatus``, ``StepStatus``). Styles are rich style strings; this module imports
nothing from rich.
"""

from __future__ import annotations

from typing import get_args

from agentbox.events import FinishedStatus, RunStatus

RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
"""Run statuses as stored (``runs.status``): :data:`agentbox.events.RunStatus`."""

FINISHED: tuple[str, ...] = get_args(FinishedStatus)
"""Run statuses that are final (:data:`agentbox.events.FinishedStatus`)."""

UNFINISHED = "not finished"
"""What a ``running`` run whose process is gone is shown as (it died unfinished)."""

SHORT_WORDS = {"awaiting_approval": "awaiting", UNFINISHED: "unfinished"}
"""Shorter display words for narrow tables (``agentbox runs`` below 100 columns)."""

ALIASES = {
    "awaiting": "awaiting_approval",
    "parked": "awaiting_approval",
    "unfinished": UNFINISHED,
    "not_finished": UNFINISHED,
    "not-finished": UNFINISHED,
}
"""Words a user may type for a status (everything a view shows, plus the stored names)."""

STYLE = {
    # runs
    "completed": "green",
    "running": "cyan",
    "halted": "yellow",
    "failed": "red",
    "awaiting_approval": "bold magenta",
    UNFINISHED: "red",
    "stopped": "yellow",
    "timeout": "yellow",
    "simulator_error": "magenta",
    # steps
    "ok": "green",
    "error": "yellow",
    "invalid": "yellow",
    "blocked": "red",
    "denied": "red",
    "recommended": "cyan",
    "crashed": "red",
    "abandoned": "yellow",
    # approvals
    "pending": "magenta",
    "approved": "green",
    "edited": "green",
}
"""rich style of every run, step and approval status (unknown ones: no style)."""

FILTER_CHOICES = (*RUN_STATUSES, UNFINISHED)
"""Statuses a run list filters on: the stored ones plus ``not finished``."""


def style(status: str) -> str:
    """The rich style for a run, step or approval status ("" when unknown)."""
    return STYLE.get(status, "")


def short_word(status: str) -> str:
    """The display word for narrow views (``awaiting``, ``unfinished``)."""
    return SHORT_WORDS.get(status, status)


def parse_run_status(word: str) -> str | None:
    """The run status a user typed, as a filter value: a stored name, ``not finished``,
    or any display word or unique prefix of one (``awaiting``, ``unfinished``, ``halt``).

    Returns None when ``word`` names no status (or is an ambiguous prefix).
    """
    key = word.strip().lower()
    if key in FILTER_CHOICES:
        return key
    if key in ALIASES:
        return ALIASES[key]
    names = sorted(set(FILTER_CHOICES) | set(ALIASES))
    matches = {ALIASES.get(n, n) for n in names if n.startswith(key)} if key else set()
    return matches.pop() if len(matches) == 1 else None


def status_words() -> str:
    """The words ``--status`` accepts, for error messages."""
    return ", ".join(["running", "awaiting", "unfinished", *RUN_STATUSES[2:]])
