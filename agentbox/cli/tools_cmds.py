"""``agentbox tools SANDBOX``: what a sandbox offers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from agentbox.cli.base import JsonOpt, _console, _settings, command, emit, fail, to_json


def _sandbox_folder(name: str) -> Path:
    """A sandbox folder from a path or a name under the configured sandboxes folder."""
    given = Path(name)
    if (given / "tools.py").is_file():
        return given
    settings = _settings()
    candidate = settings.sandboxes_path / name
    if (candidate / "tools.py").is_file():
        return candidate
    available = sorted(p.parent.name for p in settings.sandboxes_path.glob("*/tools.py"))
    fail(
        f"no sandbox {name!r}: neither {given} nor {candidate} holds a tools.py",
        f"available in {settings.sandboxes_path}: {', '.join(available) or 'none'}; "
        "or pass a sandbox folder",
    )


_RST_LITERAL = re.compile(r"``(.+?)``")


def plain_text(text: str) -> str:
    """A docstring's text for the terminal: RST literals (in double backticks) shown
    bare. ``--json`` keeps the raw text: it is what the model is sent."""
    return _RST_LITERAL.sub(r"\1", text)


def _arg_line(name: str, prop: dict[str, Any], required: bool) -> str:
    schema = {k: v for k, v in prop.items() if k != "description"}
    text = f"    {name}: {json.dumps(schema, separators=(', ', ': '))}"
    if required:
        text += " required"
    if prop.get("description"):
        text += f" — {plain_text(prop['description'])}"
    return text


@command("tools")
def tools_cmd(
    sandbox: Annotated[
        str,
        typer.Argument(
            help="Sandbox name (a folder under `sandboxes` in .agentbox.toml) or folder.",
            show_default=False,
        ),
    ],
    data: Annotated[
        Path | None, typer.Option("--data", help="Describe with this seed instead of its own.")
    ] = None,
    samples: Annotated[
        int, typer.Option("--samples", min=0, help="Record ids to list per collection.")
    ] = 3,
    as_json: JsonOpt = False,
) -> None:
    """List a sandbox's tools and collections: what an agent can call and what it sees.

    Each tool with its effect (read/write), argument policy (validated/raw, unknown keys
    forbidden/ignored), description and the JSON Schema of its arguments; the HTTP mocks
    of http_mocks.py the same way; each collection of the seed with its record count and
    the first record ids.

    Examples:

      agentbox tools retail

      agentbox tools sandboxes/tau_retail --samples 5

      agentbox tools retail --json | jq '.tools[] | {name, effect}'
    """
    from rich.markup import escape

    from agentbox.sandbox.describe import describe_sandbox, describe_tool
    from agentbox.sandbox.loader import Sandbox

    box = Sandbox.load(_sandbox_folder(sandbox), data=data)
    info = describe_sandbox(box, samples=samples)
    info["http_mocks"] = []
    if (box.path / "http_mocks.py").is_file():
        from agentbox.http.mocks import load_http_mocks  # httpx/respx: only for such sandboxes

        info["http_mocks"] = [describe_tool(m.spec) for m in load_http_mocks(box.path)]
    if as_json:
        emit(to_json(info))
        return
    console = _console()
    console.print(f"[bold]sandbox {escape(box.name)}[/] · {escape(str(box.path))}")
    console.print(f"[bold]tools[/] ({len(info['tools'])})")
    _print_tools(console, info["tools"])
    if info["http_mocks"]:
        count = len(info["http_mocks"])
        console.print(f"[bold]HTTP mocks[/] ({count}; tools for python agents' own HTTP calls)")
        _print_tools(console, info["http_mocks"])
    console.print(
        f"[bold]collections[/] ({len(info['collections'])}) from {escape(box.seed_source)}"
    )
    for c in info["collections"]:
        ids = ", ".join(str(i) for i in c["sample_ids"])
        more = ", …" if c["count"] > len(c["sample_ids"]) and ids else ""
        console.print(f"  {escape(c['name'])}: {c['count']} records  [dim]{escape(ids + more)}[/]")
    hooks = [name for name, present in info["hooks"].items() if present]
    if hooks:
        console.print(f"[bold]hooks[/] {', '.join(hooks)}")


def _print_tools(console: Any, tools: list[dict[str, Any]]) -> None:
    """Each tool: name, effect, a non-default argument policy, description, arguments."""
    from rich.markup import escape

    for t in tools:
        policy = [] if t["args"] == "validated" else [f"args={t['args']}"]
        policy += [] if t["extra"] == "forbid" else [f"extra={t['extra']}"]
        suffix = f"  [dim]{escape(' '.join(policy))}[/]" if policy else ""
        effect = escape(f"[{t['effect']}]")
        console.print(f"  [cyan]{escape(t['name'])}[/] {effect}{suffix}", soft_wrap=True)
        if t["description"]:
            console.print(
                f"    {escape(plain_text(t['description'].splitlines()[0]))}", soft_wrap=True
            )
        params = t["parameters"]
        required = set(params.get("required", []))
        for name, prop in params.get("properties", {}).items():
            console.print(escape(_arg_line(name, prop, name in required)), soft_wrap=True)
        if params.get("$defs"):
            defs = json.dumps(params["$defs"], separators=(", ", ": "))
            console.print(f"    [dim]$defs: {escape(defs)}[/]", soft_wrap=True)
