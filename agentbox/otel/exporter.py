"""Send spans to an OpenTelemetry collector (Phoenix, Langfuse, Jaeger, ...) over OTLP.

Uses the OpenTelemetry SDK's OTLP exporters (the ``otel`` extra). They are imported
inside functions: the SDK and protobuf take ~0.3 s to import, which ``agentbox --help``
and every command that does not export must not pay.

Targets: ``otlp+http://host:port[/path]`` (OTLP/HTTP protobuf to ``/path/v1/traces``;
also ``otlp+https://``, ``otlp://``, or a plain ``http(s)://.../v1/traces`` URL) and
``otlp+grpc://host:port``. A dead collector must not hang anything: every exporter gets
a short timeout (the SDK's default retry loop would block ~6.7 s per batch, more on
shutdown).

:class:`LiveExport` is a step observer for ``agentbox run --otlp URL``: each finished
step's span goes to a batch processor (bounded queue, background thread), the root span
when the run ends. It never raises into the run and never blocks it; a failed export
is remembered (``LiveExport.problem``) for the CLI to report once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from agentbox import __version__
from agentbox.errors import AgentboxError
from agentbox.http.guard import host_traffic
from agentbox.otel.spans import Span, SpanBuilder
from agentbox.store import StepRow, TraceStore

EXPORT_TIMEOUT_S = 3.0
"""Seconds one export call may take before it gives up (the SDK default is 10)."""

_LOGGERS = ("opentelemetry.exporter", "opentelemetry.sdk")


class CollectorError(AgentboxError):
    """The collector did not accept the spans (down, refusing, or too slow)."""


@dataclass(frozen=True)
class Target:
    """Where spans go: ``protocol`` (``http`` or ``grpc``), ``endpoint`` (the URL the
    HTTP exporter posts to, or ``host:port`` for gRPC), and the text as given."""

    protocol: str
    endpoint: str
    given: str


def parse_target(text: str) -> Target:
    """Parse an ``otlp+http://`` / ``otlp+grpc://`` target (see the module docstring).

    Raises:
        AgentboxError: not an OTLP URL.
    """
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    hint = "use otlp+http://HOST:PORT (OTLP/HTTP) or otlp+grpc://HOST:PORT, or a .jsonl file"
    if not parts.hostname:
        raise AgentboxError(f"{text!r} is not a collector URL (no host)", hint)
    if scheme in ("otlp+grpc", "grpc"):
        return Target("grpc", f"{parts.hostname}:{parts.port or 4317}", text)
    if scheme in ("otlp", "otlp+http", "otlp+https", "http", "https"):
        web = "https" if scheme.endswith("https") else "http"
        port = f":{parts.port}" if parts.port else ""
        path = parts.path.rstrip("/")
        if not path.endswith("/v1/traces"):
            path += "/v1/traces"
        return Target("http", f"{web}://{parts.hostname}{port}{path}", text)
    raise AgentboxError(f"{text!r}: unknown scheme {parts.scheme!r}", hint)


def _require_sdk() -> None:
    try:
        import opentelemetry.sdk.trace  # noqa: F401  (the SDK: ~0.3 s, imported on use)
    except ImportError:
        raise AgentboxError(
            "exporting to a collector needs the OpenTelemetry SDK, which is not installed",
            "pip install 'agentbox[otel]' (or export to a .jsonl file, which needs nothing)",
        ) from None


def make_exporter(
    target: Target, headers: dict[str, str] | None = None, timeout_s: float = EXPORT_TIMEOUT_S
) -> Any:
    """The SDK's OTLP span exporter for ``target``.

    Raises:
        AgentboxError: the ``otel`` extra is missing (or its gRPC part, for grpc).
    """
    _require_sdk()
    if target.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # the otel extra: only for --to otlp+grpc
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError:
            raise AgentboxError(
                "otlp+grpc needs opentelemetry-exporter-otlp-proto-grpc",
                "pip install 'agentbox[otel]', or use otlp+http://",
            ) from None
        return GrpcExporter(
            endpoint=target.endpoint, insecure=True, headers=headers or None, timeout=timeout_s
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )  # the otel extra: only for otlp+http

    return OTLPSpanExporter(endpoint=target.endpoint, headers=headers or None, timeout=timeout_s)


def sdk_spans(spans: list[Span], resource_attrs: dict[str, Any]) -> list[Any]:
    """Our spans as the SDK's ``ReadableSpan`` objects (ids and times kept)."""
    from opentelemetry.sdk.resources import Resource  # the otel extra: start-up cost
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    resource = Resource.create(resource_attrs)
    scope = InstrumentationScope("agentbox", __version__)
    out = []
    for s in spans:
        trace = int(s.trace_id, 16)
        context = SpanContext(trace, int(s.span_id, 16), False, TraceFlags(TraceFlags.SAMPLED))
        parent = (
            SpanContext(trace, int(s.parent_id, 16), False, TraceFlags(TraceFlags.SAMPLED))
            if s.parent_id
            else None
        )
        out.append(
            ReadableSpan(
                name=s.name,
                context=context,
                parent=parent,
                resource=resource,
                attributes=s.attributes,
                events=[Event(e.name, e.attributes, e.time_ns) for e in s.events],
                kind=SpanKind[s.kind],
                status=Status(StatusCode[s.status], s.status_message or None)
                if s.status == "ERROR"
                else Status(StatusCode[s.status]),
                start_time=s.start_ns,
                end_time=s.end_ns,
                instrumentation_scope=scope,
            )
        )
    return out


@contextlib.contextmanager
def quiet_sdk() -> Iterator[None]:
    """Keep the SDK's own log lines (retries, connection errors) off the terminal."""
    loggers = [logging.getLogger(n) for n in _LOGGERS]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.propagate = propagate


def send(
    spans: list[Span],
    target: Target,
    resource_attrs: dict[str, Any],
    headers: dict[str, str] | None = None,
    timeout_s: float = EXPORT_TIMEOUT_S,
) -> None:
    """Export spans in one call and wait for the answer.

    Raises:
        CollectorError: the collector did not accept them (down, refused, timed out).
        AgentboxError: the ``otel`` extra is not installed.
    """
    exporter = make_exporter(target, headers, timeout_s)
    from opentelemetry.sdk.trace.export import SpanExportResult  # the otel extra

    try:
        with quiet_sdk(), host_traffic():
            result = exporter.export(sdk_spans(spans, resource_attrs))
    finally:
        with quiet_sdk():
            exporter.shutdown()
    if result is not SpanExportResult.SUCCESS:
        raise CollectorError(
            f"the collector at {target.given} did not accept the spans (down, refusing, or "
            f"no answer within {timeout_s:g} s)",
            "start the collector (e.g. `phoenix serve`) or check the URL; "
            "--to FILE.jsonl writes them to a file instead",
        )


class LiveExport:
    """A step observer exporting a run's spans while it runs (``agentbox run --otlp``).

    Args:
        store: the run's store (the run row is read at its first step).
        target: the collector. resource_attrs: resource of the spans.
        redact: applied to every step before it leaves the process.
        timeout_s: per export call; the final flush waits at most twice this.

    Call it with each stored step (it is a runner ``on_step`` observer), then
    :meth:`finish` with the stored run once the run returned.
    """

    def __init__(
        self,
        store: TraceStore,
        target: Target,
        resource_attrs: dict[str, Any],
        redact: Callable[[Any], Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExportResult,
        )  # the otel extra

        self.store = store
        self.target = target
        self.resource_attrs = resource_attrs
        self.redact = redact
        self.timeout_s = timeout_s
        self.problem: str | None = None
        self._builder: SpanBuilder | None = None
        inner = make_exporter(target, headers, timeout_s)
        live = self

        class _Watched:  # remembers the first failure; never raises
            def export(self, spans: Any) -> Any:
                try:
                    with quiet_sdk(), host_traffic():
                        result = inner.export(spans)
                except Exception as exc:  # the exporter must never break the run
                    result = SpanExportResult.FAILURE
                    live.problem = live.problem or f"{type(exc).__name__}: {exc}"
                if result is not SpanExportResult.SUCCESS and live.problem is None:
                    live.problem = f"the collector at {target.given} did not accept spans"
                return result

            def shutdown(self) -> None:
                with quiet_sdk():
                    inner.shutdown()

            def force_flush(self, timeout_millis: int = 30000) -> bool:
                return True

        self._processor = BatchSpanProcessor(
            _Watched(),  # type: ignore[arg-type]
            max_queue_size=2048,
            schedule_delay_millis=500,
            max_export_batch_size=256,
            export_timeout_millis=timeout_s * 1000,
        )

    def _submit(self, span: Span) -> None:
        try:
            (readable,) = sdk_spans([span], self.resource_attrs)
            self._processor.on_end(readable)
        except Exception as exc:  # a mapping bug must not fail the run
            self.problem = self.problem or f"{type(exc).__name__}: {exc}"

    def __call__(self, step: StepRow) -> None:
        """Map a stored step; spans of finished llm/tool steps are queued at once."""
        if step.status == "pending":  # an intent or a hold: its outcome comes later
            return
        try:
            if self._builder is None or self._builder.run.id != step.run_id:
                self._builder = SpanBuilder(self.store.get_run(step.run_id), self.redact)
            span = self._builder.add(step)
        except Exception as exc:  # a mapping bug must not fail the run
            self.problem = self.problem or f"{type(exc).__name__}: {exc}"
            return
        if span is not None:
            self._submit(span)

    def finish(self, store: TraceStore, run_id: str) -> str | None:
        """Queue the root span, flush (bounded wait) and return the problem, if any."""
        try:
            run = store.get_run(run_id)
            if self._builder is None or self._builder.run.id != run.id:
                self._builder = SpanBuilder(run, self.redact)
            self._submit(
                self._builder.root(run, approvals=store.approvals(status=None, run_id=run.id))
            )
            with quiet_sdk():
                flushed = self._processor.force_flush(int(self.timeout_s * 2000))
                self._processor.shutdown()  # type: ignore[no-untyped-call]
            if not flushed and self.problem is None:
                self.problem = f"the collector at {self.target.given} did not answer in time"
        except Exception as exc:
            self.problem = self.problem or f"{type(exc).__name__}: {exc}"
        return self.problem
