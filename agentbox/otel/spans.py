"""A stored run as OpenTelemetry spans (pure data: no OpenTelemetry import).

One run is one trace:

- the root span ``invoke_agent {scenario}`` (INTERNAL) spans the run;
- each ``llm`` step is a ``chat {model}`` span (CLIENT), each executed ``tool`` step an
  ``execute_tool {tool}`` span (INTERNAL), both children of the root;
- approvals, blocked calls (policy and egress), budget halts, forks, user turns and
  errors are events on the root span (an error is an ``exception`` event); the tool
  span's policy verdict is an ``agentbox.policy`` event on it.

Attributes follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``) and
OpenInference (``openinference.span.kind``, ``llm.*``, ``tool.*``, ``input.value`` /
``output.value``) so Phoenix renders the trace natively. agentbox's own facts live under
``agentbox.*``: the run id, mode, step index and status, policy tier and rule, the RFC 6902
state patch, the fork parent, and -- for an exact round trip -- the whole stored step
(``agentbox.step``, JSON) and run row (``agentbox.run`` on the root span).

Trace and span ids are derived from the run id and step index (sha256), so exporting a
run twice gives the same ids. Times are Unix nanoseconds taken from the stored step
times: an ``llm`` step is stored when the response arrived (it started ``duration_s``
earlier), a ``tool`` step when the call started.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentbox.events import (
    ApprovalEvent,
    ErrorEvent,
    FinalEvent,
    ForkEvent,
    LlmEvent,
    ModelOutput,
    ModelRequest,
    PolicyDecision,
    PolicyEvent,
    StepEvent,
    ToolEvent,
    UserEvent,
)
from agentbox.store import ApprovalRow, RunRow, StepRow

AttrValue = str | bool | int | float | list[str] | list[int] | list[float] | list[bool]

SCOPE = "agentbox"
"""Instrumentation scope name of every exported span."""

EVENT_STEPS = {
    "approval": "agentbox.approval",
    "policy": "agentbox.policy.halt",
    "fork": "agentbox.fork",
    "user": "agentbox.user_turn",
    "final": "agentbox.final",
    "error": "exception",
}
"""Step kinds that become events on the root span, and the event names."""

_FAILED_TOOL = {"error", "crashed", "invalid", "denied", "abandoned"}


@dataclass
class SpanEvent:
    """One span event: ``name``, Unix time in ns, attributes."""

    name: str
    time_ns: int
    attributes: dict[str, AttrValue] = field(default_factory=dict)


@dataclass
class Span:
    """One span, ready to export.

    Attributes:
        trace_id: 32 hex digits. span_id / parent_id: 16 hex digits (parent None: root).
        name, kind (``INTERNAL`` | ``CLIENT`` | ``SERVER`` | ``PRODUCER`` | ``CONSUMER``).
        start_ns / end_ns: Unix time in nanoseconds.
        attributes: OpenTelemetry attribute values (no None).
        events: span events. status: ``UNSET`` | ``OK`` | ``ERROR``; status_message.
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, AttrValue] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    status: str = "UNSET"
    status_message: str = ""


def trace_id_of(run_id: str) -> str:
    """The trace id (32 hex digits) of a run."""
    return hashlib.sha256(f"agentbox-trace:{run_id}".encode()).hexdigest()[:32]


def span_id_of(run_id: str, idx: int | None) -> str:
    """The span id (16 hex digits) of a run's step ``idx`` (None: the root span)."""
    part = "root" if idx is None else str(idx)
    return hashlib.sha256(f"agentbox-span:{run_id}:{part}".encode()).hexdigest()[:16]


def _ns(seconds: float | None) -> int:
    return round((seconds or 0.0) * 1e9)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)


def provider_of(model: str | None) -> str:
    """The ``gen_ai.provider.name`` of a litellm model string (``openai/gpt-4o`` -> openai)."""
    if not model or model == "scripted":
        return "agentbox.scripted"
    if "/" in model:
        return model.split("/", 1)[0]
    lowered = model.lower()
    for prefix, name in (
        ("gpt", "openai"),
        ("o1", "openai"),
        ("o3", "openai"),
        ("claude", "anthropic"),
        ("gemini", "gcp.gemini"),
    ):
        if lowered.startswith(prefix):
            return name
    return "unknown"


def step_json(step: StepRow) -> dict[str, Any]:
    """A step as stored, JSON-ready (what ``agentbox.step`` carries)."""
    return dataclasses.asdict(step)


def run_json(run: RunRow) -> dict[str, Any]:
    """A run row as stored, JSON-ready (what ``agentbox.run`` carries)."""
    return dataclasses.asdict(run)


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return _json(content)


def _args_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else _json(arguments)


def genai_message(message: dict[str, Any]) -> dict[str, Any]:
    """A chat message (OpenAI shape) in the GenAI conventions' ``parts`` shape."""
    role = message.get("role", "user")
    parts: list[dict[str, Any]] = []
    if role == "tool":
        parts.append(
            {
                "type": "tool_call_response",
                "id": message.get("tool_call_id"),
                "response": _text_of(message.get("content")),
            }
        )
    else:
        if message.get("reasoning"):
            parts.append({"type": "reasoning", "content": str(message["reasoning"])})
        text = _text_of(message.get("content"))
        if text:
            parts.append({"type": "text", "content": text})
        for call in message.get("tool_calls") or []:
            fn = call.get("function", {})
            args = fn.get("arguments")
            with contextlib.suppress(json.JSONDecodeError):
                args = json.loads(args) if isinstance(args, str) else args
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": fn.get("name"),
                    "arguments": args,
                }
            )
    return {"role": role, "parts": parts}


def openinference_messages(prefix: str, messages: list[dict[str, Any]]) -> dict[str, AttrValue]:
    """OpenInference's flattened message attributes (``llm.input_messages.0.message.role``)."""
    out: dict[str, AttrValue] = {}
    for i, message in enumerate(messages):
        base = f"{prefix}.{i}.message"
        out[f"{base}.role"] = str(message.get("role", "user"))
        text = _text_of(message.get("content"))
        if text:
            out[f"{base}.content"] = text
        if message.get("tool_call_id"):
            out[f"{base}.tool_call_id"] = str(message["tool_call_id"])
        for j, call in enumerate(message.get("tool_calls") or []):
            fn = call.get("function", {})
            cbase = f"{base}.tool_calls.{j}.tool_call"
            if call.get("id"):
                out[f"{cbase}.id"] = str(call["id"])
            out[f"{cbase}.function.name"] = str(fn.get("name", ""))
            out[f"{cbase}.function.arguments"] = _args_text(fn.get("arguments", "{}"))
    return out


def _response_message(response: ModelOutput) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.text or ""}
    if response.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": _args_text(c.arguments)},
            }
            for c in response.tool_calls
        ]
    if response.reasoning:
        message["reasoning"] = response.reasoning
    return message


def _decision_attrs(decision: PolicyDecision | None) -> dict[str, Any]:
    """A policy decision's ``verdict``, ``tier``, ``rule`` and ``reason`` ({} for none)."""
    return {} if decision is None else decision.model_dump(include=_DECISION_KEYS)


_DECISION_KEYS = {"verdict", "tier", "rule", "reason"}


def _event_attrs(event: StepEvent) -> dict[str, Any]:
    """The root-span event attributes of an approval, policy halt, fork, user turn or
    final step (None values are dropped later)."""
    attrs: dict[str, Any] = {}
    if isinstance(event, ApprovalEvent):
        decision = _decision_attrs(event.decision)
        attrs = {
            "agentbox.approval.id": event.approval_id,
            "gen_ai.tool.name": event.tool,
            "agentbox.approval.decided_by": event.decided_by,
            "agentbox.policy.rule": decision.get("rule"),
            "agentbox.policy.tier": decision.get("tier"),
            "agentbox.reason": event.reason,
        }
    elif isinstance(event, PolicyEvent):
        attrs = {"agentbox.reason": event.reason}
    elif isinstance(event, FinalEvent):
        attrs = {"agentbox.reason": event.reason, "agentbox.output": event.output}
    elif isinstance(event, ForkEvent):
        attrs = {"agentbox.fork.parent": event.parent_id, "agentbox.fork.at": event.at}
    elif isinstance(event, UserEvent):
        attrs = {"gen_ai.user.message": event.text}
    return attrs


def _clean(attrs: dict[str, Any]) -> dict[str, AttrValue]:
    return {k: v for k, v in attrs.items() if v is not None and v != ""}


class SpanBuilder:
    """Turns one run's steps into spans, step by step (live export) or all at once.

    Args:
        run: the stored run row (its id, scenario, mode and model name the spans).
        redact: applied to every step and the run row before mapping (secrets never
            leave); default: no change.
        full: carry the whole step (``agentbox.step``) and run row (``agentbox.run``) as
            JSON attributes, for an exact round trip.
    """

    def __init__(
        self,
        run: RunRow,
        redact: Callable[[Any], Any] | None = None,
        *,
        full: bool = True,
    ) -> None:
        self.run = run
        self.redact = redact or (lambda v: v)
        self.full = full
        self.trace_id = trace_id_of(run.id)
        self.root_id = span_id_of(run.id, None)
        self.root_events: list[SpanEvent] = []
        self._messages: list[dict[str, Any]] = []  # the previous request, rebuilt
        self._last_end = _ns(run.started_at)

    # ---- steps ---------------------------------------------------------------------
    def _common(self, step: StepRow, data: dict[str, Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "agentbox.run.id": self.run.id,
            "agentbox.step.idx": step.idx,
            "agentbox.step.kind": step.kind,
            "agentbox.step.status": step.status,
        }
        if self.full:
            attrs["agentbox.step"] = _json(data)
        return attrs

    def add(self, step: StepRow) -> Span | None:
        """Map one finished step: a span (``llm``, executed ``tool``) or None (the step
        became an event on the root span, returned by :meth:`root`)."""
        data = self.redact(step_json(step))
        step = StepRow(**data)
        if step.kind == "llm":
            return self._chat(step, data)
        if step.kind == "tool" and step.status != "blocked":
            return self._tool(step, data)
        self._event(step, data)
        return None

    def _chat(self, step: StepRow, data: dict[str, Any]) -> Span:
        event = step.event
        llm = event if isinstance(event, LlmEvent) else LlmEvent(response=ModelOutput())
        request = llm.request or ModelRequest()
        messages = self._messages[: request.prefix] + list(request.delta)
        self._messages = messages
        response = llm.response
        out_message = _response_message(response)
        end = _ns(step.started_at)
        start = end - _ns(step.duration_s)
        model = self.run.model or step.name or "unknown"
        calls = response.tool_calls
        attrs = self._common(step, data)
        attrs.update(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider_of(model),
                "gen_ai.request.model": model,
                "gen_ai.response.model": response.model or step.name,
                "gen_ai.conversation.id": self.run.id,
                "gen_ai.usage.input_tokens": step.input_tokens or 0,
                "gen_ai.usage.output_tokens": step.output_tokens or 0,
                "gen_ai.response.finish_reasons": ["tool_calls" if calls else "stop"],
                "gen_ai.input.messages": _json([genai_message(m) for m in messages]),
                "gen_ai.output.messages": _json(
                    [
                        {
                            **genai_message(out_message),
                            "finish_reason": "tool_call" if calls else "stop",
                        }
                    ]
                ),
                "openinference.span.kind": "LLM",
                "llm.model_name": response.model or model,
                "llm.provider": provider_of(model),
                "llm.token_count.prompt": step.input_tokens or 0,
                "llm.token_count.completion": step.output_tokens or 0,
                "llm.token_count.total": (step.input_tokens or 0) + (step.output_tokens or 0),
                "llm.cost.total": step.cost_usd,
                "input.value": _json({"messages": messages}),
                "input.mime_type": "application/json",
                "output.value": _json(out_message) if calls else (response.text or ""),
                "output.mime_type": "application/json" if calls else "text/plain",
                "agentbox.reasoning": response.reasoning,
                "agentbox.request.hash": request.hash,
            }
        )
        attrs.update(openinference_messages("llm.input_messages", messages))
        attrs.update(openinference_messages("llm.output_messages", [out_message]))
        for i, name in enumerate(request.tools):
            attrs[f"llm.tools.{i}.tool.name"] = str(name)
        self._last_end = max(self._last_end, end)
        return Span(
            self.trace_id,
            span_id_of(self.run.id, step.idx),
            self.root_id,
            f"chat {model}",
            "CLIENT",
            start,
            end,
            _clean(attrs),
        )

    def _tool(self, step: StepRow, data: dict[str, Any]) -> Span:
        event = step.event
        call = event if isinstance(event, ToolEvent) else ToolEvent(args=None)
        name = step.name or call.tool or "tool"
        start = _ns(step.started_at)
        end = start + _ns(step.duration_s)
        args, result, decision = call.args, call.result, call.decision
        verdict = _decision_attrs(decision)
        attrs = self._common(step, data)
        attrs.update(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.id": call.call_id,
                "gen_ai.tool.call.arguments": _args_text(args) if args is not None else None,
                "gen_ai.tool.call.result": result,
                "gen_ai.conversation.id": self.run.id,
                "openinference.span.kind": "TOOL",
                "tool.name": name,
                "tool_call.id": call.call_id,
                "tool_call.function.name": name,
                "tool_call.function.arguments": _args_text(args) if args is not None else None,
                "input.value": _args_text(args) if args is not None else None,
                "input.mime_type": "application/json",
                "output.value": result,
                "agentbox.mode": self.run.mode,
                "agentbox.tool.effect": call.effect,
                "agentbox.policy.verdict": verdict.get("verdict"),
                "agentbox.policy.tier": verdict.get("tier"),
                "agentbox.policy.rule": verdict.get("rule"),
                "agentbox.approval.id": call.approval_id,
                "agentbox.state.patch": _json(step.patch) if step.patch else None,
            }
        )
        events = []
        if decision is not None:
            events.append(
                SpanEvent(
                    "agentbox.policy",
                    start,
                    _clean({f"agentbox.policy.{k}": v for k, v in verdict.items()}),
                )
            )
        failed = step.status in _FAILED_TOOL
        self._last_end = max(self._last_end, end)
        return Span(
            self.trace_id,
            span_id_of(self.run.id, step.idx),
            self.root_id,
            f"execute_tool {name}",
            "INTERNAL",
            start,
            end,
            _clean(attrs),
            events,
            "ERROR" if failed else "UNSET",
            str(result or step.status) if failed else "",
        )

    def _event(self, step: StepRow, data: dict[str, Any]) -> None:
        event = step.event
        attrs = self._common(step, data)
        name = EVENT_STEPS.get(step.kind, f"agentbox.{step.kind}")
        if step.kind == "tool":  # blocked: by policy, or egress
            name = "agentbox.policy.block"
            call = event if isinstance(event, ToolEvent) else ToolEvent(args=None)
            decision = _decision_attrs(call.decision)
            attrs.update(
                {
                    "gen_ai.tool.name": step.name,
                    "gen_ai.tool.call.id": call.call_id,
                    "gen_ai.tool.call.arguments": _args_text(call.args),
                    "agentbox.policy.tier": decision.get("tier", "red"),
                    "agentbox.policy.rule": decision.get("rule"),
                    "agentbox.policy.reason": decision.get("reason") or call.reason,
                    "agentbox.http.url": call.url,
                }
            )
        elif step.kind == "error":
            name = "exception"
            error = event if isinstance(event, ErrorEvent) else ErrorEvent(error="")
            attrs.update(
                {
                    "exception.type": step.name,
                    "exception.message": error.error or None,
                    "exception.stacktrace": error.traceback,
                }
            )
        else:
            attrs.update(_event_attrs(event))
        when = _ns(step.started_at)
        self._last_end = max(self._last_end, when + _ns(step.duration_s))
        self.root_events.append(SpanEvent(name, when, _clean(attrs)))

    # ---- the root ------------------------------------------------------------------
    def root(
        self,
        run: RunRow | None = None,
        *,
        approvals: Iterable[ApprovalRow] = (),
        extra: dict[str, AttrValue] | None = None,
    ) -> Span:
        """The ``invoke_agent`` root span (call after the last step; ``run``: a fresher
        row of the same run, e.g. re-read once it ended)."""
        run = run or self.run
        data = self.redact(run_json(run))
        c = run.counters
        start = _ns(run.started_at)
        end = max(_ns(run.ended_at) if run.ended_at else 0, self._last_end, start)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": run.scenario,
            "gen_ai.agent.id": run.id,
            "gen_ai.conversation.id": run.id,
            "gen_ai.provider.name": provider_of(run.model),
            "gen_ai.request.model": run.model,
            "gen_ai.usage.input_tokens": int(c.get("input_tokens", 0)),
            "gen_ai.usage.output_tokens": int(c.get("output_tokens", 0)),
            "openinference.span.kind": "AGENT",
            "llm.token_count.prompt": int(c.get("input_tokens", 0)),
            "llm.token_count.completion": int(c.get("output_tokens", 0)),
            "llm.token_count.total": int(c.get("input_tokens", 0)) + int(c.get("output_tokens", 0)),
            "session.id": run.id,
            "input.value": data.get("input"),
            "output.value": data.get("output"),
            "agentbox.run.id": run.id,
            "agentbox.scenario": run.scenario,
            "agentbox.sandbox": run.sandbox,
            "agentbox.mode": run.mode,
            "agentbox.agent": run.agent,
            "agentbox.status": run.status,
            "agentbox.reason": data.get("reason"),
            "agentbox.passed": run.passed,
            "agentbox.fork.parent": run.parent_id,
            "agentbox.fork.step": run.fork_step,
            "agentbox.replay_of": run.replay_of,
            "agentbox.cost_usd": None if c.get("cost_unknown") else c.get("cost_usd"),
        }
        if self.full:
            attrs["agentbox.run"] = _json(data)
            approvals = list(approvals)
            if approvals:
                attrs["agentbox.approvals"] = _json(
                    [self.redact(dataclasses.asdict(a)) for a in approvals]
                )
        attrs.update(extra or {})
        failed = run.status == "failed"
        return Span(
            self.trace_id,
            self.root_id,
            None,
            f"invoke_agent {run.scenario}",
            "INTERNAL",
            start,
            end,
            _clean(attrs),
            sorted(self.root_events, key=lambda e: e.time_ns),
            "ERROR" if failed else ("OK" if run.status == "completed" else "UNSET"),
            str(run.reason or "") if failed else "",
        )


def run_spans(
    run: RunRow,
    steps: list[StepRow],
    approvals: Iterable[ApprovalRow] = (),
    *,
    redact: Callable[[Any], Any] | None = None,
    full: bool = True,
    extra: dict[str, AttrValue] | None = None,
) -> list[Span]:
    """Every span of a stored run, the root first (see the module docstring).

    Args:
        run, steps: the stored run and its steps in order.
        approvals: the run's approval rows (carried on the root when ``full``).
        redact: applied to steps and run before mapping.
        full: carry ``agentbox.step`` / ``agentbox.run`` for an exact round trip.
        extra: more root attributes (e.g. ``agentbox.checkpoints``).
    """
    builder = SpanBuilder(run, redact, full=full)
    children = [s for s in (builder.add(step) for step in steps) if s is not None]
    return [builder.root(approvals=approvals, extra=extra), *children]
