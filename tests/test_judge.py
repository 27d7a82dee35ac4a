"""The llm_judge expectation on a plain scenario run (litellm's offline mock_response)."""

from __future__ import annotations

from pathlib import Path

import yaml

from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent


def _scenario(tmp_path: Path, verdict: str) -> Path:
    data = yaml.safe_load((ROOT / "scenarios/refund-clean.yaml").read_text())
    data["expect"]["llm_judge"] = [
        {
            "rubric": "The reply states the refunded amount in USD.",
            "model": "openai/gpt-4o-mini",
            "params": {"mock_response": verdict},
        }
    ]
    path = tmp_path / "judged.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_judge_verdict_passes_and_is_recorded(cli, tmp_path: Path, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _scenario(tmp_path, '{"passed": true, "reasoning": "It says $64.50."}')
    result = cli("run", str(path), "-q", env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert result.exit_code == 0, result.output
    run = TraceStore(store_path).list_runs(limit=1)[0]
    judged = next(e for e in run.expectations if e["name"] == "llm_judge[0]")
    assert judged["passed"] is True and "64.50" in judged["detail"]
    assert judged["judgment"]["passed"] is True


def test_judge_failure_fails_the_run(cli, tmp_path: Path, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _scenario(tmp_path, '{"passed": false, "reasoning": "No amount given."}')
    result = cli("run", str(path), "-q", env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert result.exit_code == 1
    assert "llm_judge[0]" in result.output and "No amount given." in result.output
