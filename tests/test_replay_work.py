"""Work a suite case replay does not repeat: each model request is hashed once (the
runner's hash is the one the cassette checks), and one redactor serves every run of the
same secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentbox.cassette import RequestHasher
from agentbox.config import load_settings
from agentbox.store import TraceStore
from agentbox.suites.case import load_case
from agentbox.suites.replay import replay_case

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "suites" / "retail-regressions" / "refund-over-limit.yaml"


def test_each_model_request_is_hashed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    hashed: list[int] = []
    original = RequestHasher.hash

    def counting(self: RequestHasher, messages: list, tools: list) -> tuple[str, int]:  # type: ignore[type-arg]
        hashed.append(len(messages))
        return original(self, messages, tools)

    monkeypatch.setattr(RequestHasher, "hash", counting)
    store = TraceStore(tmp_path / "t.db")
    result, _, miss, _ = replay_case(load_case(CASE), store, load_settings(ROOT))
    assert miss is None and result.passed, result.reason
    assert result.counters.model_calls > 1
    assert len(hashed) == result.counters.model_calls


class _Sink:
    """A stdout that keeps only what was written, as one hash and a length."""

    def __init__(self) -> None:
        import hashlib

        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> int:
        self.digest.update(text.encode())
        self.size += len(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_the_json_report_is_written_as_encoded_not_joined_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`agentbox test --json` of 5,000 cases: the same text as ``to_json``, without ever
    holding it (and the encoder's pieces) whole -- that was the command's memory peak."""
    import hashlib
    import sys
    import tracemalloc

    from agentbox.cli.base import to_json
    from agentbox.cli.suite_cmds import _print_json

    metrics = {"steps": 12, "latencies": [0.001 * j for j in range(12)], "cost_usd": None}
    value = {
        "passed": True,
        "results": [
            {"path": f"suite/case-{i}.yaml", "passed": True, "metrics": dict(metrics)}
            for i in range(5000)
        ],
    }
    expected = to_json(value) + "\n"

    def peak(write: Any) -> tuple[int, _Sink]:
        sink = _Sink()
        monkeypatch.setattr(sys, "stdout", sink)
        tracemalloc.start()
        try:
            write(value)
            return tracemalloc.get_traced_memory()[1], sink
        finally:
            tracemalloc.stop()
            monkeypatch.undo()

    joined, _ = peak(lambda v: print(to_json(v)))  # what the command did before
    streamed, sink = peak(_print_json)
    assert sink.digest.hexdigest() == hashlib.sha256(expected.encode()).hexdigest()
    assert sink.size == len(expected)
    assert streamed < joined / 2, (streamed, joined)  # alone here: ~3 MB vs ~15 MB


def test_runs_of_the_built_in_loop_reuse_one_agent_thread(tmp_path: Path) -> None:
    """Each run's agent still runs off the caller's thread, named after the run, but
    consecutive runs of agentbox's own loop share one thread instead of starting one."""
    import threading

    from agentbox.planning import plan_run
    from agentbox.runner import Runner
    from agentbox.store import StepRow

    settings = load_settings(ROOT)
    store = TraceStore(tmp_path / "t.db")
    seen: list[tuple[int, str]] = []

    def on_step(step: StepRow) -> None:
        seen.append((threading.get_ident(), threading.current_thread().name))

    threads: list[set[int]] = []
    for _ in range(3):
        plan = plan_run(ROOT / "scenarios" / "refund-clean.yaml", settings)
        result = Runner(plan, store, on_step=on_step).run()
        assert result.status == "completed"
        assert {name for _, name in seen} == {f"agentbox-agent-{result.run_id}"}
        threads.append({ident for ident, _ in seen})
        seen.clear()
    assert threading.get_ident() not in threads[0]
    assert threads[0] == threads[1] == threads[2] and len(threads[0]) == 1


def test_a_test_run_without_a_terminal_does_not_load_the_progress_bar(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from agentbox.cli import main\n"
        f"sys.argv = ['agentbox', 'test', {str(CASE)!r}, '--json', '--store', "
        f"{str(tmp_path / 't.db')!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print('rich.progress' in sys.modules, code, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.stderr.strip().splitlines()[-1] == "False 0", done.stderr
