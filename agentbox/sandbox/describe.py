"""What a loaded sandbox offers, as plain JSON-like data (``agentbox tools SANDBOX``).

Kept apart from the loader so the CLI and the Python API describe a sandbox the same
way; nothing here prints.
"""

from __future__ import annotations

from typing import Any

from agentbox.sandbox.loader import Sandbox
from agentbox.sandbox.tools import ToolSpec


def describe_tool(spec: ToolSpec) -> dict[str, Any]:
    """One tool: ``name``, ``effect``, ``args`` policy, ``extra``, ``description`` and
    ``parameters`` (the JSON Schema of its arguments, as the model sees it)."""
    return {
        "name": spec.name,
        "effect": spec.effect,
        "args": spec.args,
        "extra": spec.extra,
        "description": spec.description,
        "parameters": spec.parameters,
    }


def describe_sandbox(box: Sandbox, samples: int = 3) -> dict[str, Any]:
    """A sandbox's tools, collections and hooks.

    Args:
        box: the loaded sandbox.
        samples: how many record keys to list per collection (the first ones).

    Returns:
        ``{"name", "path", "seed_source", "tools": [describe_tool(...)], "collections":
        [{"name", "count", "sample_ids"}], "hooks": {"state_fingerprint": bool,
        "task_scenario": bool}, "policy_text": bool}``.
    """
    collections = []
    for name, records in box.seed.items():
        keys = list(records)
        collections.append({"name": name, "count": len(keys), "sample_ids": keys[:samples]})
    return {
        "name": box.name,
        "path": str(box.path),
        "seed_source": box.seed_source,
        "tools": [describe_tool(spec) for spec in box.tools.values()],
        "collections": collections,
        "hooks": {
            "state_fingerprint": box.state_hasher is not None,
            "task_scenario": box.task_scenario is not None,
        },
        "policy_text": bool(box.policy_text),
    }
