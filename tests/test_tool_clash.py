"""One tool name, two definitions: refused the same way whichever two places define it.

Tools come from a sandbox's tools.py, its http_mocks.py, the agent's gated functions and
the scenario's MCP servers (agentbox.sandbox.clash). Each pair is refused with
``<where A is> and <where B is> both define tool 'NAME'`` and one hint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import agentbox
from agentbox.errors import SandboxError
from agentbox.events import ErrorEvent
from agentbox.sandbox.clash import CLASH_HINT

TOOLS = '''from agentbox import State, tool


@tool
def peek(state: State, item_id: str) -> dict:
    """Read an item."""
    return state.get("items", item_id)


@tool(name="srv__fine")
def fine(state: State) -> str:
    """A sandbox tool named like the MCP server's tool."""
    return "sandbox"
'''
PEEK_LINE, FINE_LINE = 4, 10  # the @tool lines

MCP_SERVER = r"""import json, sys

for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    result = {}
    if msg["method"] == "initialize":
        result = {"protocolVersion": msg["params"]["protocolVersion"],
                  "capabilities": {"tools": {}}, "serverInfo": {"name": "srv", "version": "0"}}
    elif msg["method"] == "tools/list":
        result = {"tools": [{"name": "fine", "description": "fine",
                             "inputSchema": {"type": "object", "properties": {}}}]}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
    sys.stdout.flush()
"""

GATING_AGENT = '''def peek(item_id: str) -> str:
    """The agent's own peek."""
    return item_id


def other(item_id: str) -> str:
    """Another function, gated under peek's name."""
    return item_id


def sandbox_clash(ctx):
    return ctx.gate(peek, effect="read")("it1")


def gate_clash(ctx):
    ctx.gate(peek, name="mine", effect="read")("it1")
    ctx.gate(peek, name="mine", effect="read")("it1")  # the same function again: fine
    return ctx.gate(other, name="mine", effect="read")("it1")
'''


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    box = tmp_path / "sandboxes" / "box"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    (box / "seed" / "items.json").write_text('{"it1": {"name": "one"}}')
    (tmp_path / "srv.py").write_text(MCP_SERVER)
    (tmp_path / "gating_agent.py").write_text(GATING_AGENT)
    (tmp_path / ".agentbox.toml").write_text('store = "traces.db"\n')
    return tmp_path


def _scenario(project: Path, **fields: object) -> Path:
    data = {"name": "clash", "sandbox": "box", "input": "hi", "agent": {"type": "scripted"}}
    data.update(fields)
    path = project / "clash.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _message(project: Path, scenario: Path) -> tuple[str, str | None]:
    """The clash message and hint, whether refused at load or by failing the run."""
    try:
        result = agentbox.run(scenario, root=project)
    except SandboxError as exc:
        return exc.message, exc.hint
    assert result.status == "failed", result
    assert result.reason is not None
    with agentbox.open_store(project / "traces.db") as store:
        (error,) = [s.event for s in store.steps(result.run_id) if s.kind == "error"]
    assert isinstance(error, ErrorEvent) and error.error == result.reason
    return result.reason, error.hint


def test_two_tools_in_tools_py(project: Path) -> None:
    tools = project / "sandboxes" / "box" / "tools.py"
    tools.write_text(TOOLS.replace('@tool(name="srv__fine")', '@tool(name="peek")'))
    message, hint = _message(project, _scenario(project, script=[{"say": "hi"}]))
    assert message == f"{tools}:{PEEK_LINE} and {tools}:{FINE_LINE} both define tool 'peek'"
    assert hint == CLASH_HINT


def test_an_http_mock_and_a_tool(project: Path) -> None:
    box = project / "sandboxes" / "box"
    (box / "http_mocks.py").write_text(
        "from agentbox.http import http_mock\n\n"
        'ping = http_mock("GET", "https://api.box.test/ping", name="peek", json={"ok": 1})\n'
    )
    message, hint = _message(project, _scenario(project, script=[{"say": "hi"}]))
    tools = box / "tools.py"
    assert message == f"{tools}:{PEEK_LINE} and {box}/http_mocks.py:3 both define tool 'peek'"
    assert hint == CLASH_HINT


@pytest.mark.parametrize(
    ("entry", "first", "second", "name"),
    [
        ("sandbox_clash", f"sandboxes/box/tools.py:{PEEK_LINE}", "gating_agent.py:1", "peek"),
        ("gate_clash", "gating_agent.py:1", "gating_agent.py:6", "mine"),
    ],
)
def test_a_gated_function(project: Path, entry: str, first: str, second: str, name: str) -> None:
    scenario = _scenario(project, agent={"type": "python", "entry": f"gating_agent:{entry}"})
    message, hint = _message(project, scenario)
    assert message == f"{project / first} and {project / second} both define tool {name!r}"
    assert hint == CLASH_HINT


def test_an_mcp_tool_and_a_sandbox_tool(project: Path) -> None:
    server = {"command": "python", "args": ["srv.py"], "timeout_s": 20}
    scenario = _scenario(project, mcp_servers={"srv": server}, script=[{"say": "hi"}])
    message, hint = _message(project, scenario)
    tools = project / "sandboxes" / "box" / "tools.py"
    assert message == (
        f"{tools}:{FINE_LINE} and MCP server 'srv' (tool 'fine') both define tool 'srv__fine'"
    )
    assert hint == CLASH_HINT
