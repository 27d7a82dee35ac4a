"""Traces in and out: agentbox runs as OpenTelemetry spans, and traces back into runs.

- :mod:`agentbox.otel.spans` maps a stored run to spans (pure: no OpenTelemetry import);
- :mod:`agentbox.otel.otlp_json` writes and reads OTLP JSON (one span per line) and the
  span shapes Phoenix and other OpenInference tools export;
- :mod:`agentbox.otel.exporter` sends spans to a collector with the OpenTelemetry SDK
  (imported lazily: it is an optional dependency, the ``otel`` extra);
- :mod:`agentbox.otel.importer` turns traces into stored runs;
- :mod:`agentbox.suites.imported` exports an imported run as a suite case that serves the
  recorded tool results (:mod:`agentbox.otel.recorded`).

Nothing here prints; the CLI (``agentbox export-traces``, ``agentbox import``) does.
"""
