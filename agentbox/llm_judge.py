"""The ``llm_judge`` expectation: a model grades a run's final output against a rubric.

The judge is asked for structured output (a JSON schema made from :class:`JudgeVerdict`,
passed as ``response_format``; providers that cannot honour it drop it) and its reply is
parsed by that pydantic model. The verdict is recorded (in a case's
``cassette.judgments``) under a key made from the rubric and the output, so a replay that
produces the same output reuses it and needs no model. The model is asked through
:class:`agentbox.models.LiteLLMModel` (litellm is imported only when it is asked).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agentbox.errors import ModelError
from agentbox.models import LiteLLMModel

__all__ = ["JUDGE_SYSTEM", "JudgeVerdict", "judge", "judgment_key", "parse_verdict"]

JUDGE_SYSTEM = (
    "You grade the final answer of an AI agent against a rubric. Reply with one JSON object "
    'and nothing else: {"passed": true or false, "reasoning": "one or two sentences"}.'
)


class JudgeVerdict(BaseModel):
    """What the judge answers."""

    model_config = ConfigDict(extra="ignore")

    passed: bool
    """Whether the output meets the rubric."""
    reasoning: str = ""
    """One or two sentences saying why."""


RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "verdict", "schema": JudgeVerdict.model_json_schema()},
}
"""The ``response_format`` the judge is asked with (OpenAI structured output)."""


def judgment_key(rubric: str, output: str) -> str:
    """sha256 identifying one (rubric, output) pair."""
    return hashlib.sha256(json.dumps([rubric, output]).encode()).hexdigest()


def parse_verdict(text: str) -> tuple[bool, str]:
    """``(passed, reasoning)`` from a judge's reply: a :class:`JudgeVerdict` JSON object
    (bare, or in a fenced code block), else a leading PASS/FAIL word.

    Raises:
        ModelError: the reply holds no verdict.
    """
    body = (text or "").strip()
    if body.startswith("```"):  # a model that ignores response_format may fence it
        body = body.strip("`").removeprefix("json").strip()
    try:
        verdict = JudgeVerdict.model_validate_json(body, strict=True)
        return verdict.passed, verdict.reasoning
    except ValidationError:
        pass
    word = body.split(maxsplit=1)
    if word and word[0].strip(".:,").upper() in ("PASS", "PASSED", "FAIL", "FAILED"):
        return word[0].upper().startswith("PASS"), word[1] if len(word) > 1 else ""
    raise ModelError(
        f"the judge's reply has no verdict: {text!r}",
        'the judge must answer {"passed": true|false, "reasoning": "..."}',
    )


def judge(
    rubric: str, output: str, model: str, recorded: dict[str, Any] | None = None, **params: Any
) -> tuple[bool, str, dict[str, Any]]:
    """Grade ``output`` against ``rubric``.

    Args:
        rubric: what a passing output does.
        output: the run's final output.
        model: litellm model string of the judge.
        recorded: a verdict recorded earlier; reused (no model call) when its key matches
            this rubric and output.
        **params: extra litellm ``completion`` arguments (``mock_response`` in tests);
            they override the structured-output request.

    Returns:
        ``(passed, reasoning, record)``; ``record`` is what to store in the cassette.

    Raises:
        ModelError: the model failed or gave no verdict.
    """
    key = judgment_key(rubric, output)
    if recorded is not None and recorded.get("key") == key:
        return bool(recorded["passed"]), str(recorded.get("reasoning", "")), recorded
    messages = [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": f"Rubric:\n{rubric}\n\nFinal answer:\n{output}"},
    ]
    asked = {"response_format": RESPONSE_FORMAT, "drop_params": True, **params}
    response = LiteLLMModel(model, asked).complete(messages, [], 0)
    passed, reasoning = parse_verdict(response.text or "")
    record = {
        "key": key,
        "rubric": rubric,
        "model": model,
        "passed": passed,
        "reasoning": reasoning,
        "cost_usd": response.cost_usd,
    }
    return passed, reasoning, record
