"""The llm_judge expectation on a plain scenario run (litellm's offline mock_response)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

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


def test_judge_verdict_passes_and_is_recorded(
    cli, tmp_path: Path, store_path: Path, open_store: Any
) -> None:  # type: ignore[no-untyped-def]
    path = _scenario(tmp_path, '{"passed": true, "reasoning": "It says $64.50."}')
    result = cli("run", str(path), "-q", env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert result.exit_code == 0, result.output
    run = open_store(store_path).list_runs(limit=1)[0]
    judged = next(e for e in run.expectations if e["name"] == "llm_judge[0]")
    assert judged["passed"] is True and "64.50" in judged["detail"]
    assert judged["judgment"]["passed"] is True


def test_judge_failure_fails_the_run(cli, tmp_path: Path, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _scenario(tmp_path, '{"passed": false, "reasoning": "No amount given."}')
    result = cli("run", str(path), "-q", env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert result.exit_code == 1
    assert "llm_judge[0]" in result.output and "No amount given." in result.output


# ---- the judge module itself (agentbox.llm_judge) ----------------------------------------
def test_the_judge_asks_for_structured_output(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentbox import llm_judge
    from agentbox.models import ModelResponse

    asked: list[dict[str, Any]] = []

    class FakeModel:
        def __init__(self, model: str, params: dict[str, Any]) -> None:
            asked.append(params)

        def complete(self, messages: Any, tools: Any, ordinal: int) -> ModelResponse:
            return ModelResponse(text='{"passed": false, "reasoning": "no amount"}')

    monkeypatch.setattr(llm_judge, "LiteLLMModel", FakeModel)
    passed, why, record = llm_judge.judge("States the amount.", "Done.", "openai/x", top_p=1)
    assert (passed, why, record["passed"]) == (False, "no amount", False)
    (params,) = asked
    schema = params["response_format"]["json_schema"]["schema"]
    assert schema == llm_judge.JudgeVerdict.model_json_schema()
    assert set(schema["required"]) == {"passed"} and params["top_p"] == 1


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ('{"passed": true, "reasoning": "ok"}', (True, "ok")),
        ('```json\n{"passed": false, "reasoning": "no"}\n```', (False, "no")),
        ('{"passed": true, "extra": 1}', (True, "")),
        ("PASS. It names the amount.", (True, "It names the amount.")),
        ("fail: nothing", (False, "nothing")),
    ],
)
def test_parse_verdict_reads_the_verdict_model(reply: str, verdict: tuple[bool, str]) -> None:
    from agentbox.llm_judge import parse_verdict

    assert parse_verdict(reply) == verdict


@pytest.mark.parametrize(
    "reply", ['{"passed": "yes"}', "I think it passes", "", '{"reasoning": "no verdict"}']
)
def test_parse_verdict_refuses_a_reply_without_one(reply: str) -> None:
    from agentbox.errors import ModelError
    from agentbox.llm_judge import parse_verdict

    with pytest.raises(ModelError, match="no verdict"):
        parse_verdict(reply)
