"""Tools that answer with recorded results: the sandbox of a case exported from an
imported production run (whose real tools are not here).

A case exported from an imported run gets a small sandbox folder beside it
(``.recorded/CASE/``, hidden from ``agentbox test``'s discovery) holding
``recorded.json`` and a two-line ``tools.py`` that calls :func:`recorded_tools`. Each tool
named in the recording is a read tool accepting any arguments; a call returns the first
not yet used recorded result of that tool with equal arguments (else the next unused one
of that tool), so a replay sees exactly what production saw. The cursor is per run (per
state object), so repeats and parallel cases do not interfere.

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

from agentbox.errors import ToolError
from agentbox.sandbox.tools import ToolSpec

RECORDING = "recorded.json"

TOOLS_PY = '''\
"""Recorded tool results of an imported production trace (written by `agentbox export`)."""

from agentbox.otel.recorded import recorded_tools

globals().update(recorded_tools(__file__))
'''


class _AnyArgs(BaseModel):
    model_config = ConfigDict(extra="allow")


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


class _Tool:
    """One recorded tool: ``fn(state, **args)`` serving its recorded results in order."""

    def __init__(self, name: str, calls: list[dict[str, Any]]) -> None:
        self.name = name
        self.calls = calls
        self.used: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()

    def __call__(self, state: Any, **args: Any) -> Any:
        try:
            used = self.used.setdefault(state, set())
        except TypeError:  # not weak-referenceable: one cursor for all
            used = self.used.setdefault(self, set())
        free = [i for i in range(len(self.calls)) if i not in used]
        pick = next((i for i in free if _same(self.calls[i].get("args"), args)), None)
        if pick is None and free:
            pick = free[0]
        if pick is None:
            raise ToolError(
                f"no recorded result left for {self.name} (the recording has "
                f"{len(self.calls)} call(s) of it)"
            )
        used.add(pick)
        call = self.calls[pick]
        result = call.get("result", "")
        if call.get("status") == "error":
            raise ToolError(str(result).removeprefix("Error: "))
        try:
            return json.loads(result) if isinstance(result, str) else result
        except json.JSONDecodeError:
            return result


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
