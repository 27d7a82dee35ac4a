"""One look per step kind shared by the CLI and the TUI (issue 12, item 1)."""

from __future__ import annotations

import subprocess
import sys

from agentbox import steplook
from agentbox.cli import render
from agentbox.events import EVENT_TYPES
from agentbox.store import StepRow
from agentbox.tui import present, steps

DECISION = {"verdict": "block", "tier": "red", "rule": "payroll", "reason": "never"}


def blocked_call() -> StepRow:
    data = {"tool": "pay", "call_id": "c1", "args": {"iban": "DE00"}, "decision": DECISION}
    data["result"] = "Error: blocked by policy (payroll): never"
    return StepRow("r", 3, "tool", "pay", status="blocked", data=data)


def test_the_cli_and_the_timeline_mark_a_step_alike() -> None:
    step = blocked_call()
    head, outcome = (line.plain for line in render.step_lines(step))
    summary = steps.summarize(step)
    assert head == '   3 tool   pay(iban="DE00")'
    assert outcome.split()[0] == summary.icon == "■"
    assert summary.text == 'pay(iban="DE00")' and summary.label == "blocked"
    assert "[red · payroll]" in outcome
    assert "payroll" in present.action_text(step).plain


def test_every_kind_but_imported_notes_has_its_own_look() -> None:
    assert set(steplook.LOOKS) == set(EVENT_TYPES) - {"note"}
    note = StepRow("r", 0, "note", "span", data={"span_kind": "CHAIN", "attributes": {}})
    assert steps.summarize(note).icon == "·"  # shown raw, like a kind from a newer version


def test_data_that_does_not_fit_its_kind_is_shown_raw_everywhere() -> None:
    step = StepRow("r", 0, "llm", "m", data={"response": "garbled"})
    (line,) = render.step_lines(step)
    assert line.plain == '   0 llm {"response": "garbled"}'
    assert steps.summarize(step).text == '{"response": "garbled"}'
    assert '"garbled"' in present.action_text(step).plain


def test_one_usd_formatter() -> None:
    assert render.usd is steplook.usd
    assert steplook.usd(0.0012) == "$0.0012" and steplook.usd(1.5) == "$1.50"
    assert steplook.usd(0.5, 1) == "$0.50 (+1 call(s) unknown)"
    assert steplook.usd(0.0, 2) == steplook.usd(None) == "unknown"
    assert steplook.usd(0.5, 1, short=True) == "unknown"
    assert present.usd(0.5) == "$0.5000"  # the TUI's columns: always 4 decimals


def test_the_looks_load_neither_rich_nor_textual() -> None:
    code = "import sys, agentbox.steplook; print(sorted(m for m in ('rich', 'textual') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
