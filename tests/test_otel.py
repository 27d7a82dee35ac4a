"""Traces in and out: runs as OpenTelemetry spans (to a real Phoenix and to JSONL), the
JSONL round trip, production traces (OpenInference) imported and replayed as cases, and
malformed trace files."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from agentbox.otel.spans import run_spans, span_id_of, trace_id_of
from agentbox.store import TraceStore

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCENARIOS = ["refund-over-limit", "bank-details-blocked", "prompt-injection"]


def _run(cli: Any, name: str) -> str:
    result = cli("run", f"scenarios/{name}.yaml", "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["run_id"])


@pytest.fixture()
def three_runs(cli: Any, store_path: Path, open_store: Any) -> list[str]:
    """A run with a hold, one with a block, one with several tool calls and blocks."""
    runs = [_run(cli, name) for name in SCENARIOS]
    store = open_store(store_path)
    counters = [store.get_run(r).counters for r in runs]
    assert counters[0]["holds"] == 1 and counters[1]["blocks"] >= 1
    assert counters[2]["tool_calls"] >= 3
    return runs


# ---- the mapping ---------------------------------------------------------------------
def test_run_maps_to_genai_and_openinference_spans(
    three_runs: list[str], store_path: Path, open_store: Any
) -> None:
    store = open_store(store_path)
    run = store.get_run(three_runs[0])  # refund-over-limit: a hold, approved
    steps = store.steps(run.id)
    spans = run_spans(run, steps, store.approvals(status=None, run_id=run.id))
    root, children = spans[0], spans[1:]
    assert root.name == "invoke_agent refund-over-limit" and root.parent_id is None
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["openinference.span.kind"] == "AGENT"
    assert root.trace_id == trace_id_of(run.id) and root.span_id == span_id_of(run.id, None)
    assert all(s.parent_id == root.span_id and s.trace_id == root.trace_id for s in children)
    llm = [s for s in steps if s.kind == "llm"]
    chats = [s for s in children if s.name == "chat scripted"]
    assert len(chats) == len(llm)
    first = chats[0].attributes
    assert first["gen_ai.operation.name"] == "chat" and chats[0].kind == "CLIENT"
    assert first["gen_ai.usage.input_tokens"] == llm[0].input_tokens
    assert first["llm.token_count.completion"] == llm[0].output_tokens
    assert first["llm.input_messages.1.message.role"] == "user"
    assert (
        first["llm.output_messages.0.message.tool_calls.0.tool_call.function.name"] == "get_order"
    )
    tools = [s for s in children if s.name.startswith("execute_tool ")]
    assert [s.attributes["gen_ai.tool.name"] for s in tools] == [
        "get_order",
        "create_refund",
        "add_ticket_note",
    ]
    refund = tools[1]
    assert refund.attributes["openinference.span.kind"] == "TOOL"
    assert refund.attributes["agentbox.policy.tier"] == "yellow"
    assert refund.attributes["agentbox.policy.rule"] == "big-refund"
    assert "/refunds/ref_0001" in str(refund.attributes["agentbox.state.patch"])
    assert json.loads(str(refund.attributes["gen_ai.tool.call.arguments"]))["amount_usd"] == 240
    assert [e.name for e in refund.events] == ["agentbox.policy"]
    approval = [e for e in root.events if e.name == "agentbox.approval"]
    assert len(approval) == 1 and approval[0].attributes["agentbox.step.status"] == "approved"
    # timings come from the store: every child inside the root, in step order
    assert all(root.start_ns <= s.start_ns <= s.end_ns <= root.end_ns for s in children)
    assert [s.start_ns for s in children] == sorted(s.start_ns for s in children)
    # the same run maps to the same ids and attributes every time
    again = run_spans(run, steps, store.approvals(status=None, run_id=run.id))
    assert [dataclasses.asdict(s) for s in again] == [dataclasses.asdict(s) for s in spans]


def test_blocks_become_root_events(
    three_runs: list[str], store_path: Path, open_store: Any
) -> None:
    store = open_store(store_path)
    run = store.get_run(three_runs[1])  # bank-details-blocked
    spans = run_spans(run, store.steps(run.id))
    blocks = [e for e in spans[0].events if e.name == "agentbox.policy.block"]
    assert len(blocks) == run.counters["blocks"] >= 1
    assert blocks[0].attributes["gen_ai.tool.name"] == "update_bank_details"
    assert blocks[0].attributes["agentbox.policy.tier"] == "red"
    assert not any(s.name == "execute_tool update_bank_details" for s in spans)


def test_cli_import_does_not_load_opentelemetry() -> None:
    code = (
        "import sys, agentbox.cli, agentbox.otel.spans, agentbox.otel.importer;"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'google.protobuf'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- JSONL round trip ----------------------------------------------------------------
def _comparable_run(store: TraceStore, run_id: str) -> dict[str, Any]:
    row = dataclasses.asdict(store.get_run(run_id))
    row.pop("pid")  # the process that ran it, not part of the run
    return row


def test_jsonl_round_trip_reproduces_runs(
    cli: Any, three_runs: list[str], store_path: Path, tmp_path: Path, open_store: Any
) -> None:
    out = tmp_path / "runs.jsonl"
    result = cli("export-traces", *three_runs, "--to", str(out))
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    first = json.loads(lines[0])
    assert first["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"].startswith("invoke_agent")
    other = tmp_path / "other.db"
    result = cli("import", str(out), "--store", str(other))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("imported ") == 3
    original, copy = open_store(store_path), open_store(other)
    fields = ("kind", "name", "status", "data", "message", "input_tokens", "output_tokens")
    for run_id in three_runs:
        assert _comparable_run(copy, run_id) == _comparable_run(original, run_id)
        a, b = original.steps(run_id), copy.steps(run_id)
        assert len(a) == len(b) > 3
        for x, y in zip(a, b, strict=True):
            for f in (*fields, "cost_usd", "patch", "started_at", "duration_s", "counters"):
                assert getattr(x, f) == getattr(y, f), (run_id, x.idx, f)
        strip = ("requested_at", "decided_at")
        assert [
            {k: v for k, v in dataclasses.asdict(r).items() if k not in strip}
            for r in copy.approvals(status=None, run_id=run_id)
        ] == [
            {k: v for k, v in dataclasses.asdict(r).items() if k not in strip}
            for r in original.approvals(status=None, run_id=run_id)
        ]
    # the copy is a full run: its state at any step and its case export work
    result = cli("show", three_runs[0], "--step", "4", "--state", "--store", str(other))
    assert result.exit_code == 0 and "ref_0001" in result.stdout
    result = cli("export", three_runs[0], "--suite", str(tmp_path / "s"), "--store", str(other))
    assert result.exit_code == 0, result.output
    # importing again changes nothing
    result = cli("import", str(out), "--store", str(other))
    assert result.exit_code == 0 and "already in the store" in result.stdout


def test_export_redacts_secrets(cli: Any, three_runs: list[str], tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    # values in the stored run (its input) and its state (a seed record) become secrets
    # of the exporting environment
    secrets = {"SHOP_API_KEY": "arrived damaged", "CRM_TOKEN": "Hiroshi Brown"}
    before = cli("export-traces", three_runs[0], "--to", str(out))
    assert all(v in out.read_text() for v in secrets.values()), before.output
    result = cli("export-traces", three_runs[0], "--to", str(out), env=secrets)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert not any(v in text for v in secrets.values()) and "[redacted]" in text


def test_export_to_a_dead_collector_fails_cleanly(cli: Any, three_runs: list[str]) -> None:
    port = _free_port()
    result = cli(
        "export-traces", three_runs[0], "--to", f"otlp+http://127.0.0.1:{port}", "--timeout", "1"
    )
    assert result.exit_code == 1
    assert "did not accept the spans" in result.output and "Traceback" not in result.output
    result = cli("export-traces", three_runs[0], "--to", "ftp://x")
    assert result.exit_code == 2 and "unknown scheme" in result.output


# ---- production traces ---------------------------------------------------------------
def test_openinference_trace_becomes_a_case_that_replays_offline(
    cli: Any, store_path: Path, tmp_path: Path, open_store: Any
) -> None:
    result = cli("import", str(FIXTURES / "openinference-refund.jsonl"))
    assert result.exit_code == 0, result.output
    run_id = result.stdout.split()[1]
    store = open_store(store_path)
    run = store.get_run(run_id)
    assert run.options["origin"]["kind"] == "imported"
    assert run.options["origin"]["format"] == "openinference"
    assert (run.status, run.model) == ("completed", "gpt-4o-mini-2024-07-18")
    assert run.input == "Order A-1001 arrived broken. I'd like my $89.50 back."
    steps = store.steps(run.id)
    assert [(s.kind, s.name) for s in steps] == [
        ("note", "moderation"),
        ("llm", "gpt-4o-mini-2024-07-18"),
        ("tool", "lookup_order"),
        ("llm", "gpt-4o-mini-2024-07-18"),
        ("tool", "issue_refund"),
        ("llm", "gpt-4o-mini-2024-07-18"),
        ("final", "completed"),
    ]
    assert steps[1].data["response"]["tool_calls"][0]["arguments"] == {"order_id": "A-1001"}
    assert steps[1].input_tokens == 182 and steps[5].output_tokens == 19
    assert steps[4].data["args"] == {"order_id": "A-1001", "amount_usd": 89.5}
    assert json.loads(steps[4].data["result"])["refund_id"] == "rf_77"
    assert steps[4].data["call_id"] == "call_a2"
    assert steps[3].data["request"]["delta"][-1]["role"] == "tool"

    suite = tmp_path / "prod"
    result = cli("export", run_id, "--suite", str(suite), "--name", "refund-a1001")
    assert result.exit_code == 0, result.output
    case = suite / "refund-a1001.yaml"
    recorded = json.loads((suite / ".recorded" / "refund-a1001" / "recorded.json").read_text())
    assert recorded["tools"][1]["name"] == "issue_refund"  # with the trace's schema
    assert recorded["tools"][1]["parameters"]["required"] == ["order_id", "amount_usd"]
    assert [c["tool"] for c in recorded["calls"]] == ["lookup_order", "issue_refund"]
    result = cli("test", str(suite))
    assert result.exit_code == 0, result.output
    assert "PASS refund-a1001" in result.stdout
    # the case checks the recorded actions: a different refund amount fails it
    text = case.read_text()
    case.write_text(
        text.replace(
            "arguments: {order_id: A-1001, amount_usd: 89.5}",
            "arguments: {order_id: A-1001, amount_usd: 95}",
        )
    )
    result = cli("test", str(suite))
    assert result.exit_code == 1 and "FAIL refund-a1001" in result.stdout


def test_otlp_json_with_genai_attributes_imports(
    cli: Any, store_path: Path, tmp_path: Path, open_store: Any
) -> None:
    """A collector's file export (one TracesData per line, several spans) with GenAI
    attributes only."""

    def attrs(**kv: Any) -> list[dict[str, Any]]:
        out = []
        for k, v in kv.items():
            value = {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}
            out.append({"key": k.replace("__", "."), "value": value})
        return out

    trace = "0af7651916cd43dd8448eb211c80319c"
    messages = json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "weather in Paris?"}]}]
    )
    output = json.dumps(
        [
            {
                "role": "assistant",
                "parts": [
                    {
                        "type": "tool_call",
                        "id": "c1",
                        "name": "get_weather",
                        "arguments": {"city": "Paris"},
                    }
                ],
            }
        ]
    )
    spans = [
        {
            "traceId": trace,
            "spanId": "b7ad6b7169203331",
            "name": "invoke_agent weather",
            "kind": 1,
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000003000000000",
            "attributes": attrs(
                gen_ai__operation__name="invoke_agent", gen_ai__agent__name="weather"
            ),
        },
        {
            "traceId": trace,
            "spanId": "b7ad6b7169203332",
            "parentSpanId": "b7ad6b7169203331",
            "name": "chat gpt-4o",
            "kind": 3,
            "startTimeUnixNano": "1700000000100000000",
            "endTimeUnixNano": "1700000001000000000",
            "attributes": attrs(
                gen_ai__operation__name="chat",
                gen_ai__request__model="gpt-4o",
                gen_ai__usage__input_tokens=12,
                gen_ai__usage__output_tokens=7,
                gen_ai__input__messages=messages,
                gen_ai__output__messages=output,
            ),
        },
        {
            "traceId": trace,
            "spanId": "b7ad6b7169203333",
            "parentSpanId": "b7ad6b7169203331",
            "name": "execute_tool get_weather",
            "kind": 1,
            "startTimeUnixNano": "1700000001100000000",
            "endTimeUnixNano": "1700000001200000000",
            "attributes": attrs(
                gen_ai__operation__name="execute_tool",
                gen_ai__tool__name="get_weather",
                gen_ai__tool__call__id="c1",
                gen_ai__tool__call__arguments='{"city": "Paris"}',
                gen_ai__tool__call__result='{"temp_c": 11}',
            ),
        },
    ]
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": attrs(service__name="weather-bot")},
                "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}],
            }
        ]
    }
    path = tmp_path / "collector.json"
    path.write_text(json.dumps(doc) + "\n")
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    run_id = result.stdout.split()[1]
    store = open_store(store_path)
    assert store.get_run(run_id).options["origin"]["format"] == "genai"
    steps = store.steps(run_id)
    assert [(s.kind, s.name) for s in steps] == [
        ("llm", "gpt-4o"),
        ("tool", "get_weather"),
        ("final", "completed"),
    ]
    assert steps[0].data["response"]["tool_calls"] == [
        {"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert steps[0].data["request"]["delta"] == [{"role": "user", "content": "weather in Paris?"}]
    assert (
        steps[1].data["args"] == {"city": "Paris"} and steps[1].data["result"] == '{"temp_c": 11}'
    )


def test_malformed_trace_file_imports_what_it_can(
    cli: Any, store_path: Path, tmp_path: Path, open_store: Any
) -> None:
    good = (FIXTURES / "openinference-refund.jsonl").read_text().splitlines()
    broken = json.loads(good[3])
    del broken["context"]["trace_id"]
    bad_time = json.loads(good[5])
    bad_time["start_time"] = "yesterday"
    lines = [
        *good[:3],
        "{not json",
        json.dumps(broken),
        good[4],
        json.dumps(bad_time),
        good[6],
        "[1, 2]",
    ]
    path = tmp_path / "partial.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = cli("import", str(path))
    assert result.exit_code == 1
    err = result.stderr
    assert "line 4: not JSON" in err
    assert "line 5, span a000000000000004: no trace_id" in err
    assert "line 7, span a000000000000006: start_time 'yesterday' is not a time" in err
    assert "line 9: not a JSON object" in err
    assert "Traceback" not in result.output
    assert "imported " in result.stdout  # what was readable is a run
    run_id = result.stdout.split()[1]
    kinds = [s.kind for s in open_store(store_path).steps(run_id)]
    assert kinds == ["note", "llm", "llm", "llm", "final"]
    # a file that is not a trace at all, and a missing file
    path.write_text("hello\n")
    result = cli("import", str(path))
    assert result.exit_code == 1 and "line 1: not JSON" in result.stderr
    result = cli("import", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_import_redacts_secrets(
    cli: Any, store_path: Path, tmp_path: Path, open_store: Any
) -> None:
    text = (FIXTURES / "openinference-refund.jsonl").read_text()
    secret = "sk-live-7f3a9c2e4b1d8f60"
    text = text.replace(
        '\\"order_id\\": \\"A-1001\\"}"',
        f'\\"order_id\\": \\"A-1001\\", \\"api_key\\": \\"{secret}\\"}}"',
        1,
    )
    assert secret in text
    path = tmp_path / "secret.jsonl"
    path.write_text(text)
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    assert secret.encode() not in store_path.read_bytes()
    assert secret not in json.dumps(
        [dataclasses.asdict(s) for s in open_store(store_path).steps(result.stdout.split()[1])]
    )


# ---- a real Phoenix ------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real Phoenix server on loopback with its SQLite database in a temp folder."""
    exe = shutil.which("phoenix", path=str(Path(sys.executable).parent))
    if exe is None:
        if os.environ.get("CI"):  # .ci/run installs the dev extra, which includes Phoenix
            pytest.fail("arize-phoenix is missing from the CI install")
        pytest.skip("arize-phoenix is not installed (pip install -e '.[phoenix]')")
    work = tmp_path_factory.mktemp("phoenix")
    port, grpc_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = (work / "phoenix.log").open("w")
    proc = subprocess.Popen([exe, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    pytest.fail(
                        "phoenix did not start:\n" + (work / "phoenix.log").read_text()[-3000:]
                    )
                time.sleep(0.5)
        yield {"base": base, "grpc": f"127.0.0.1:{grpc_port}"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _phoenix_spans(base: str, project: str, want: int) -> list[dict[str, Any]]:
    for _ in range(120):  # ingestion is asynchronous
        try:
            spans = _get(f"{base}/v1/projects/{project}/spans?limit=1000")["data"]
        except OSError:
            spans = []
        if len(spans) >= want:
            return spans
        time.sleep(0.25)
    return spans


def _check_received(got: list[dict[str, Any]], store: TraceStore, run_ids: list[str]) -> None:
    """Spans read back from a collector match the store: names, parents, tokens, tools."""
    expected = {r: run_spans(store.get_run(r), store.steps(r)) for r in run_ids}
    assert len(got) == sum(len(v) for v in expected.values())
    by_id = {s["context"]["span_id"]: s for s in got}
    for run_id, spans in expected.items():
        run = store.get_run(run_id)
        root = by_id[spans[0].span_id]
        assert root["name"] == f"invoke_agent {run.scenario}"
        assert root["parent_id"] is None and root["span_kind"] == "AGENT"
        assert root["context"]["trace_id"] == trace_id_of(run_id)
        children = [
            s for s in got if s["context"]["trace_id"] == trace_id_of(run_id) and s is not root
        ]
        assert children and all(s["parent_id"] == root["context"]["span_id"] for s in children)
        steps = store.steps(run_id)
        chats = sorted(
            (s for s in children if s["span_kind"] == "LLM"), key=lambda s: s["start_time"]
        )
        llm_steps = [s for s in steps if s.kind == "llm"]
        assert [c["attributes"]["llm.token_count.prompt"] for c in chats] == [
            s.input_tokens for s in llm_steps
        ]
        assert [c["attributes"]["gen_ai.usage.output_tokens"] for c in chats] == [
            s.output_tokens for s in llm_steps
        ]
        tools = sorted(
            (s for s in children if s["span_kind"] == "TOOL"), key=lambda s: s["start_time"]
        )
        executed = [s.name for s in steps if s.kind == "tool" and s.status != "blocked"]
        assert [t["attributes"]["tool.name"] for t in tools] == executed
        assert [t["name"] for t in tools] == [f"execute_tool {n}" for n in executed]
        events = [e["name"] for e in root["events"]]
        assert events.count("agentbox.approval") == run.counters["holds"]
        assert events.count("agentbox.policy.block") == run.counters["blocks"]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_phoenix_receives_the_runs(
    phoenix: Any, cli: Any, three_runs: list[str], store_path: Path, protocol: str, open_store: Any
) -> None:
    project = f"agentbox-{protocol}"
    target = (
        f"otlp+http://{phoenix['base'].removeprefix('http://')}"
        if protocol == "http"
        else f"otlp+grpc://{phoenix['grpc']}"
    )
    result = cli("export-traces", *three_runs, "--to", target, "--project", project)
    assert result.exit_code == 0, result.output
    store = open_store(store_path)
    total = sum(len(run_spans(store.get_run(r), store.steps(r))) for r in three_runs)
    _check_received(_phoenix_spans(phoenix["base"], project, total), store, three_runs)


# ---- an OTLP/HTTP collector substitute (always available: opentelemetry-proto) --------
class _Collector:
    """A loopback OTLP/HTTP collector: decodes ExportTraceServiceRequest protobufs into
    span objects shaped like Phoenix's REST API returns them."""

    def __init__(self) -> None:
        import http.server
        import threading

        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        self.spans: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                collector.add(request)
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"otlp+http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _value(v: Any) -> Any:
        which = v.WhichOneof("value")
        if which == "array_value":
            return [_Collector._value(x) for x in v.array_value.values]
        return getattr(v, which) if which else None

    def _attrs(self, items: Any) -> dict[str, Any]:
        return {kv.key: self._value(kv.value) for kv in items}

    def add(self, request: Any) -> None:
        kinds = {1: "INTERNAL", 3: "CLIENT"}
        for rs in request.resource_spans:
            self.resources.append(self._attrs(rs.resource.attributes))
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    attrs = self._attrs(sp.attributes)
                    self.spans.append(
                        {
                            "name": sp.name,
                            "context": {
                                "trace_id": sp.trace_id.hex(),
                                "span_id": sp.span_id.hex(),
                            },
                            "parent_id": sp.parent_span_id.hex() or None,
                            "span_kind": attrs.get("openinference.span.kind"),
                            "otel_kind": kinds.get(sp.kind, str(sp.kind)),
                            "start_time": sp.start_time_unix_nano,
                            "end_time": sp.end_time_unix_nano,
                            "attributes": attrs,
                            "events": [
                                {"name": e.name, "attributes": self._attrs(e.attributes)}
                                for e in sp.events
                            ],
                        }
                    )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def collector() -> Any:
    c = _Collector()
    yield c
    c.close()


def test_collector_receives_the_runs(
    collector: _Collector, cli: Any, three_runs: list[str], store_path: Path, open_store: Any
) -> None:
    result = cli("export-traces", *three_runs, "--to", collector.url)
    assert result.exit_code == 0, result.output
    _check_received(collector.spans, open_store(store_path), three_runs)
    assert collector.resources[0]["service.name"] == "agentbox"
    kinds = {s["name"].split()[0]: s["otel_kind"] for s in collector.spans}
    assert kinds == {"invoke_agent": "INTERNAL", "chat": "CLIENT", "execute_tool": "INTERNAL"}


def test_run_exports_live_and_a_dead_collector_does_not_fail_it(
    collector: _Collector, cli: Any, store_path: Path, open_store: Any
) -> None:
    result = cli("run", "scenarios/refund-over-limit.yaml", "--json", "--otlp", collector.url)
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    _check_received(collector.spans, open_store(store_path), [run_id])
    assert "warning" not in result.stderr
    # nothing listening: the run completes as usual, one warning names what was lost
    dead = f"otlp+http://127.0.0.1:{_free_port()}"
    result = cli("run", "scenarios/refund-over-limit.yaml", "--json", "--otlp", dead)
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    assert open_store(store_path).get_run(run_id).status == "completed"
    assert result.stderr.count("warning:") == 1 and run_id in result.stderr


def test_foreign_trace_replays_against_a_sandbox(
    cli: Any, store_path: Path, tmp_path: Path, open_store: Any
) -> None:
    """A trace with only GenAI/OpenInference attributes (as another tool would store our
    spans) imports as a production run; `export --against retail` runs its calls on the
    retail sandbox instead of the recorded results."""
    from agentbox.otel.otlp_json import traces_data

    original = _run(cli, "refund-clean")
    store = open_store(store_path)
    spans = run_spans(store.get_run(original), store.steps(original), full=False)
    assert not {"agentbox.step", "agentbox.run"} & {k for s in spans for k in s.attributes}
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(traces_data(spans, {"service.name": "shop"}), indent=1))
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    run_id = result.stdout.split()[1]
    assert run_id != original and "(5 steps" not in result.stdout
    imported = open_store(store_path).steps(run_id)
    executed = [(s.name, s.data["args"]) for s in imported if s.kind == "tool"]
    assert executed == [(s.name, s.data["args"]) for s in store.steps(original) if s.kind == "tool"]
    suite = tmp_path / "prod"
    result = cli("export", run_id, "--suite", str(suite), "--name", "live", "--against", "retail")
    assert result.exit_code == 0, result.output
    assert not (suite / ".recorded").exists()
    assert "sandbox: retail" in (suite / "live.yaml").read_text()
    result = cli("test", str(suite))
    assert result.exit_code == 0, result.output
    # a sandbox without the recorded tools is refused, naming them
    result = cli("export", run_id, "--suite", str(suite), "--against", "tau_retail")
    assert result.exit_code == 2 and "does not define" in result.stderr
    result = cli("export", original, "--suite", str(suite), "--against", "retail")
    assert result.exit_code == 2 and "runs imported from traces" in result.stderr


def test_export_since_picks_runs_by_time(cli: Any, three_runs: list[str], tmp_path: Path) -> None:
    out = tmp_path / "recent.jsonl"
    result = cli("export-traces", "--since", "1h", "--to", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 3 run(s)" in result.stdout
    roots = [json.loads(line) for line in out.read_text().splitlines()]
    names = [r["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] for r in roots]
    assert [n for n in names if n.startswith("invoke_agent")] == [
        f"invoke_agent {s}" for s in SCENARIOS
    ]
    result = cli("export-traces", "--since", "2099-01-01", "--to", str(out))
    assert result.exit_code == 2 and "no run started" in result.stderr
    result = cli("export-traces", "--since", "last week", "--to", str(out))
    assert result.exit_code == 2 and "--since 'last week'" in result.stderr
    result = cli("export-traces", three_runs[0])
    assert result.exit_code == 2 and "--to is required" in result.stderr
