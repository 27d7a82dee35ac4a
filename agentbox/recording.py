"""Recorded results of tools agentbox cannot re-run offline: MCP tools, gated functions
and the tools of an imported production trace.

A replay must not call the agent's MCP servers (``SERVER__TOOL``) or its gated functions
(``ctx.gate``, ``agentbox.adapters.gated``): they may be gone, or have side effects. A
:class:`ToolRecording` answers their calls instead, from one of three sources:

- ``agentbox replay RUN``: the recorded run's tool steps and its ``options.mcp_tools``;
- ``agentbox test CASE``: the case cassette's ``mcp_tools`` and ``tool_results``
  (written by ``agentbox export``, see :func:`recorded_results`);
- a case exported from an imported production run: its ``recorded.json``
  (:mod:`agentbox.otel.recorded`, matched ``by_args``).

Each result entry is ``{"tool", "args", "status", "value"}``: ``status`` is ``ok`` (the
tool returned ``value``), ``error`` (a tool error whose message is ``value``) or
``crashed`` (the tool raised; ``value`` is what was recorded). Calls are answered in
order per tool, and only while the arguments equal the recorded ones; ``by_args``
answers the first unused result with equal arguments, else the next unused one (a
production trace need not be reproducible call for call).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from agentbox.errors import ToolError

if TYPE_CHECKING:
    from agentbox.runner import Runner
    from agentbox.store import StepRow

Listing = dict[str, list[dict[str, Any]]]
"""MCP server name -> ``[{"name", "description", "input_schema"}, ...]``."""


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (``1 == 1.0``; values JSON cannot hold compared by ``str``)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _executed(step: StepRow) -> bool:
    return (
        step.kind == "tool"
        and step.status in ("ok", "error", "crashed")
        and not step.data.get("edited")
    )


def recorded_results(
    steps: Iterable[StepRow], names: Callable[[str], bool]
) -> list[dict[str, Any]]:
    """Result entries (see the module docstring) of the executed tool steps whose name
    ``names`` accepts, in order."""
    out = []
    for step in steps:
        name = step.name or ""
        if not (_executed(step) and names(name)):
            continue
        result = step.data.get("result", "")
        if step.status == "ok" and step.data.get("value_is_json"):
            value: Any = json.loads(result)
        elif step.status == "error" and isinstance(result, str):
            value = result.removeprefix("Error: ")
        else:
            value = result
        out.append(
            {
                "tool": name,
                "args": step.data.get("args") or {},
                "status": step.status,
                "value": value,
            }
        )
    return out


class ToolRecording:
    """Answers MCP tool and gated-function calls from a recording.

    Args:
        listing: the recorded MCP tool listing (None: none was recorded).
        results: result entries, in call order.
        source: what was recorded, for messages (``run ID``, ``the case``).

    Attributes:
        miss: the first call the recording could not answer (None: all were answered).
    """

    def __init__(
        self,
        listing: Listing | None,
        results: Iterable[dict[str, Any]],
        source: str,
        *,
        by_args: bool = False,
    ) -> None:
        self.listing = listing
        self.source = source
        self.by_args = by_args
        self.miss: str | None = None
        self._queues: dict[str, list[dict[str, Any]]] = {}
        for entry in results:
            self._queues.setdefault(str(entry["tool"]), []).append(entry)

    def _fail(self, message: str) -> ToolError:
        if self.miss is None:
            self.miss = message
        return ToolError(message)

    def call(self, name: str, args: dict[str, Any]) -> Any:
        """The recorded outcome of the next call of ``name``.

        Raises:
            ToolError: the call was a tool error, or the recording has no further call of
                ``name`` or recorded other arguments (a miss). RuntimeError: it crashed.
        """
        queue = self._queues.get(name)
        if not queue:
            raise self._fail(f"replay: {self.source} has no further result for {name}")
        at = 0
        if self.by_args:
            at = next((i for i, e in enumerate(queue) if _same(e.get("args"), args)), 0)
        elif queue[0].get("args") != args:
            raise self._fail(
                f"replay: {name} was recorded with {json.dumps(queue[0].get('args'))}, "
                f"now called with {json.dumps(args)}"
            )
        entry = queue.pop(at)
        value, status = entry.get("value"), entry.get("status", "ok")
        if status == "error":
            raise ToolError(str(value))
        if status == "crashed":
            raise RuntimeError(str(value))
        return value


def recording_for(runner: Runner) -> ToolRecording | None:
    """The recording a run answers MCP and gated calls from (None: call them live).

    A suite case's replay sets ``plan.recording`` (unless ``--live``); a replay of a
    stored run (``replay_of`` a run id) builds it from that run, once per run.
    """
    plan = runner.plan
    if plan.recording is not None:
        return plan.recording
    replay_of = runner.lineage.get("replay_of")
    if not isinstance(replay_of, str) or replay_of.startswith("case:"):
        return None
    run = runner.store.get_run(replay_of)
    steps = runner.store.steps(replay_of)
    plan.recording = ToolRecording(
        run.options.get("mcp_tools"), recorded_results(steps, lambda n: True), f"run {replay_of}"
    )
    return plan.recording
