"""Suite cases from imported production runs (``agentbox export`` of an imported run).

An imported run has no sandbox and no scenario file. Its case inlines a scenario that
runs the built-in tool-calling loop with the recorded system prompt and user input, a
cassette of the recorded model responses (without request hashes: the production agent's
prompts are not agentbox's, so calls are served in order), and a sandbox of recorded tool
results written beside the case (:mod:`agentbox.otel.recorded`). Expectations come from
the recorded actions: the status and every tool call with its arguments, in order. The
case replays offline under ``agentbox test``; ``agentbox test --live`` asks the recorded
model instead, against the same recorded tool results.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from agentbox.config import Settings
from agentbox.errors import AgentboxError
from agentbox.otel.recorded import RECORDING, TOOLS_PY
from agentbox.sandbox.loader import load_sandbox
from agentbox.store import RunRow, StepRow, TraceStore
from agentbox.suites.derive import derive_expect, recorded_calls

RECORDED_DIR = ".recorded"
"""Folder beside the case files holding each imported case's recorded-tools sandbox."""


def sandbox_dir(suite_dir: Path, name: str) -> Path:
    """Where the recorded-tools sandbox of case ``name`` lives."""
    return suite_dir / RECORDED_DIR / name


def recording(steps: list[StepRow]) -> dict[str, Any]:
    """``recorded.json`` data: the tools seen (from tool steps and model tool calls, with
    the JSON schemas the trace recorded, if any) and every tool step's arguments and
    result, in order."""
    names: list[str] = []
    calls = []
    schemas: dict[str, Any] = {}
    for s in steps:
        if s.kind == "llm":
            schemas.update(s.data.get("tool_schemas") or {})
            for c in s.data.get("response", {}).get("tool_calls") or []:
                if c.get("name") and c["name"] not in names:
                    names.append(str(c["name"]))
        elif s.kind == "tool":
            name = str(s.name or s.data.get("tool"))
            if name not in names:
                names.append(name)
            calls.append(
                {
                    "tool": name,
                    "args": s.data.get("args") or {},
                    "result": s.data.get("result", ""),
                    "status": "error" if s.status != "ok" else "ok",
                }
            )
    tools = [
        {
            "name": n,
            "description": schemas.get(n, {}).get("description") or f"{n} (recorded in production)",
            **({"parameters": schemas[n]["parameters"]} if n in schemas else {}),
        }
        for n in names
    ]
    return {"tools": tools, "calls": calls}


def _turn(call: dict[str, Any]) -> dict[str, Any]:
    """A recorded model call as a scripted-model turn."""
    turn: dict[str, Any] = {}
    if call.get("reasoning"):
        turn["reasoning"] = call["reasoning"]
    if call.get("text"):
        turn["say"] = call["text"]
    if call.get("tool_calls"):
        turn["tool_calls"] = [{c["name"]: c["arguments"]} for c in call["tool_calls"]]
    return turn


def check_against(sandbox: str, steps: list[StepRow], settings: Settings) -> None:
    """Check that sandbox ``sandbox`` has every tool the recording calls.

    Raises:
        AgentboxError: missing tools (named), or the sandbox cannot be loaded.
    """
    folder = settings.sandboxes_path / sandbox
    if not (folder / "tools.py").is_file() and (Path(sandbox) / "tools.py").is_file():
        folder = Path(sandbox)
    if not (folder / "tools.py").is_file():
        raise AgentboxError(
            f"--against {sandbox}: no sandbox {folder}", "name a folder of the sandboxes folder"
        )
    tools = load_sandbox(folder).tools
    wanted = [t["name"] for t in recording(steps)["tools"]]
    missing = [n for n in wanted if n not in tools]
    if missing:
        raise AgentboxError(
            f"--against {sandbox}: the recording calls {', '.join(missing)}, which sandbox "
            f"{sandbox} does not define (it has {', '.join(tools)})",
            "export without --against to serve the recorded results",
        )


def build_imported_case(
    run: RunRow,
    steps: list[StepRow],
    name: str,
    settings: Settings,
    against: str | None = None,
) -> dict[str, Any]:
    """The case data of an imported run (see the module docstring); writes nothing.

    ``against``: a sandbox whose tools run the recorded calls for real (on its seed)
    instead of serving the recorded results.

    Raises:
        AgentboxError: ``against`` lacks a recorded tool.
    """
    if against:
        check_against(against, steps, settings)

    calls = recorded_calls(steps)
    llm = [s for s in steps if s.kind == "llm"]
    if llm and llm[-1].data.get("response", {}).get("tool_calls"):
        # the trace ended after tool calls: the loop asks once more; answer with the output
        calls.append(
            {
                "text": run.output or "",
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
                "model": run.model or "",
                "request": {},
            }
        )
    origin = run.options.get("origin", {})
    agent = dict(run.scenario_json.get("agent") or {"type": "llm"})
    agent["max_steps"] = len(calls) + 1
    scenario = {
        "name": run.scenario,
        "description": f"imported from trace {origin.get('trace_id', '?')}",
        "sandbox": against or f"{RECORDED_DIR}/{name}",
        "mode": "execute",
        "agent": agent,
        "input": run.input or "",
    }
    if agent.get("model", "scripted") == "scripted":  # the scripted model plays the turns
        scenario["script"] = [_turn(c) for c in calls]
    expect = derive_expect(run, steps, [])
    data: dict[str, Any] = {
        "case": name,
        "description": f"recorded in production ({origin.get('format', 'otlp')} trace "
        f"{origin.get('trace_id', '?')}); tools answer with the recorded results",
        "exported_from": {
            "run": run.id,
            "trace": origin.get("trace_id"),
            "model": run.model,
            "at": _dt.datetime.fromtimestamp(run.ended_at or run.started_at).isoformat(
                timespec="seconds"
            ),
        },
        "scenario": scenario,
        "expect": expect,
        "decisions": [],
        "cassette": {"model": run.model or "scripted", "calls": calls},
    }
    redacted: dict[str, Any] = settings.redactor()(data)
    return redacted


def write_recorded_sandbox(
    store: TraceStore, run: RunRow, suite_dir: Path, name: str, settings: Settings
) -> Path:
    """Write the case's recorded-tools sandbox folder; returns it.

    Raises:
        OSError: the folder cannot be written.
    """
    folder = sandbox_dir(suite_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    data = settings.redactor()(recording(store.steps(run.id)))
    (folder / RECORDING).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (folder / "tools.py").write_text(TOOLS_PY, encoding="utf-8")
    return folder
