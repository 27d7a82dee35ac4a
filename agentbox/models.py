"""Model backends: one small protocol, a scripted fake and litellm.

A backend turns ``(messages, tools)`` in OpenAI chat format into a :class:`ModelResponse`.
The runner gives every call its ordinal (0, 1, ... within the run), which is how the
scripted model stays deterministic across resume and fork. litellm is imported only when
a real model is used (it costs ~2.7 s and downloads a price map unless told not to).
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentbox.errors import ModelError
from agentbox.scenario import ScriptTurn

Message = dict[str, Any]


@dataclass
class ToolCall:
    """A tool call proposed by the model.

    Attributes:
        id: provider call id (``call_...``), used to pair the tool result message.
        name: tool name as the model wrote it (may be unknown to the sandbox).
        arguments: parsed JSON arguments, or the raw string when it was not valid JSON.
    """

    id: str
    name: str
    arguments: Any

    def raw_arguments(self) -> str:
        """Arguments as the JSON string sent back to the provider."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, sort_keys=True)


@dataclass
class ModelResponse:
    """One model turn.

    Attributes:
        text: what the model said (content), or None.
        reasoning: thinking/reasoning text when the model or script gives one.
        tool_calls: calls the model wants to make, in order.
        input_tokens / output_tokens: usage in tokens.
        cost_usd: cost in USD, or None when the price is unknown (never guessed as 0).
        model: the model that answered.
        latency_s: seconds spent in the backend.
    """

    text: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    model: str = ""
    latency_s: float = 0.0

    def message(self) -> Message:
        """The assistant message to append to the conversation (OpenAI format)."""
        msg: Message = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.raw_arguments()},
                }
                for c in self.tool_calls
            ]
        return msg

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored in the trace)."""
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls
            ],
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "model": self.model,
        }


class ModelBackend(Protocol):
    """Anything that answers chat requests."""

    name: str

    def complete(
        self, messages: list[Message], tools: list[dict[str, Any]], ordinal: int
    ) -> ModelResponse:
        """Answer one request. ``ordinal`` counts this run's model calls from 0."""
        ...


def estimate_tokens(value: Any) -> int:
    """Rough token count (~4 characters per token) for scripted usage."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, len(text) // 4)


class ScriptedModel:
    """Plays the scenario's ``script`` turn by turn; free and offline.

    Turn ``n`` answers the ``n``-th model call of the run (``repeat`` expands in place).
    When the script is exhausted the model says nothing more and the run completes.
    """

    name = "scripted"

    def __init__(self, turns: list[ScriptTurn]) -> None:
        self._turns = list(turns)
        self._ends = list(itertools.accumulate(t.repeat for t in turns))  # not expanded

    def complete(
        self, messages: list[Message], tools: list[dict[str, Any]], ordinal: int
    ) -> ModelResponse:
        if not self._ends or ordinal >= self._ends[-1]:
            return ModelResponse(
                text=None, model=self.name, input_tokens=0, output_tokens=0, cost_usd=0.0
            )
        turn = self._turns[bisect.bisect_right(self._ends, ordinal)]
        calls = []
        for i, spec in enumerate(turn.tool_calls):
            ((name, args),) = spec.items()
            calls.append(ToolCall(f"call_{ordinal}_{i}", name, {} if args is None else args))
        usage = turn.usage
        return ModelResponse(
            text=turn.say,
            reasoning=turn.reasoning,
            tool_calls=calls,
            input_tokens=usage.input_tokens if usage else estimate_tokens(messages[-1:]),
            output_tokens=usage.output_tokens
            if usage
            else estimate_tokens([turn.say or "", turn.reasoning or "", turn.tool_calls]),
            cost_usd=turn.cost_usd if turn.cost_usd is not None else 0.0,
            model=self.name,
        )


def _import_litellm() -> Any:
    # Deferred: importing litellm costs ~2.7 s; without the local cost map it also tries
    # to download a price list at import time.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm  # start-up cost (see above)

    litellm.suppress_debug_info = True
    return litellm


class LiteLLMModel:
    """A real model through litellm (``openai/gpt-4o-mini``, ``ollama/llama3.1``, ...).

    Args:
        model: litellm model string.
        params: extra ``completion`` keyword arguments (``api_base``, ``temperature``...).
    """

    def __init__(self, model: str, params: dict[str, Any] | None = None) -> None:
        self.name = model
        self.params = dict(params or {})

    def check_ready(self) -> None:
        """Fail early when litellm does not know the model's provider or the provider's
        API key is missing. A well-known provider's missing key is found without importing
        litellm (~3 s); anything else imports it.

        Raises:
            ModelError: naming the unknown provider or the missing environment variables.
        """
        provider = self.name.partition("/")[0]
        key = PROVIDER_KEYS.get(provider) if "/" in self.name else None
        if key and not os.environ.get(key) and not self.params.keys() & _SELF_KEYED:
            raise ModelError(
                f"model {self.name} needs {key} in the environment",
                "export it, or set agent.params.api_key; model `scripted` runs offline",
            )
        litellm = _import_litellm()
        try:
            litellm.get_llm_provider(
                model=self.name,
                custom_llm_provider=self.params.get("custom_llm_provider"),
                api_base=self.params.get("api_base"),
            )
        except Exception:  # litellm.BadRequestError: "LLM Provider NOT provided"
            raise ModelError(
                f"model {self.name!r}: litellm knows no provider for it",
                "write provider/model, e.g. openai/gpt-4o-mini or ollama/llama3.1 "
                "(https://docs.litellm.ai/docs/providers); model `scripted` runs offline",
            ) from None
        if any(k in self.params for k in ("api_key", "mock_response")):
            return
        try:
            env = litellm.validate_environment(model=self.name)
        except Exception:  # unknown provider layouts: let the first call tell
            return
        missing = list(env.get("missing_keys") or [])
        if missing and not env.get("keys_in_environment"):
            raise ModelError(
                f"model {self.name} needs {', '.join(missing)} in the environment",
                "export it, or set agent.params.api_key; model `scripted` runs offline",
            )

    def complete(
        self, messages: list[Message], tools: list[dict[str, Any]], ordinal: int
    ) -> ModelResponse:
        litellm = _import_litellm()
        started = time.perf_counter()
        kwargs = {"num_retries": 0, **self.params}
        try:
            with warnings.catch_warnings():
                # litellm 1.106 builds pydantic models lazily and pydantic warns about their
                # ReadOnly TypedDicts: noise for our users, and an error under -W error
                warnings.filterwarnings("ignore", message=".*ReadOnly.*", category=UserWarning)
                raw = litellm.completion(
                    model=self.name, messages=messages, tools=tools or None, **kwargs
                )
        except Exception as exc:  # provider errors come in many types
            raise ModelError(
                f"model {self.name} failed: {type(exc).__name__}: {exc}",
                "check the model string, API key and api_base",
            ) from exc
        latency = time.perf_counter() - started
        return parse_litellm_response(litellm, raw, self.name, latency)


def _tokens(usage: Any, name: str, model: str) -> int:
    """A usage count from the provider: a whole number >= 0 (else ModelError)."""
    value = getattr(usage, name, 0) or 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ModelError(
            f"model {model} reported invalid usage: {name}={value!r}",
            "token counts must be whole numbers >= 0; check the model server",
        )
    return value


def parse_litellm_response(litellm: Any, raw: Any, model: str, latency: float) -> ModelResponse:
    """Turn a litellm ``ModelResponse`` into ours (text, reasoning, calls, usage, cost).

    Raises:
        ModelError: the response has no choice, or reports negative or non-integer usage
            (which would let a run slip under its token budget).
    """
    choices = getattr(raw, "choices", None) or []
    if not choices or getattr(choices[0], "message", None) is None:
        raise ModelError(
            f"model {model} returned no choices (an empty `choices` list)",
            "check the model server; agentbox needs one choice with a message",
        )
    choice = choices[0]
    message = choice.message
    calls = []
    for i, call in enumerate(getattr(message, "tool_calls", None) or []):
        raw_args = call.function.arguments or "{}"
        try:
            args: Any = json.loads(raw_args)
        except json.JSONDecodeError:
            args = raw_args
        calls.append(ToolCall(call.id or f"call_{i}", call.function.name, args))
    usage = getattr(raw, "usage", None)
    input_tokens = _tokens(usage, "prompt_tokens", model)
    output_tokens = _tokens(usage, "completion_tokens", model)
    try:
        cost: float | None = float(litellm.completion_cost(completion_response=raw))
    except Exception:  # litellm raises for unmapped models: the price is unknown, not 0
        cost = None
    if cost is not None and not (math.isfinite(cost) and cost >= 0):
        cost = None  # a nonsense price is unknown, never a credit
    return ModelResponse(
        text=message.content,
        reasoning=getattr(message, "reasoning_content", None),
        tool_calls=calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
        model=str(getattr(raw, "model", None) or model),
        latency_s=latency,
    )


PROVIDER_KEYS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "xai": "XAI_API_KEY",
}
"""The environment variable each well-known litellm provider prefix reads its key from."""

_SELF_KEYED = {"api_key", "mock_response", "api_base", "base_url"}
"""``agent.params`` that make the environment's key unnecessary (or a local server)."""


def make_model(
    name: str,
    script: list[ScriptTurn],
    params: dict[str, Any] | None = None,
    *,
    require_script: bool = True,
) -> ModelBackend:
    """The backend for a model string: ``scripted`` or a litellm model.

    Raises:
        ModelError: ``scripted`` with an empty script (unless ``require_script`` is False,
            as for python agents that may never ask the model).
    """
    if name == "scripted":
        if not script and require_script:
            raise ModelError(
                "model `scripted` needs a `script:` in the scenario",
                "add script turns, or set agent.model to a litellm model string",
            )
        return ScriptedModel(script)
    return LiteLLMModel(name, params)
