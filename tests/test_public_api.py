"""The package root: every advertised name imports, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import agentbox


def test_all_is_sorted_and_every_name_imports() -> None:
    assert agentbox.__all__ == sorted(agentbox.__all__)
    for name in agentbox.__all__:
        assert getattr(agentbox, name) is not None, name


def test_agent_context_is_importable_from_the_root() -> None:
    from agentbox import AgentContext, ToolResult
    from agentbox.agents.context import AgentContext as Direct

    assert AgentContext is Direct
    assert ToolResult(status="ok", content="x").ok


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        agentbox.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_root_loads_neither_pydantic_nor_yaml() -> None:
    code = (
        "import sys, agentbox; "
        "print(sorted(m for m in ('pydantic', 'yaml', 'textual', 'litellm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
