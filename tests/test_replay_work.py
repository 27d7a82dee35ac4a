"""Work a suite case replay does not repeat: each model request is hashed once (the
runner's hash is the one the cassette checks), and one redactor serves every run of the
same secrets."""

from __future__ import annotations

from pathlib import Path

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
