"""Tools that break their declaration: a read tool that writes, two tools with one name,
a tool that prints while `--json` output is being written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentbox.store import TraceStore

TOOLS = '''
import os
from agentbox import State, ToolError, tool


@tool
def peek(state: State, item_id: str) -> dict:
    """Read an item (but secretly mark it as seen).

    Args:
        item_id: Item id.
    """
    with state.edit("items", item_id) as item:
        item["seen"] = True
    state.put("audit", item_id, {"peeked": True})
    return state.get("items", item_id)


@tool(effect="write")
def rename(state: State, item_id: str, name: str) -> dict:
    """Rename an item (and chat on stdout about it).

    Args:
        item_id: Item id.
        name: New name.
    """
    print("renaming", item_id, "{not json")
    os.write(1, b"raw bytes on fd 1\\n")
    with state.edit("items", item_id) as item:
        item["name"] = name
    return item
'''

SCENARIO = """
name: sneaky
sandbox: box
input: look at it1
agent: {type: scripted}
script:
  - tool_calls: [{peek: {item_id: it1}}]
  - say: looked
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    box = tmp_path / "sandboxes" / "box"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    (box / "seed" / "items.json").write_text('{"it1": {"name": "one"}}')
    (tmp_path / "state.json").write_text('{"items": {"it1": {"name": "one"}}}')
    (tmp_path / ".agentbox.toml").write_text('store = "traces.db"\n')
    (tmp_path / "sneaky.yaml").write_text(SCENARIO)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(cli: Any, project: Path, *args: str) -> dict:
    return json.loads(cli("run", *args, "--json", cwd=project).stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "extra", [["--mode", "execute"], ["--mode", "recommend"], ["--mode", "shadow"]]
)
def test_a_read_tool_cannot_write_in_any_mode(project: Path, cli: Any, extra: list[str]) -> None:
    if extra[1] == "shadow":
        extra = [*extra, "--state", "state.json"]
    out = _run(cli, project, "sneaky.yaml", *extra)
    assert out["changes"] == []  # nothing changed
    assert out["counters"]["tool_errors"] == 1
    store = TraceStore(project / "traces.db")
    try:
        (step,) = [s for s in store.steps(out["run_id"]) if s.kind == "tool"]
    finally:
        store.close()
    assert step.status == "error"
    assert step.patch is None
    assert "read tool peek tried to edit items/it1; the write was refused" in step.data["result"]
    assert out["status"] == "completed"  # a tool error: the agent is told, the run goes on


def test_json_output_survives_a_printing_tool(project: Path) -> None:
    (project / "rename.yaml").write_text(
        SCENARIO.replace("name: sneaky", "name: rename").replace(
            "{peek: {item_id: it1}}", "{rename: {item_id: it1, name: uno}}"
        )
    )
    cli = [sys.executable, "-c", "from agentbox.cli import main; main()"]
    result = subprocess.run(
        [*cli, "run", "rename.yaml", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AGENTBOX_STORE": str(project / "traces.db")},
    )
    out = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert out["status"] == "completed"
    assert out["changes"][0]["after"]["name"] == "uno"
    assert "renaming it1 {not json" in result.stderr
    assert "raw bytes on fd 1" in result.stderr


def test_json_output_survives_a_printing_tool_in_process(project: Path, cli: Any) -> None:
    (project / "rename.yaml").write_text(
        SCENARIO.replace("{peek: {item_id: it1}}", "{rename: {item_id: it1, name: uno}}")
    )
    result = cli("run", "rename.yaml", "--json", cwd=project)
    assert json.loads(result.stdout)["status"] == "completed"
    assert "renaming it1" in result.stderr


DUPLICATE = '''
from agentbox import State, tool


@tool
def lookup(state: State, item_id: str) -> dict:
    """First lookup."""
    return {}


@tool
def lookup(state: State, item_id: str) -> dict:  # noqa: F811
    """Second lookup (silently replaced the first before)."""
    return {}
'''

RENAMED = '''
from agentbox import State, tool


@tool(name="lookup")
def lookup_a(state: State, item_id: str) -> dict:
    """First lookup."""
    return {}


@tool(name="lookup")
def lookup_b(state: State, item_id: str) -> dict:
    """Second lookup."""
    return {}
'''


@pytest.mark.parametrize(("code", "lines"), [(DUPLICATE, (5, 11)), (RENAMED, (5, 11))])
def test_two_tools_with_one_name_are_a_load_error(
    project: Path, code: str, lines: tuple[int, int], cli: Any
) -> None:
    tools = project / "sandboxes" / "box" / "tools.py"
    tools.write_text(code)
    (project / "dup.yaml").write_text(
        SCENARIO.replace("name: sneaky", "name: dup-" + str(id(code)))
    )
    result = cli("run", "dup.yaml", cwd=project)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert f"tools.py:{lines[0]}" in message and f"tools.py:{lines[1]}" in message
    assert "both define tool 'lookup'" in message


def test_an_http_mock_named_like_a_tool_is_a_load_error(project: Path, cli: Any) -> None:
    mocks = project / "sandboxes" / "box" / "http_mocks.py"
    mocks.write_text(
        "from agentbox.http import http_mock\n\n"
        'ping = http_mock("GET", "https://api.box.test/ping", name="peek", json={"ok": 1})\n'
    )
    result = cli("run", "sneaky.yaml", cwd=project)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "tools.py:6" in message and "http_mocks.py:3" in message
    assert "both define tool 'peek'" in message


def test_a_computed_http_mock_name_clash_is_a_load_error(project: Path, cli: Any) -> None:
    mocks = project / "sandboxes" / "box" / "http_mocks.py"
    mocks.write_text(
        "from agentbox.http import http_mock\n\n"
        'NAME = "pe" + "ek"\n'
        'ping = http_mock("GET", "https://api.box.test/ping", name=NAME, json={"ok": 1})\n'
    )
    (project / "clash_agent.py").write_text("def run(ctx):\n    return 'never'\n")
    (project / "clash.yaml").write_text(
        "name: clash\nsandbox: box\ninput: hi\nagent: {type: python, entry: 'clash_agent:run'}\n"
    )
    result = cli("run", "clash.yaml", cwd=project)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "both define tool 'peek'" in message
    assert "http_mock GET https://api.box.test/ping" in message
    assert not (project / "traces.db").exists()  # refused before a run was recorded


def test_fork_json_output_survives_a_printing_tool(project: Path, cli: Any) -> None:
    (project / "rename.yaml").write_text(
        SCENARIO.replace("{peek: {item_id: it1}}", "{rename: {item_id: it1, name: uno}}")
    )
    first = cli("run", "rename.yaml", "--json", cwd=project)
    run_id = json.loads(first.stdout)["run_id"]
    cli = [sys.executable, "-c", "from agentbox.cli import main; main()"]
    result = subprocess.run(
        [*cli, "fork", run_id, "--at", "1", "--json"],  # step 1, the write, runs again
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert out["status"] == "completed"
    assert out["run_id"] != run_id
    assert "renaming it1 {not json" in result.stderr
