"""Agent versions: a content fingerprint of what defines the agent in a run.

Two runs have the same agent version when the model sees the same instructions, is the
same model with the same parameters, is offered the same tool schemas under the same
policy, runs the same python entry source, on the same agentbox. The fingerprint is a
hash over those parts (:class:`AgentVersion`); the parts are stored beside it so
``agentbox diff`` can say what changed between two versions (:func:`version_changes`).

Computed when a run is planned (:mod:`agentbox.planning`), never inside the runner's
loop. Credentials in the model parameters (``api_key``, tokens) are not part of a
version: rotating a key does not make a new agent.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbox import __version__

if TYPE_CHECKING:
    from agentbox.planning import RunPlan

PARTS = ("system", "model", "params", "script", "tools", "policy", "entry", "agentbox")
"""The parts of a version, in the order they are shown."""

_SECRET_WORDS = ("key", "token", "secret", "password", "authorization")

_ENTRY_HASHES: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class AgentVersion:
    """An agent version: its fingerprint, the parts it hashes, and a label.

    Attributes:
        fingerprint: 12 hex digits (:func:`fingerprint_of` over ``parts``).
        parts: ``system`` (the prompt the model sees: scenario ``agent.system`` plus the
            sandbox policy text), ``model`` (model string), ``params`` (model call
            parameters without credentials), ``script`` (the scenario's script turns when
            the model is ``scripted``: they are that model, else None), ``tools`` (the OpenAI schemas offered, sorted
            by name), ``policy`` (the scenario policy as JSON), ``entry`` (a python agent's
            ``{"entry", "sha256"}`` of its source file, else None), ``agentbox`` (version).
        label: a name for it (``--label`` or the scenario's ``agent.label``), or None.
    """

    fingerprint: str
    parts: dict[str, Any] = field(default_factory=dict)
    label: str | None = None


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint_of(parts: dict[str, Any]) -> str:
    """The fingerprint of version parts: 12 hex digits of SHA-256 over the canonical JSON
    of ``{"base": B, "entry": parts["entry"]}``, where B is the SHA-256 of the other parts
    with ``tools`` replaced by its own SHA-256."""
    base = {k: v for k, v in parts.items() if k != "entry"}
    base["tools"] = _digest(parts.get("tools"))
    return _digest({"base": _digest(base), "entry": parts.get("entry")})[:12]


_TOOLS: dict[tuple[int, Any, Any], tuple[Any, list[dict[str, Any]], str]] = {}


def _offered_tools(plan: RunPlan) -> tuple[list[dict[str, Any]], str]:
    """The tool schemas the model is offered, sorted by name, and their digest (cached per
    loaded sandbox and allow/deny lists: checking every tool against the lists is the
    costly part)."""
    spec = plan.policy.spec
    allow = None if spec.allow is None else tuple(spec.allow)
    key = (id(plan.sandbox.tools), allow, tuple(spec.deny))
    hit = _TOOLS.get(key)
    if hit is not None and hit[0] is plan.sandbox.tools:
        return hit[1], hit[2]
    tools = sorted(
        (
            tool.openai_schema()
            for name, tool in plan.sandbox.tools.items()
            if plan.policy.listed(name) is None
        ),
        key=lambda s: str(s["function"]["name"]),
    )
    digest = _digest(tools)
    if len(_TOOLS) > 64:
        _TOOLS.clear()
    _TOOLS[key] = (plan.sandbox.tools, tools, digest)
    return tools, digest


def _public_params(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in sorted(params.items()) if not any(w in k.lower() for w in _SECRET_WORDS)
    }


def _file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes (cached by path, mtime and size); None if unreadable."""
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        hit = _ENTRY_HASHES.get(key)
        if hit is None:
            hit = _ENTRY_HASHES[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        return hit
    except OSError:
        return None


def _entry_part(plan: RunPlan) -> dict[str, Any] | None:
    scenario = plan.scenario
    entry = scenario.agent.entry
    if scenario.agent.type != "python" or not entry:
        return None
    from agentbox.agents.python import find_entry  # only for python agents
    from agentbox.errors import AgentboxError

    search = [scenario.path.parent] if scenario.path else []
    search.append(plan.settings.root)
    try:
        where = find_entry(entry, search)
    except AgentboxError:
        return {"entry": entry, "sha256": None}
    digest = _file_sha256(where) if isinstance(where, Path) else None
    return {"entry": entry, "sha256": digest}


_BASES: dict[tuple[int, str, int], tuple[Any, Any, dict[str, Any], str]] = {}


def _base(plan: RunPlan) -> tuple[dict[str, Any], str]:
    """Every part but ``entry``, and their digest (cached per parsed scenario, model and
    loaded sandbox: a suite replays the same case objects many times)."""
    scenario, sandbox = plan.scenario, plan.sandbox
    key = (id(scenario), plan.model_name, id(sandbox))
    hit = _BASES.get(key)
    if hit is not None and hit[0] is scenario and hit[1] is sandbox:
        return hit[2], hit[3]
    tools, tools_digest = _offered_tools(plan)
    scripted = plan.model_name == "scripted"
    base: dict[str, Any] = {
        "system": "\n\n".join(p for p in (scenario.agent.system, sandbox.policy_text) if p),
        "model": plan.model_name,
        "params": _public_params(dict(scenario.agent.params)),
        "script": [t.model_dump(mode="json", exclude_defaults=True) for t in scenario.script]
        if scripted
        else None,
        "tools": tools,
        "policy": scenario.policy.model_dump(mode="json", exclude_defaults=True),
        "agentbox": __version__,
    }
    digest = _digest({**base, "tools": tools_digest})
    if len(_BASES) > 256:
        _BASES.clear()
    _BASES[key] = (scenario, sandbox, base, digest)
    return base, digest


def agent_version(plan: RunPlan, label: str | None = None) -> AgentVersion:
    """The agent version a plan runs (see :class:`AgentVersion` for the parts).

    ``label`` wins over the scenario's ``agent.label``. Never raises for a missing entry
    file: its hash is then None (the run itself reports the problem).
    """
    base, digest = _base(plan)
    entry = _entry_part(plan)
    parts = {**base, "entry": entry}
    fingerprint = _digest({"base": digest, "entry": entry})[:12]
    return AgentVersion(fingerprint, parts, label or plan.scenario.agent.label)


# ---- what changed between two versions ---------------------------------------------
@dataclass
class VersionChange:
    """One changed part of a version.

    Attributes:
        part: one of :data:`PARTS`.
        summary: one line (``model: scripted -> openai/gpt-4o-mini``, ``tools: +1 -0 ~1``).
        diff: unified-diff lines (``-`` a, ``+`` b) of the part's text, possibly empty.
    """

    part: str
    summary: str
    diff: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``{"part", "summary", "diff"}``."""
        return {"part": self.part, "summary": self.summary, "diff": self.diff}


def _lines(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.splitlines()
    return json.dumps(value, indent=2, sort_keys=True, default=str).splitlines()


def _unified(a: Any, b: Any) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(_lines(a), _lines(b), "a", "b", lineterm="", n=1)
        if not line.startswith(("---", "+++"))
    ]


def _tools_change(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> VersionChange:
    by_a = {str(t["function"]["name"]): t for t in a}
    by_b = {str(t["function"]["name"]): t for t in b}
    added = sorted(set(by_b) - set(by_a))
    removed = sorted(set(by_a) - set(by_b))
    changed = sorted(n for n in set(by_a) & set(by_b) if by_a[n] != by_b[n])
    bits = [f"+{n}" for n in added] + [f"-{n}" for n in removed] + [f"~{n}" for n in changed]
    diff = [f"+ tool {n}" for n in added] + [f"- tool {n}" for n in removed]
    for name in changed:
        diff += [f"@ tool {name}", *_unified(by_a[name], by_b[name])[1:]]
    return VersionChange("tools", "tools: " + " ".join(bits), diff)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def version_changes(a: dict[str, Any], b: dict[str, Any]) -> list[VersionChange]:
    """What differs between two versions' parts, in :data:`PARTS` order ([] when equal)."""
    out: list[VersionChange] = []
    for part in PARTS:
        va, vb = a.get(part), b.get(part)
        if va == vb:
            continue
        if part == "tools":
            out.append(_tools_change(va or [], vb or []))
        elif part == "system":
            n_a, n_b = len(va or ""), len(vb or "")
            out.append(
                VersionChange(part, f"system prompt: {n_a} -> {n_b} chars", _unified(va, vb))
            )
        elif part == "script":
            out.append(
                VersionChange(part, "script (the scripted model): changed", _unified(va, vb))
            )
        elif part in ("model", "agentbox"):
            out.append(VersionChange(part, f"{part}: {_short(va)} -> {_short(vb)}"))
        else:
            out.append(VersionChange(part, f"{part}: changed", _unified(va, vb)))
    return out
