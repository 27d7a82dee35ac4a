"""Model calls: each is answered from the recorded prefix, or asked live and recorded.

A live call is budget-checked first, bounded by ``timeouts.model_s``, passes the egress
guard as agentbox's own traffic, and becomes one ``llm`` step (response, tokens, cost,
latency, and the request stored as a delta against the previous one,
:func:`~agentbox.cassette.compact_request`). A served call keeps the request-hash chain in
step so the first live request after a prefix is stored exactly as a live run's.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from agentbox.cassette import CassetteModel, RequestHasher, compact_request, response_from
from agentbox.http.guard import host_traffic

if TYPE_CHECKING:
    from agentbox.models import Message, ModelResponse
    from agentbox.runner.core import Runner

__all__ = ["ModelGate"]


class ModelGate:
    """Model calls of one run."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._hasher = RequestHasher(runner.redactor)

    def call(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelResponse:
        """Serve or ask one model call (the caller holds the run: ``Runner.model_call``)."""
        runner, prefix = self._runner, self._runner.prefix
        prefix.skip_markers()
        if prefix.active:
            self.inject(messages)  # a resumed fork: its recorded requests held the message
            step = prefix.serve("llm", None)
            self._hasher.hash(messages, tools)  # keep the request chain in step
            return response_from(step)
        prefix.leave_if_done()
        self.inject(messages)
        runner.check_limits(next_is_tool=False)
        request = compact_request(messages, tools, self._hasher)
        started = time.perf_counter()
        limit = runner.limits.timeouts.model_s
        with (
            runner.guard.blocking("model", "", limit, "timeouts.model_s"),
            host_traffic(),  # agentbox's own model traffic passes the egress guard
        ):
            model, ordinal = runner.plan.model, runner.log.counters.model_calls
            if isinstance(model, CassetteModel):  # hashed above: not hashed again
                response = model.complete_hashed(
                    messages, tools, ordinal, request["hash"], self._hasher.redactor
                )
            else:
                response = model.complete(messages, tools, ordinal)
        latency = response.latency_s or (time.perf_counter() - started)
        c = runner.log.counters
        c.model_calls += 1
        c.input_tokens += response.input_tokens
        c.output_tokens += response.output_tokens
        if response.cost_usd is None:
            c.cost_unknown += 1
        else:
            c.cost_usd += response.cost_usd
        step = runner.log.new_step(
            "llm",
            response.model or runner.plan.model_name,
            duration_s=latency,
            data={"response": response.to_json(), "request": request},
            message=response.message(),
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            cost_usd=response.cost_usd,
        )
        runner.record(step)
        return response

    def inject(self, messages: list[Message]) -> None:
        """Append pending ``fork --message`` turns to the agent's conversation, once."""
        runner = self._runner
        if runner.injected:
            messages.extend(runner.injected)
            runner.injected = []
