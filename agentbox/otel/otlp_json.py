"""OTLP JSON out, and the span files other tools write in.

Written: one OTLP JSON ``TracesData`` object per line, each holding one span
(``{"resourceSpans": [{"resource": ..., "scopeSpans": [{"scope": ..., "spans": [span]}]}]}``),
encoded as the OTLP/JSON spec says (hex ids, integer enums, 64-bit integers as strings).
That is the OpenTelemetry collector's file-exporter format, so a collector's
``otlpjsonfile`` receiver reads what ``agentbox export-traces --to f.jsonl`` writes.

Read (:func:`read_spans`): the same format with any number of spans per line (collector
file exports), a whole pretty-printed OTLP JSON document, and the flat span objects
Phoenix and other OpenInference tools export (``{"name", "context": {"trace_id",
"span_id"}, "parent_id", "span_kind", "start_time", "end_time", "status_code",
"attributes": {...}, "events": [...]}``, one per line, as a JSON list, or under
``"data"``; nested attributes are flattened to OpenInference's dotted keys, so
``{"llm": {"input_messages": [{"message": {...}}]}}`` reads as
``llm.input_messages.0.message.role``). Whatever cannot be read is reported, with its line
number and span id, and skipped.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbox.otel.spans import SCOPE, Span, SpanEvent

KINDS = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
STATUS = ["UNSET", "OK", "ERROR"]


# ---- writing -------------------------------------------------------------------------
def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list | tuple):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": str(v)}


def _attributes(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in attrs.items()]


def span_json(span: Span) -> dict[str, Any]:
    """One span in OTLP JSON form."""
    out: dict[str, Any] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": KINDS.index(span.kind) if span.kind in KINDS else 1,
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": _attributes(span.attributes),
    }
    if span.parent_id:
        out["parentSpanId"] = span.parent_id
    if span.events:
        out["events"] = [
            {
                "timeUnixNano": str(e.time_ns),
                "name": e.name,
                "attributes": _attributes(e.attributes),
            }
            for e in span.events
        ]
    status: dict[str, Any] = {}
    if span.status != "UNSET":
        status["code"] = STATUS.index(span.status)
    if span.status_message:
        status["message"] = span.status_message
    out["status"] = status
    return out


def traces_data(spans: list[Span], resource: dict[str, Any], version: str = "") -> dict[str, Any]:
    """An OTLP JSON ``TracesData`` object holding ``spans`` under one resource and scope."""
    scope: dict[str, Any] = {"name": SCOPE}
    if version:
        scope["version"] = version
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource)},
                "scopeSpans": [{"scope": scope, "spans": [span_json(s) for s in spans]}],
            }
        ]
    }


def jsonl_lines(spans: list[Span], resource: dict[str, Any], version: str = "") -> list[str]:
    """One compact OTLP JSON line per span."""
    return [
        json.dumps(traces_data([s], resource, version), separators=(",", ":"), ensure_ascii=False)
        for s in spans
    ]


# ---- reading -------------------------------------------------------------------------
@dataclass
class ReadSpan:
    """A span read from a file: the span, its line (0: unknown), its resource attributes."""

    span: Span
    line: int
    resource: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReadResult:
    """Spans read from a file and what was skipped (``line N[, span ID]: why``)."""

    spans: list[ReadSpan] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Bad(ValueError):
    pass


def _any_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "arrayValue" in v:
        return [_any_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return {
            kv["key"]: _any_value(kv.get("value"))
            for kv in (v["kvlistValue"] or {}).get("values", [])
        }
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def _kv_attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if isinstance(items, dict):  # some writers use a plain map
        return flatten(items)
    if not isinstance(items, list):
        raise _Bad("attributes is not a list")
    out: dict[str, Any] = {}
    for kv in items:
        if not isinstance(kv, dict) or "key" not in kv:
            raise _Bad("an attribute has no key")
        out[str(kv["key"])] = _any_value(kv.get("value"))
    return out


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested attributes as OpenInference dotted keys (lists of objects get indices)."""
    out: dict[str, Any] = {}
    for key, v in value.items():
        name = f"{prefix}{key}"
        if isinstance(v, dict):
            out.update(flatten(v, name + "."))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, item in enumerate(v):
                out.update(flatten(item, f"{name}.{i}."))
        else:
            out[name] = v
    return out


def _hex_id(value: Any, digits: int, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _Bad(f"no {what}")
    text = value.lower().removeprefix("0x")
    if len(text) == digits and all(c in "0123456789abcdef" for c in text):
        return text
    try:  # protobuf's JSON mapping writes bytes as base64
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == digits // 2:
        return raw.hex()
    if 0 < len(text) <= digits and all(c in "0123456789abcdef" for c in text):
        return text.rjust(digits, "0")
    raise _Bad(f"{what} {value!r} is not {digits} hex digits")


def _time_ns(value: Any, what: str) -> int:
    if value is None or value == "":
        raise _Bad(f"no {what}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(f"{what} {value!r} is not a time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return round(moment.timestamp() * 1e9)


def _kind(value: Any) -> str:
    if isinstance(value, int) and 0 <= value < len(KINDS):
        return KINDS[value] if value else "INTERNAL"
    text = str(value or "INTERNAL").upper().removeprefix("SPAN_KIND_")
    return text if text in KINDS else "INTERNAL"


def _status(value: Any) -> str:
    if isinstance(value, int) and 0 <= value < len(STATUS):
        return STATUS[value]
    text = str(value or "UNSET").upper().removeprefix("STATUS_CODE_")
    return text if text in STATUS else "UNSET"


def _otlp_span(raw: Any) -> Span:
    if not isinstance(raw, dict):
        raise _Bad("a span is not an object")
    status = raw.get("status") or {}
    start = _time_ns(raw.get("startTimeUnixNano"), "startTimeUnixNano")
    parent = raw.get("parentSpanId")
    events = []
    for e in raw.get("events") or []:
        if not isinstance(e, dict):
            raise _Bad("an event is not an object")
        events.append(
            SpanEvent(
                str(e.get("name", "")),
                _time_ns(e.get("timeUnixNano") or start, "event time"),
                _kv_attributes(e.get("attributes")),
            )
        )
    return Span(
        _hex_id(raw.get("traceId"), 32, "traceId"),
        _hex_id(raw.get("spanId"), 16, "spanId"),
        _hex_id(parent, 16, "parentSpanId") if parent else None,
        str(raw.get("name", "")),
        _kind(raw.get("kind")),
        start,
        _time_ns(raw.get("endTimeUnixNano") or start, "endTimeUnixNano"),
        _kv_attributes(raw.get("attributes")),
        events,
        _status(status.get("code")),
        str(status.get("message") or ""),
    )


def _flat_span(raw: dict[str, Any]) -> Span:
    top = {k: v for k, v in raw.items() if "." not in k}
    dotted = {k: v for k, v in raw.items() if "." in k}
    context = dict(raw.get("context") or {})
    attrs = flatten(raw["attributes"]) if isinstance(raw.get("attributes"), dict) else {}
    for key, v in dotted.items():  # dataframe exports: "context.span_id", "attributes.x"
        head, _, rest = key.partition(".")
        if head == "context":
            context[rest] = v
        elif head == "attributes" and v is not None:
            attrs.update(flatten({rest: v}))
    kind = top.get("span_kind")
    if kind and "openinference.span.kind" not in attrs:
        attrs["openinference.span.kind"] = str(kind).upper()
    start = _time_ns(top.get("start_time"), "start_time")
    events = []
    for e in top.get("events") or []:
        if isinstance(e, dict):
            events.append(
                SpanEvent(
                    str(e.get("name", "")),
                    _time_ns(e.get("timestamp") or start, "event timestamp"),
                    flatten(e.get("attributes") or {}),
                )
            )
    parent = top.get("parent_id") or top.get("parent_span_id")
    return Span(
        _hex_id(context.get("trace_id") or top.get("trace_id"), 32, "trace_id"),
        _hex_id(context.get("span_id") or top.get("span_id"), 16, "span_id"),
        _hex_id(parent, 16, "parent_id") if parent else None,
        str(top.get("name", "")),
        "CLIENT" if str(kind).upper() == "LLM" else "INTERNAL",
        start,
        _time_ns(top.get("end_time") or start, "end_time"),
        attrs,
        events,
        _status(top.get("status_code")),
        str(top.get("status_message") or ""),
    )


def _span_label(raw: Any) -> str:
    if isinstance(raw, dict):
        sid = (
            raw.get("spanId")
            or (raw.get("context") or {}).get("span_id")
            or raw.get("context.span_id")
        )
        if sid:
            return f", span {sid}"
    return ""


def _collect(doc: Any, line: int, out: ReadResult) -> None:
    """Add the spans of one JSON document (a line, or the whole file)."""
    where = f"line {line}" if line else "file"
    if isinstance(doc, list):
        for item in doc:
            _collect(item, line, out)
        return
    if not isinstance(doc, dict):
        out.skipped.append(f"{where}: not a JSON object")
        return
    if "resourceSpans" in doc:
        for rs in doc.get("resourceSpans") or []:
            if not isinstance(rs, dict):
                out.skipped.append(f"{where}: a resourceSpans entry is not an object")
                continue
            try:
                resource = _kv_attributes((rs.get("resource") or {}).get("attributes"))
            except _Bad as exc:
                out.skipped.append(f"{where}: resource: {exc}")
                resource = {}
            for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
                for raw in (ss or {}).get("spans") or []:
                    try:
                        out.spans.append(ReadSpan(_otlp_span(raw), line, resource))
                    except (_Bad, TypeError, ValueError, KeyError) as exc:
                        out.skipped.append(f"{where}{_span_label(raw)}: {exc}")
        return
    if "data" in doc and isinstance(doc["data"], list):  # Phoenix REST pages
        _collect(doc["data"], line, out)
        return
    if "name" in doc and any(k in doc for k in ("context", "context.span_id", "span_id")):
        try:
            out.spans.append(ReadSpan(_flat_span(doc), line))
        except (_Bad, TypeError, ValueError, KeyError) as exc:
            out.skipped.append(f"{where}{_span_label(doc)}: {exc}")
        return
    out.skipped.append(f"{where}: neither OTLP JSON (resourceSpans) nor a span object")


def read_spans(path: Path) -> ReadResult:
    """Read every span of a trace file (see the module docstring); never raises on bad
    content (it is reported in ``skipped``).

    Raises:
        OSError: the file cannot be read.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    out = ReadResult()
    stripped = text.strip()
    if not stripped:
        out.skipped.append("file: empty")
        return out
    if "\n" in stripped and stripped[0] in "[{":
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError:
            whole = None
        if whole is not None:  # one pretty-printed document
            _collect(whole, 0, out)
            return out
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            out.skipped.append(f"line {n}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        _collect(doc, n, out)
    return out
