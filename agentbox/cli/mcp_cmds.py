"""``agentbox mcp ...``: sandbox tools for any MCP client (see :mod:`agentbox.mcp`)."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from agentbox.cli.base import StoreOpt, _console, _open_store, _settings, app, fail

mcp_app = typer.Typer(
    name="mcp",
    help="Serve a scenario's sandbox tools over MCP, gated by its policy and traced.\n\n"
    "Examples:\n\n"
    "  agentbox mcp serve scenarios/mcp-serve.yaml\n\n"
    "  agentbox mcp serve scenarios/mcp-serve.yaml --http 8765",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(mcp_app)


def _guarded(fn: Any) -> Any:
    """AgentboxError -> ``error: ...`` + hint, exit 2 (as ``agentbox.cli.command``)."""

    @functools.wraps(fn)
    def guarded(*a: Any, **kw: Any) -> Any:
        from agentbox.errors import AgentboxError

        try:
            return fn(*a, **kw)
        except AgentboxError as exc:
            if os.environ.get("AGENTBOX_DEBUG"):
                raise
            fail(exc.message, exc.hint)

    return guarded


@mcp_app.command("serve")
@_guarded
def serve_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    http: Annotated[
        int | None,
        typer.Option(
            "--http",
            metavar="PORT",
            help="Serve streamable HTTP on http://127.0.0.1:PORT/mcp instead of stdio.",
        ),
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="execute | shadow | recommend (overrides the scenario).")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="State snapshot for shadow mode (folder or JSON/YAML file)."),
    ] = None,
    approvals: Annotated[
        str | None,
        typer.Option(
            "--approvals",
            help="Decide held calls: wait (for `agentbox approve`/`deny` or the TUI), approve, "
            "deny or fail (overrides the scenario; its `prompt` waits too).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only each run's summary.")
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Serve the scenario's sandbox tools over MCP, each call a gated step of a traced run.

    The client sees the tools the scenario's policy lists (names, descriptions, JSON
    schemas). Every call is a tool step through the policy gate: a yellow call waits for
    `agentbox approve`/`deny` (or the TUI, or the scenario's `approvals:` handler) and then
    answers; a red call answers with an MCP tool error naming the rule; recommend mode
    records writes without executing them. Over stdio the run ends when the client
    disconnects; over HTTP one run is open at a time and ends when a client ends its
    session or the server stops. Summaries go to stderr (stdout carries the protocol in
    stdio mode).

    Claude Code (.mcp.json), Cursor (.cursor/mcp.json) and other mcpServers-style clients:

    \b
      {"mcpServers": {"agentbox": {
          "command": "agentbox",
          "args": ["mcp", "serve", "scenarios/mcp-serve.yaml"]}}}

    Over HTTP (`agentbox mcp serve scenarios/mcp-serve.yaml --http 8765`):

    \b
      {"mcpServers": {"agentbox": {"type": "http", "url": "http://127.0.0.1:8765/mcp"}}}

    Examples:

      agentbox mcp serve scenarios/mcp-serve.yaml

      agentbox mcp serve scenarios/mcp-serve.yaml --mode recommend

      agentbox mcp serve scenarios/refund-over-limit.yaml --approvals wait --http 8765
    """
    from agentbox.cli.commands import live_printer, report_result
    from agentbox.mcp.serve import serve_http, serve_stdio
    from agentbox.runner import RunOptions, plan_run
    from agentbox.served import RunHub

    if mode is not None and mode not in ("execute", "shadow", "recommend"):
        fail(f"--mode must be one of execute, shadow, recommend (got {mode!r})")
    if approvals is not None and approvals not in ("wait", "approve", "deny", "fail"):
        fail(f"--approvals must be one of wait, approve, deny, fail (got {approvals!r})")
    settings = _settings()
    options = RunOptions(mode=mode, state_path=state, approvals=approvals)  # type: ignore[arg-type]
    err = _console(stderr=True)
    trace_store = _open_store(settings, store)

    def make_plan() -> Any:
        plan = plan_run(scenario, settings, options)
        plan.model_name = "mcp-client"  # the model is the client's, not the scenario's
        # the scenario's expectations describe its own agent, not this client's session
        plan.scenario = plan.scenario.model_copy(update={"expect": None})
        return plan

    def on_end(result: Any) -> None:
        with contextlib.suppress(typer.Exit):
            report_result(err, trace_store, result, result_mode, as_json=False, quiet=True)

    hub = RunHub(
        make_plan, trace_store, on_end=on_end, on_step=None if quiet else live_printer(err)
    )
    result_mode = hub.plan.mode
    names = ", ".join(t["function"]["name"] for t in hub.tools())
    if http is None:
        err.print(f"[dim]agentbox mcp: serving {names} over stdio[/]", soft_wrap=True)
        serve_stdio(hub)
        return

    def ready(url: str) -> None:
        err.print(f"agentbox mcp: serving {names} at {url}", soft_wrap=True)

    with contextlib.suppress(KeyboardInterrupt):
        serve_http(hub, http, on_ready=ready)
