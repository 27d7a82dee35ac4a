"""What a suite case expects, derived from a recorded run's steps and final state.

Used by :mod:`agentbox.suites.export` (stored runs) and :mod:`agentbox.suites.imported`
(imported production runs): the derived ``expect`` section (status, executed tool calls,
counts, state checks, cost), the cassette's model calls, recorded tool results and
approval decisions. See :mod:`agentbox.suites.export` for how they merge with a
scenario's own expectations.
"""

from __future__ import annotations

import math
import re
from typing import Any

import jsonpatch
from jsonpointer import unescape

from agentbox.approvals import recorded_holds
from agentbox.evals import matches_subset
from agentbox.mcp.proxy import SEP
from agentbox.paths import Segment, format_path, is_name
from agentbox.planning import RunPlan
from agentbox.recording import recorded_results
from agentbox.scenario import Expect
from agentbox.store import RunRow, StepRow

MAX_STATE_CHECKS = 20
"""More derived state checks than this become one ``state_hash`` check (when possible)."""

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(text: str) -> str:
    """A file-name-safe version of a case name."""
    return _SLUG.sub("-", text).strip("-.") or "case"


# ---- expectations ------------------------------------------------------------------
def _dotted(coll: str, key: str, segments: list[str], root: Any) -> str | None:
    """``coll.key.a[0].b`` for a JSON-pointer path inside a record; None when unsafe."""
    if not (is_name(coll) and is_name(key)):
        return None
    parts: list[Segment] = [coll, key]
    node = root
    for seg in segments:
        if isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            parts.append(int(seg))
            node = node[int(seg)]
        elif isinstance(node, dict) and is_name(seg) and not seg.lstrip("-").isdigit():
            parts.append(seg)
            node = node.get(seg)
        else:
            return None
    return format_path(parts)


def _resolve(root: Any, segments: list[str]) -> Any:
    for seg in segments:
        root = root[int(seg)] if isinstance(root, list) else root[seg]
    return root


def state_checks(changes: list[tuple[str, str, Any, Any]]) -> list[dict[str, Any]]:
    """``state`` expectations describing record changes ``(coll, key, before, after)``."""
    out: list[dict[str, Any]] = []
    for coll, key, before, after in changes:
        whole = _dotted(coll, key, [], None)
        if after is None:
            if whole:
                out.append({"path": whole, "exists": False})
            continue
        if before is None or not (isinstance(before, dict) and isinstance(after, dict)):
            if whole:
                out.append({"path": whole, "equals": after})
            continue
        checks: list[dict[str, Any]] = []
        exact = True
        for op in jsonpatch.make_patch(before, after).patch:
            segments = [unescape(s) for s in op["path"].split("/")[1:]]
            path = None
            if op["op"] in ("add", "replace"):
                path = _dotted(coll, key, segments, after)
                check = {"path": path, "equals": _resolve(after, segments) if path else None}
            elif op["op"] == "remove" and isinstance(_resolve(before, segments[:-1]), dict):
                path = _dotted(coll, key, segments, before)
                check = {"path": path, "exists": False}
            if path is None:  # list removals, moves, unsafe names: compare the whole record
                exact = False
                break
            checks.append(check)
        if exact:
            out += checks
        elif whole:
            out.append({"path": whole, "equals": after})
    return out


def _executed_calls(steps: list[StepRow]) -> list[dict[str, Any]]:
    return [
        {str(s.name): s.data.get("args") or {}}
        for s in steps
        if s.kind == "tool" and s.status == "ok"
    ]


def _covers(derived: list[dict[str, Any]], wanted: list[dict[str, Any]], ordered: bool) -> bool:
    """Whether the derived (executed, in order) calls satisfy every wanted call spec."""
    cursor = 0
    for spec in wanted:
        ((tool, args),) = spec.items()
        pool = derived[cursor:] if ordered else derived
        hit = next(
            (i for i, c in enumerate(pool) if tool in c and matches_subset(args or {}, c[tool])),
            None,
        )
        if hit is None:
            return False
        if ordered:
            cursor += hit + 1
    return True


def derive_expect(
    run: RunRow, steps: list[StepRow], checks: list[dict[str, Any]], state_hash: str | None = None
) -> dict[str, Any]:
    """Expectations describing what a finished run did (see the module docstring)."""
    c = run.counters
    out: dict[str, Any] = {"status": run.status}
    calls = _executed_calls(steps)
    if calls:
        out["tool_calls"] = calls
        out["ordered"] = True
    for key in ("holds", "blocks", "approvals", "invalid_tool_calls"):
        out[key] = int(c.get(key, 0))
    if state_hash is not None:
        out["state_hash"] = state_hash
    elif checks:
        out["state"] = checks
    users = [s for s in steps if s.kind == "user"]
    if users:  # a conversation: how many turns the user took
        out["user_turns"] = len(users)
    if not c.get("cost_unknown"):
        out["max_cost_usd"] = math.ceil(float(c.get("cost_usd", 0.0)) * 1.5 * 1e6) / 1e6
    return out


def expectation_count(expect: Expect | None) -> int:
    """How many named checks ``expect`` yields (what the summary counts)."""
    if expect is None:
        return 0
    scalars = (
        "status",
        "holds",
        "blocks",
        "approvals",
        "invalid_tool_calls",
        "max_cost_usd",
        "max_tokens",
        "state_hash",
    )
    return (
        sum(getattr(expect, k) is not None for k in scalars)
        + len(expect.tool_calls)
        + len(expect.no_tool_calls)
        + len(expect.state)
        + len(expect.output_contains)
        + (expect.user_turns is not None)
        + len(expect.user_final_contains)
        + len(expect.confirmed_before)
    )


def merge_expect(original: dict[str, Any], derived: dict[str, Any]) -> dict[str, Any]:
    """The scenario's expectations merged with derived ones (see the module docstring)."""
    merged = dict(derived)
    for key, value in original.items():
        if key == "tool_calls":
            if not _covers(derived.get("tool_calls", []), value, bool(original.get("ordered"))):
                merged["tool_calls"] = value
                merged["ordered"] = bool(original.get("ordered"))
        elif key == "ordered":
            continue
        elif key == "state":
            paths = {c["path"] for c in value}
            merged["state"] = list(value) + [
                c for c in derived.get("state", []) if c["path"] not in paths
            ]
        elif key in ("no_tool_calls", "output_contains", "user_final_contains", "confirmed_before"):
            items = [value] if isinstance(value, str) else list(value)
            merged[key] = items + [v for v in derived.get(key, []) if v not in items]
        else:
            merged[key] = value
    order = [
        "status",
        "tool_calls",
        "ordered",
        "no_tool_calls",
        "holds",
        "blocks",
        "approvals",
        "invalid_tool_calls",
        "state",
        "state_hash",
        "output_contains",
        "user_turns",
        "user_final_contains",
        "confirmed_before",
        "max_cost_usd",
        "max_tokens",
        "llm_judge",
    ]
    return {
        k: merged[k] for k in sorted(merged, key=lambda k: order.index(k) if k in order else 99)
    }


# ---- recordings --------------------------------------------------------------------
def recorded_calls(steps: list[StepRow]) -> list[dict[str, Any]]:
    """The cassette entries of a run's ``llm`` steps."""
    out = []
    tools: list[str] | None = None
    for s in steps:
        if s.kind != "llm":
            continue
        r, req = s.data.get("response", {}), s.data.get("request", {})
        entry: dict[str, Any] = {k: r[k] for k in ("reasoning", "text") if r.get(k) is not None}
        if r.get("tool_calls"):
            entry["tool_calls"] = [
                {"id": c["id"], "name": c["name"], "arguments": c["arguments"]}
                for c in r["tool_calls"]
            ]
        entry.update(
            input_tokens=r.get("input_tokens", 0),
            output_tokens=r.get("output_tokens", 0),
            cost_usd=r.get("cost_usd"),
            model=r.get("model", ""),
        )
        request = {"hash": req.get("hash"), "prefix": req.get("prefix", 0)}
        if req.get("tools", []) != tools:  # written when they change (first call: always)
            request["tools"] = tools = req.get("tools", [])
        request["messages"] = req.get("delta", [])
        entry["request"] = request
        out.append(entry)
    return out


def recorded_tools(run: RunRow, steps: list[StepRow], plan: RunPlan) -> dict[str, Any]:
    """The cassette's ``mcp_tools`` (the run's MCP listing) and ``tool_results`` (what its
    MCP tools and gated functions returned): empty when it had neither."""
    out: dict[str, Any] = {}
    listing = run.options.get("mcp_tools")
    if listing is not None:
        out["mcp_tools"] = listing
    servers = tuple(f"{s}{SEP}" for s in listing or {})

    def wanted(name: str) -> bool:  # not a sandbox tool or mock: MCP, or a gated function
        if servers and name.startswith(servers):
            return True
        return run.agent == "python" and plan.tool(name) is None

    results = recorded_results(steps, wanted)
    if results or listing is not None:
        out["tool_results"] = results
    return out


def recorded_decisions(steps: list[StepRow]) -> list[dict[str, Any]]:
    """The approval decisions of a run's ``approval`` steps, in order (case-file form)."""
    out = []
    for hold in recorded_holds(steps):
        d = hold.decision
        row: dict[str, Any] = {"tool": hold.tool, "verdict": d.verdict}
        if d.args:
            row["args"] = d.args
        if d.reason:
            row["reason"] = d.reason
        row["by"] = d.by
        out.append(row)
    return out
