"""Tools that answer with recorded results: the sandbox of a case exported from an
imported production run (whose real tools are not here).

A case exported from an imported run gets a small sandbox folder beside it
(``.recorded/CASE/``, hidden from ``agentbox test``'s discovery) holding
``recorded.json`` and a two-line ``tools.py`` that calls :func:`recorded_tools`. Each tool
named in the recording is a read tool accepting any arguments, answered by a
:class:`~agentbox.recording.ToolRecording` matched ``by_args``: the first not yet used
recorded result of that tool with equal arguments (else the next unused one of that
tool), so a replay sees exactly what production saw. One recording per run (per state
object), so repeats and parallel cases do not interfere.

``recorded.json``: ``{"tools": [{"name", "description", "parameters"}], "calls":
[{"tool", "args", "result", "status"}]}`` (``status`` ``ok`` or ``error``; an error
result is raised as a :class:`~agentbox.errors.ToolError`, which the agent sees).
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentbox.recording import ToolRecording
from agentbox.sandbox.tools import ToolSpec

RECORDING = "recorded.json"

TOOLS_PY = '''\
"""Recorded tool results of an imported production trace (written by `agentbox export`)."""

from agentbox.otel.recorded import recorded_tools

globals().update(recorded_tools(__file__))
'''


class _AnyArgs(BaseModel):
    model_config = ConfigDict(extra="allow")


def _entry(call: dict[str, Any]) -> dict[str, Any]:
    """A ``recorded.json`` call as a :class:`ToolRecording` result entry."""
    result = call.get("result", "")
    if call.get("status") == "error":
        return {**call, "status": "error", "value": str(result).removeprefix("Error: ")}
    try:
        value = json.loads(result) if isinstance(result, str) else result
    except json.JSONDecodeError:
        value = result
    return {**call, "status": "ok", "value": value}


class _Tool:
    """One recorded tool: ``fn(state, **args)`` answering from a :class:`ToolRecording`
    matched by arguments, one per run (per state object)."""

    def __init__(self, name: str, calls: list[dict[str, Any]]) -> None:
        self.name = name
        self.entries = [_entry(c) for c in calls]
        self.runs: weakref.WeakKeyDictionary[Any, ToolRecording] = weakref.WeakKeyDictionary()

    def __call__(self, state: Any, **args: Any) -> Any:
        key = state if type(state).__weakrefoffset__ else self  # else: one for all runs
        recording = self.runs.get(key)
        if recording is None:
            recording = ToolRecording(
                None,
                self.entries,
                f"the recording ({len(self.entries)} call(s) of {self.name})",
                by_args=True,
            )
            self.runs[key] = recording
        return recording.call(self.name, args)


def recorded_tools(tools_py: str | Path) -> dict[str, Any]:
    """Tool objects (module globals) for the ``recorded.json`` beside ``tools_py``.

    Raises:
        OSError, ValueError: the recording is missing or not JSON.
    """
    folder = Path(tools_py).parent
    data = json.loads((folder / RECORDING).read_text(encoding="utf-8"))
    calls = data.get("calls", [])
    out: dict[str, Any] = {}
    for i, info in enumerate(data.get("tools", [])):
        name = str(info["name"])
        fn = _Tool(name, [c for c in calls if c.get("tool") == name])
        parameters = info.get("parameters") or {"type": "object", "properties": {}}
        spec = ToolSpec(
            name=name,
            effect="read",
            description=str(info.get("description") or f"{name} (recorded results)"),
            fn=fn,
            args_model=_AnyArgs,
            parameters=parameters,
        )
        holder = type(f"recorded_{i}", (), {"__agentbox_tool__": spec})
        out[f"_recorded_tool_{i}"] = holder
    return out
