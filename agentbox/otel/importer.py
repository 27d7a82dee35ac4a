"""Traces into stored runs (``agentbox import FILE``).

Two kinds of trace:

- **agentbox's own** (a root span carrying ``agentbox.run``, as ``agentbox export-traces``
  writes): the run row, every step (from each span's and root event's ``agentbox.step``),
  its approvals and state blobs are stored exactly as they were -- the JSONL round trip.
- **production traces** (OpenInference or GenAI-convention spans from Phoenix, Langfuse, a
  collector): each trace becomes a run marked imported (``options.origin``); LLM spans
  become ``llm`` steps (request messages, response text, tool calls, tokens), TOOL spans
  ``tool`` steps (arguments, result), other spans below the root ``note`` steps, and a
  ``final`` step ends the run. Such a run has no sandbox: ``agentbox export`` turns it
  into a case that serves the recorded tool results (:mod:`agentbox.suites.imported`).

Every write goes through the project's redactor, as the runner's do. Runs already in the
store are skipped (imports are idempotent: ids derive from the trace id).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from agentbox.errors import StoreError
from agentbox.otel.otlp_json import ReadSpan, read_spans
from agentbox.otel.spans import Span
from agentbox.redact import RedactedWrites, Redactor
from agentbox.store import StepRow, TraceStore

RECORDED_SANDBOX = "recorded"
"""The sandbox name of an imported production run (it has none: tools were real)."""


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        runs: ``(run id, scenario, steps, how)`` per stored run (``how``: ``agentbox`` or
            the source format). existing: run ids already in the store (not rewritten).
        skipped: what could not be read or stored (``line N, span ID: why``).
    """

    runs: list[tuple[str, str, int, str]] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _ns_s(ns: int) -> float:
    return ns / 1e9


def _loads(value: Any, default: Any = None) -> Any:
    if not isinstance(value, str):
        return value if value is not None else default
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return default


def _exists(store: TraceStore, run_id: str) -> bool:
    try:
        return store.get_run(run_id).id == run_id
    except StoreError:
        return False


# ---- agentbox's own traces -----------------------------------------------------------
def _import_native(
    store: TraceStore, raw: TraceStore, root: ReadSpan, spans: list[ReadSpan], report: ImportReport
) -> None:
    attrs = root.span.attributes
    run = _loads(attrs.get("agentbox.run"))
    if not isinstance(run, dict) or "id" not in run:
        report.skipped.append(
            f"line {root.line}, span {root.span.span_id}: agentbox.run unreadable"
        )
        return
    if _exists(store, run["id"]):
        report.existing.append(run["id"])
        return
    steps: dict[int, dict[str, Any]] = {}
    carriers = [s.span.attributes for s in spans] + [e.attributes for e in root.span.events]
    for where, carrier in zip(spans + [root] * len(root.span.events), carriers, strict=True):
        text = carrier.get("agentbox.step")
        if text is None:
            continue
        step = _loads(text)
        if not isinstance(step, dict) or "idx" not in step:
            report.skipped.append(
                f"line {where.line}, span {where.span.span_id}: agentbox.step unreadable"
            )
            continue
        steps[int(step["idx"])] = step
    for digest, value in (_loads(attrs.get("agentbox.blobs"), {}) or {}).items():
        raw.put_blob(digest, value)
    run.pop("pid", None)
    store.create_run(**run, pid=None)
    for point in _loads(attrs.get("agentbox.checkpoints"), []) or []:
        raw.add_checkpoint(run["id"], int(point["step"]), point["hash"], point.get("note") or "")
    for idx in sorted(steps):
        store.add_step(StepRow(**steps[idx]))
    for a in _loads(attrs.get("agentbox.approvals"), []) or []:
        store.add_approval(
            a["id"], a["run_id"], a["step"], a["tool"], a["args"], a.get("rule"), a.get("reason")
        )
        if a.get("status") != "pending":
            store.decide_approval(
                a["id"],
                a["status"],
                by=a.get("decided_by") or "imported",
                reason=a.get("decision_reason"),
                edited_args=a.get("edited_args"),
            )
    report.runs.append((run["id"], str(run.get("scenario")), len(steps), "agentbox"))


# ---- production traces -----------------------------------------------------------------
def span_kind(span: Span) -> str:
    """``LLM``, ``TOOL``, ``AGENT`` or the span's OpenInference kind (``CHAIN``, ...)."""
    a = span.attributes
    kind = str(a.get("openinference.span.kind") or "").upper()
    if kind:
        return kind
    op = str(a.get("gen_ai.operation.name") or "")
    if op in ("chat", "text_completion", "generate_content"):
        return "LLM"
    if op == "execute_tool":
        return "TOOL"
    if op in ("invoke_agent", "create_agent"):
        return "AGENT"
    return "UNKNOWN"


def _indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Objects under ``prefix.N.`` keys, in index order (``{rest: value}`` each)."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix + "."):
            continue
        index, _, rest = key[len(prefix) + 1 :].partition(".")
        if index.isdigit() and rest:
            found.setdefault(int(index), {})[rest] = value
    return [found[i] for i in sorted(found)]


def _oi_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    out = []
    for m in _indexed(attrs, prefix):
        message: dict[str, Any] = {"role": str(m.get("message.role", "user"))}
        content = m.get("message.content")
        if content is None:  # content parts: message.contents.N.message_content.text
            texts = [
                str(v)
                for k, v in sorted(m.items())
                if k.startswith("message.contents.") and k.endswith(".text")
            ]
            content = "".join(texts) if texts else None
        message["content"] = content
        if m.get("message.tool_call_id"):
            message["tool_call_id"] = str(m["message.tool_call_id"])
        calls = _indexed({k.removeprefix("message."): v for k, v in m.items()}, "tool_calls")
        if calls:
            message["tool_calls"] = [
                {
                    "id": str(c.get("tool_call.id") or f"call_{i}"),
                    "type": "function",
                    "function": {
                        "name": str(c.get("tool_call.function.name", "")),
                        "arguments": _arg_text(c.get("tool_call.function.arguments", "{}")),
                    },
                }
                for i, c in enumerate(calls)
            ]
        out.append(message)
    return out


def _arg_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _genai_messages(value: Any) -> list[dict[str, Any]]:
    """GenAI ``gen_ai.input.messages`` (parts) or OpenAI-shaped messages, as OpenAI messages."""
    items = _loads(value, [])
    if isinstance(items, dict):
        items = items.get("messages", [])
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if "parts" not in item:
            out.append(item)
            continue
        role = str(item.get("role", "user"))
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        reasoning: list[str] = []
        for part in item.get("parts") or []:
            kind = part.get("type")
            if kind == "text":
                texts.append(str(part.get("content", "")))
            elif kind == "reasoning":
                reasoning.append(str(part.get("content", "")))
            elif kind == "tool_call":
                calls.append(
                    {
                        "id": str(part.get("id") or f"call_{len(calls)}"),
                        "type": "function",
                        "function": {
                            "name": str(part.get("name", "")),
                            "arguments": _arg_text(part.get("arguments") or {}),
                        },
                    }
                )
            elif kind == "tool_call_response":
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": str(part.get("id", "")),
                        "content": _arg_text(part.get("response", "")),
                    }
                )
        if role == "tool" and not texts:
            continue
        message: dict[str, Any] = {"role": role, "content": "".join(texts) or None}
        if calls:
            message["tool_calls"] = calls
        if reasoning:
            message["reasoning"] = "".join(reasoning)
        out.append(message)
    return out


def _input_messages(a: dict[str, Any]) -> list[dict[str, Any]]:
    messages = _oi_messages(a, "llm.input_messages")
    if not messages and "gen_ai.input.messages" in a:
        messages = _genai_messages(a["gen_ai.input.messages"])
    if not messages and a.get("input.value") is not None:
        parsed = _loads(a["input.value"])
        if isinstance(parsed, dict) and isinstance(parsed.get("messages"), list):
            messages = [m for m in parsed["messages"] if isinstance(m, dict)]
        else:
            messages = [{"role": "user", "content": str(a["input.value"])}]
    return messages


def _output_message(a: dict[str, Any]) -> dict[str, Any]:
    messages = _oi_messages(a, "llm.output_messages")
    if not messages and "gen_ai.output.messages" in a:
        messages = _genai_messages(a["gen_ai.output.messages"])
    if messages:
        return messages[-1]
    value = a.get("output.value")
    parsed = _loads(value)
    if isinstance(parsed, dict) and parsed.get("role") == "assistant":
        return parsed
    return {"role": "assistant", "content": None if value is None else str(value)}


def _shared(a: list[Any], b: list[Any]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class _Foreign:
    """Builds one imported run from a production trace."""

    def __init__(self, trace_id: str, spans: list[ReadSpan], source: str) -> None:
        self.trace_id = trace_id
        self.spans = sorted(spans, key=lambda s: (s.span.start_ns, s.span.end_ns))
        ids = {s.span.span_id for s in spans}
        roots = [s for s in self.spans if not s.span.parent_id or s.span.parent_id not in ids]
        self.root = roots[0]
        self.source = source
        self.run_id = hashlib.sha256(f"agentbox-import:{trace_id}".encode()).hexdigest()[:10]
        self.steps: list[StepRow] = []
        self.counters: dict[str, Any] = {
            "steps": 0,
            "tool_calls": 0,
            "model_calls": 0,
            "invalid_tool_calls": 0,
            "tool_errors": 0,
            "holds": 0,
            "blocks": 0,
            "approvals": 0,
            "denials": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
            "cost_unknown": 0,
            "elapsed_s": 0.0,
        }
        self.model: str | None = None
        self.first_request: list[dict[str, Any]] | None = None
        self.last_text: str | None = None
        self._previous: list[dict[str, Any]] = []
        self._open_calls: list[dict[str, Any]] = []

    def _add(self, step: StepRow) -> None:
        self.counters["steps"] += 1
        self.counters["elapsed_s"] = _ns_s(step_end(step) - self.root.span.start_ns)
        step.counters = dict(self.counters)
        self.steps.append(step)

    def _llm(self, s: Span) -> None:
        a = s.attributes
        messages = _input_messages(a)
        out = _output_message(a)
        model = str(
            a.get("llm.model_name")
            or a.get("gen_ai.response.model")
            or a.get("gen_ai.request.model")
            or ""
        )
        self.model = self.model or model or None
        if self.first_request is None:
            self.first_request = messages
        tin = _int(a.get("llm.token_count.prompt", a.get("gen_ai.usage.input_tokens")))
        tout = _int(a.get("llm.token_count.completion", a.get("gen_ai.usage.output_tokens")))
        cost = a.get("llm.cost.total")
        cost = float(cost) if isinstance(cost, int | float) else None
        calls = []
        for c in out.get("tool_calls") or []:
            fn = c.get("function", {})
            arguments = _loads(fn.get("arguments"), fn.get("arguments"))
            calls.append({"id": c.get("id"), "name": fn.get("name"), "arguments": arguments})
        self._open_calls += calls
        tools: list[str] = []
        schemas: dict[str, Any] = {}  # OpenInference may carry each tool's whole schema
        for t in _indexed(a, "llm.tools"):
            schema = _loads(t.get("tool.json_schema"), {})
            fn = (schema.get("function") or schema) if isinstance(schema, dict) else {}
            name = t.get("tool.name") or fn.get("name")
            if not name:
                continue
            tools.append(str(name))
            if isinstance(fn.get("parameters"), dict):
                schemas[str(name)] = {
                    "description": str(fn.get("description") or t.get("tool.description") or ""),
                    "parameters": fn["parameters"],
                }
        shared = _shared(self._previous, messages)
        self._previous = messages
        response = {
            "text": out.get("content"),
            "reasoning": out.get("reasoning") or a.get("agentbox.reasoning"),
            "tool_calls": calls,
            "input_tokens": tin,
            "output_tokens": tout,
            "cost_usd": cost,
            "model": model,
        }
        message: dict[str, Any] = {"role": "assistant", "content": out.get("content")}
        if calls:
            message["tool_calls"] = out["tool_calls"]
        self.last_text = out.get("content") or self.last_text
        c = self.counters
        c["model_calls"] += 1
        c["input_tokens"] += tin
        c["output_tokens"] += tout
        if cost is None:
            c["cost_unknown"] += 1
        else:
            c["cost_usd"] += cost
        self._add(
            StepRow(
                self.run_id,
                len(self.steps),
                "llm",
                model or "unknown",
                "ok",
                _ns_s(s.end_ns),
                _ns_s(s.end_ns - s.start_ns),
                data={
                    "response": response,
                    "request": {
                        "hash": None,
                        "prefix": shared,
                        "delta": messages[shared:],
                        "tools": tools,
                    },
                    "span_id": s.span_id,
                    **({"tool_schemas": schemas} if schemas else {}),
                },
                message=message,
                input_tokens=tin,
                output_tokens=tout,
                cost_usd=cost,
            )
        )

    def _tool(self, s: Span) -> None:
        a = s.attributes
        name = str(
            a.get("tool.name")
            or a.get("gen_ai.tool.name")
            or a.get("tool_call.function.name")
            or s.name.removeprefix("execute_tool ").strip()
            or "tool"
        )
        raw_args = a.get(
            "tool_call.function.arguments",
            a.get("gen_ai.tool.call.arguments", a.get("tool.parameters", a.get("input.value"))),
        )
        args = _loads(raw_args, raw_args)
        if not isinstance(args, dict):
            args = {} if args in (None, "") else {"input": args}
        call_id = a.get("gen_ai.tool.call.id") or a.get("tool_call.id")
        if not call_id:  # pair with the model's call of this tool
            match = next((c for c in self._open_calls if c.get("name") == name), None)
            call_id = match.get("id") if match else None
        self._open_calls = [c for c in self._open_calls if c.get("id") != call_id]
        call_id = str(call_id or f"call_{len(self.steps)}")
        result = a.get("gen_ai.tool.call.result", a.get("output.value"))
        status = "error" if s.status == "ERROR" else "ok"
        if result is None:
            result = f"Error: {s.status_message}" if status == "error" else ""
        result = result if isinstance(result, str) else json.dumps(result)
        data: dict[str, Any] = {
            "tool": name,
            "call_id": call_id,
            "args": args,
            "effect": "read",
            "valid": True,
            "result": result,
            "span_id": s.span_id,
        }
        if status == "ok" and _loads(result) is not None and not isinstance(_loads(result), str):
            data["value_is_json"] = True
        self.counters["tool_calls"] += 1
        if status == "error":
            self.counters["tool_errors"] += 1
        self._add(
            StepRow(
                self.run_id,
                len(self.steps),
                "tool",
                name,
                status,
                _ns_s(s.start_ns),
                _ns_s(s.end_ns - s.start_ns),
                data=data,
                message={"role": "tool", "tool_call_id": call_id, "content": result},
            )
        )

    def _note(self, s: Span) -> None:
        attrs = {k: v for k, v in s.attributes.items() if len(str(v)) <= 2000}
        self._add(
            StepRow(
                self.run_id,
                len(self.steps),
                "note",
                s.name or "span",
                "ok",
                _ns_s(s.start_ns),
                _ns_s(s.end_ns - s.start_ns),
                data={
                    "span_kind": span_kind(s),
                    "status": s.status,
                    "span_id": s.span_id,
                    "attributes": attrs,
                },
            )
        )

    def build(self) -> dict[str, Any]:
        """The run row fields (steps in ``self.steps``)."""
        root = self.root.span
        for read in self.spans:
            s = read.span
            kind = span_kind(s)
            if kind == "LLM":
                self._llm(s)
            elif kind == "TOOL":
                self._tool(s)
            elif s is not root:
                self._note(s)
        a = root.attributes
        request = self.first_request or []
        system = "\n\n".join(
            str(m.get("content") or "") for m in request if m.get("role") == "system"
        )
        users = [m for m in request if m.get("role") == "user"]
        input_text = str(a.get("input.value") or (users[0].get("content") if users else "") or "")
        parsed = _loads(input_text)
        if isinstance(parsed, dict) and isinstance(parsed.get("messages"), list):
            input_text = str(users[0].get("content") if users else "")
        output = a.get("output.value") if span_kind(root) in ("AGENT", "CHAIN") else None
        output = str(output) if output is not None else self.last_text
        failed = root.status == "ERROR"
        status = "failed" if failed else "completed"
        reason = (
            (root.status_message or "the trace's root span has status ERROR") if failed else None
        )
        self._add(
            StepRow(
                self.run_id,
                len(self.steps),
                "final",
                status,
                status,
                _ns_s(root.end_ns),
                data={"output": output, "reason": reason},
            )
        )
        name = str(a.get("gen_ai.agent.name") or root.name or "imported").removeprefix(
            "invoke_agent "
        )
        scenario = (
            "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-")
            or "imported"
        )
        agent: dict[str, Any] = {"type": "llm", "model": self.model or "scripted"}
        if system:
            agent["system"] = system
        origin = {
            "kind": "imported",
            "format": self.source,
            "trace_id": self.trace_id,
            "root_span": root.name,
            "service": self.root.resource.get("service.name"),
            "line": self.root.line,
        }
        return {
            "id": self.run_id,
            "scenario": scenario,
            "scenario_path": None,
            "scenario_json": {
                "name": scenario,
                "sandbox": RECORDED_SANDBOX,
                "mode": "execute",
                "agent": agent,
                "input": input_text,
            },
            "sandbox": RECORDED_SANDBOX,
            "sandbox_path": None,
            "mode": "execute",
            "agent": "llm",
            "model": self.model,
            "status": status,
            "reason": reason,
            "input": input_text,
            "output": output,
            "started_at": _ns_s(root.start_ns),
            "ended_at": _ns_s(root.end_ns),
            "messages": [m for m in request if m.get("role") in ("system", "user")][:2],
            "counters": self.counters,
            "expectations": None,
            "passed": not failed,  # as a run without expectations: passed when completed
            "options": {"origin": {k: v for k, v in origin.items() if v is not None}},
            "pid": None,
        }


def step_end(step: StepRow) -> int:
    """A step's end in ns (``llm`` steps are stored at their end)."""
    end = step.started_at if step.kind == "llm" else step.started_at + (step.duration_s or 0.0)
    return int(end * 1e9)


def is_imported(options: dict[str, Any]) -> bool:
    """Whether a run's options mark it as imported from a production trace."""
    origin = options.get("origin")
    return isinstance(origin, dict) and origin.get("kind") == "imported"


def _format_of(spans: list[ReadSpan]) -> str:
    keys = {k for s in spans for k in s.span.attributes}
    if any(k.startswith(("llm.", "openinference.")) for k in keys):
        return "openinference"
    if any(k.startswith("gen_ai.") for k in keys):
        return "genai"
    return "otlp"


def import_traces(
    store: TraceStore, path: Path, redactor: Redactor | Callable[[Any], Any] | None = None
) -> ImportReport:
    """Store every trace of a file as a run (see the module docstring).

    Args:
        store: where runs go. path: the trace file (OTLP JSON lines, an OTLP JSON
            document, or OpenInference span objects). redactor: applied to every write.

    Raises:
        OSError: the file cannot be read. (Bad content is reported, never raised.)
    """
    read = read_spans(path)
    report = ImportReport(skipped=list(read.skipped))
    writer = cast(TraceStore, RedactedWrites(store, redactor or Redactor()))  # type: ignore[arg-type]
    traces: dict[str, list[ReadSpan]] = {}
    for s in read.spans:
        traces.setdefault(s.span.trace_id, []).append(s)
    for trace_id, spans in traces.items():
        root = next((s for s in spans if "agentbox.run" in s.span.attributes), None)
        try:
            if root is not None:
                others = [s for s in spans if s is not root]
                _import_native(writer, store, root, others, report)
                continue
            foreign = _Foreign(trace_id, spans, _format_of(spans))
            if _exists(store, foreign.run_id):
                report.existing.append(foreign.run_id)
                continue
            fields = foreign.build()
            writer.create_run(**fields)
            for step in foreign.steps:
                writer.add_step(step)
            report.runs.append(
                (foreign.run_id, fields["scenario"], len(foreign.steps), foreign.source)
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            line = spans[0].line
            report.skipped.append(
                f"line {line}, trace {trace_id}: cannot import ({type(exc).__name__}: {exc})"
            )
    return report
