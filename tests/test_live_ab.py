"""Live A/B on a suite (issue 17, item 4): `agentbox test SUITE --live --model M --label L
-k 3` asks a model (here a local stdlib OpenAI-compatible server) instead of the
cassette, on the same recorded tool world, and `compare` puts it next to the replay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agentbox.store import TraceStore
from tests.test_litellm import FakeOpenAI, fake_openai  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent


def test_live_model_against_the_recorded_suite(
    cli, request: pytest.FixtureRequest, store_path: Path, tmp_path: Path, monkeypatch
) -> None:
    fake: FakeOpenAI = request.getfixturevalue("fake_openai")
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(ROOT / "suites" / "retail-regressions" / "invalid-argument.yaml", suite)
    monkeypatch.setenv("OPENAI_API_BASE", f"http://127.0.0.1:{fake.port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test")

    base = cli("test", suite, "--label", "recorded", "--json")
    assert base.exit_code == 0, base.output
    assert not fake.requests  # a replay never asks a model

    live = cli(
        "test", suite, "--live", "--model", "openai/gpt-4o-mini", "--label", "gpt", "-k", "3"
    )
    assert live.exit_code == 1, live.output  # the fake model never creates the refund
    assert len(fake.requests) == 6  # 3 repeats x (tool call, answer)
    first = fake.requests[0]
    assert first["model"] == "gpt-4o-mini"
    assert first["messages"][-1]["content"].startswith("I'm cus_1007")
    offered = {t["function"]["name"] for t in first["tools"]}
    assert {"get_order", "create_refund"} <= offered  # the case's tool world

    listed = json.loads(cli("runs", "--suites", "--json").stdout)
    gpt, recorded = listed
    assert (gpt["label"], gpt["live"], gpt["model"], gpt["k"]) == (
        "gpt",
        True,
        "openai/gpt-4o-mini",
        3,
    )
    assert recorded["live"] is False
    assert gpt["fingerprint"] != recorded["fingerprint"]  # another model: another version

    store = TraceStore(store_path)
    results = store.suite_results(gpt["id"])
    run = store.get_run(results[0].run_id or "")
    version = store.run_version(run.id)
    store.close()
    assert run.model == "openai/gpt-4o-mini" and run.replay_of
    assert version is not None and version.parts["model"] == "openai/gpt-4o-mini"
    assert [s.status for s in store_steps(store_path, run.id) if s.kind == "tool"] == ["ok"]

    out = json.loads(cli("compare", "recorded", "gpt", "--json").stdout)
    assert out["cases"][0]["kind"] == "broken"
    assert out["cases"][0]["a_rate"] == 1.0 and out["cases"][0]["b_rate"] == 0.0
    tokens = {m["metric"]: m for m in out["metrics"]}["tokens"]
    assert tokens["b"] == 321 + 17 + 456 + 29  # the server's usage, per run
    assert cli("compare", "recorded", "gpt", "--fail-on-regression", "1%").exit_code == 1


def store_steps(store_path: Path, run_id: str) -> list:
    store = TraceStore(store_path)
    try:
        return store.steps(run_id)
    finally:
        store.close()


def test_model_without_live_is_a_usage_error(cli, tmp_path: Path) -> None:
    result = cli("test", "suites/retail-regressions", "--model", "openai/gpt-4o-mini")
    assert result.exit_code == 2
    assert "--model needs --live" in result.output
