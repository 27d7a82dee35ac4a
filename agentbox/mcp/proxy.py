"""The agent's own MCP servers inside a run: gated, recorded, replayed without them.

A scenario's ``mcp_servers:`` names servers (a stdio command or a streamable-HTTP URL).
When the run starts, agentbox connects to each, lists its tools and offers them to the
agent as ``SERVER__TOOL`` -- to the built-in llm loop as tools, to python agents through
``ctx.call_tool("SERVER__TOOL", ...)`` and ``ctx.mcp_tools``. Every call passes the gate
(schema validation against the server's input schema, allowlist, rules and tiers,
budgets, approvals) and is a ``tool`` step; it is forwarded to the server only when the
mode allows it: a ``write`` tool (the default; ``read`` when the scenario says so) is not
executed in recommend mode and never forwarded in shadow mode (the server's state cannot
be overlaid).

The listing is stored with the run (``options.mcp_tools``) and every result in its tool
step, so ``agentbox replay`` serves both from the recording and needs no server; an
exported case carries both in its cassette, so ``agentbox test`` needs none either
(:mod:`agentbox.recording`).

A server that does not start, crashes, hangs past ``timeout_s`` or answers with garbage
turns the call into a tool error (or, at start-up, fails the run with an error step);
nothing waits forever.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, create_model

from agentbox.errors import AgentboxError, Problem, ToolError
from agentbox.http.bypass import mark_own_traffic
from agentbox.recording import recording_for
from agentbox.sandbox.clash import check_tool_names
from agentbox.sandbox.tools import ToolSpec, non_finite

if TYPE_CHECKING:
    from agentbox.runner import Runner
    from agentbox.scenario import McpServerSpec, Scenario

SEP = "__"
"""Between server and tool name: ``files__read_file`` (model APIs allow no dots)."""


class McpServerError(AgentboxError):
    """An MCP server of the scenario could not be started or listed."""


_OPEN_ARGS: type[BaseModel] = create_model("mcp_args", __config__=ConfigDict(extra="allow"))


@dataclass(frozen=True)
class McpToolSpec(ToolSpec):
    """A tool of an MCP server: arguments are checked against its JSON Schema."""

    server: str = ""
    tool: str = ""

    def validate(self, args: Any) -> tuple[dict[str, Any] | None, list[str]]:
        """Check ``args`` against the server's input schema (and refuse NaN/infinity)."""
        if not isinstance(args, dict):
            return None, [f"arguments must be a JSON object, got {type(args).__name__}"]
        from jsonschema import Draft202012Validator  # installed with mcp

        errors = [
            f"{'.'.join(str(p) for p in e.absolute_path) or '(arguments)'}: {e.message}"
            for e in Draft202012Validator(self.parameters).iter_errors(args)
        ]
        errors += [f"{loc}: Input should be a finite number" for loc in non_finite(args)]
        return (None, errors) if errors else (dict(args), [])


def tool_known_at_run_time(scenario: Scenario, problem: Problem) -> bool:
    """Whether a policy problem is only that a tool is not known before the run.

    A rule or allow/deny pattern naming ``SERVER__...`` for a server of the scenario cannot
    be checked when the scenario loads: the server lists its tools when the run starts.
    Nor can a python agent's own functions (``ctx.gate``, ``agentbox.adapters.gated``):
    they become tools when the agent first calls them.
    """
    if scenario.agent.type == "python" and problem.message.startswith("no sandbox tool matches"):
        return True
    prefixes = tuple(f"{name}{SEP}" for name in scenario.mcp_servers)
    if not prefixes:
        return False
    policy = scenario.policy
    field = problem.field
    for i, rule in enumerate(policy.rules):
        if field.startswith(f"policy.rules[{i}].") and rule.tool.startswith(prefixes):
            return True
    for kind, patterns in (("allow", policy.allow or []), ("deny", policy.deny)):
        for i, pattern in enumerate(patterns):
            if field == f"policy.{kind}[{i}]" and pattern.startswith(prefixes):
                return True
    return False


# ---- live servers ------------------------------------------------------------------
class Connections:
    """Sessions with MCP servers, kept open on a private event loop for sync callers.

    Args:
        servers: name -> spec (from the scenario).
        base: the working folder of stdio servers (relative ``args`` resolve against it).
    """

    def __init__(self, servers: dict[str, McpServerSpec], base: Path) -> None:
        self.servers = servers
        self.base = base
        self._stack = contextlib.ExitStack()
        self._portal: Any = None
        self._clients: dict[str, Any] = {}
        self._tasks: dict[str, Future[Any]] = {}
        self._stop: dict[str, Any] = {}

    def open(self) -> dict[str, list[dict[str, Any]]]:
        """Start/connect every server and list its tools.

        Returns:
            server name -> ``[{"name", "description", "input_schema"}, ...]``.

        Raises:
            McpServerError: a server did not start, answer or list within its timeout.
        """
        from anyio.from_thread import (
            start_blocking_portal,
        )  # start-up cost: anyio/mcp only for mcp_servers

        self._portal = self._stack.enter_context(start_blocking_portal())
        listing = {}
        for name, spec in self.servers.items():
            ready: Future[list[dict[str, Any]]] = Future()
            self._tasks[name] = self._portal.start_task_soon(self._hold, name, spec, ready)
            try:
                listing[name] = ready.result(timeout=spec.timeout_s)
            except FutureTimeout:
                self._tasks[name].cancel()
                raise McpServerError(
                    f"MCP server {name!r} did not start and list its tools within "
                    f"{spec.timeout_s:g} s",
                    "check `mcp_servers` in the scenario, or raise its timeout_s",
                ) from None
            except Exception as exc:
                raise McpServerError(
                    f"MCP server {name!r} failed to start: {_why(exc)}",
                    "check its command/args (or url) under `mcp_servers` in the scenario",
                ) from None
        return listing

    async def _hold(
        self, name: str, spec: McpServerSpec, ready: Future[list[dict[str, Any]]]
    ) -> None:
        """Keep one server's session open until :meth:`close` (runs on the portal)."""
        import anyio  # start-up cost: the mcp SDK only when used
        from mcp import Client

        stop = anyio.Event()
        self._stop[name] = stop
        if spec.url is not None:
            mark_own_traffic()  # tasks the client starts below inherit this context
        try:
            async with Client(self._target(spec), read_timeout_seconds=spec.timeout_s) as client:
                listed = await client.list_tools()
                self._clients[name] = client
                ready.set_result(
                    [
                        {
                            "name": t.name,
                            "description": t.description or "",
                            "input_schema": t.input_schema,
                        }
                        for t in listed.tools
                    ]
                )
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if not isinstance(exc, Exception):
                raise

    def _target(self, spec: McpServerSpec) -> Any:
        if spec.url is not None:
            return spec.url
        from mcp.client.stdio import (
            StdioServerParameters,
            stdio_client,
        )  # start-up cost: the mcp SDK

        command = spec.command or ""
        if command in ("python", "python3"):  # the interpreter agentbox runs under
            command = sys.executable
        params = StdioServerParameters(
            command=command, args=list(spec.args), env=dict(spec.env) or None, cwd=self.base
        )
        return stdio_client(params, errlog=_errlog())

    def call(self, server: str, tool: str, args: dict[str, Any]) -> Any:
        """Call ``tool`` on ``server``; returns its value (structured content, JSON or text).

        Raises:
            ToolError: the tool reported an error, or the server crashed, timed out or
                answered with something that is not a tool result.
        """
        spec = self.servers[server]
        client = self._clients.get(server)
        if client is None:
            raise ToolError(f"MCP server {server!r} is not connected")

        async def ask() -> Any:
            import anyio  # start-up cost

            if spec.url is not None:
                mark_own_traffic()

            with anyio.fail_after(spec.timeout_s + 1):
                return await client.call_tool(tool, args, read_timeout_seconds=spec.timeout_s)

        try:
            result = self._portal.call(ask)
        except Exception as exc:
            why = _why(exc)
            if isinstance(exc, TimeoutError) or "timed out" in why:  # ours, or the SDK's
                why = f"did not answer {tool} within {spec.timeout_s:g} s"
            else:
                why = f"failed on {tool}: {why}"
            raise ToolError(f"MCP server {server!r} {why}") from None
        return _value(result)

    def close(self) -> None:
        """Stop every server (stdio processes are terminated) and the event loop."""
        if self._portal is None:
            return
        for name, stop in self._stop.items():
            with contextlib.suppress(Exception):
                self._portal.call(stop.set)
            with contextlib.suppress(BaseException):
                self._tasks[name].result(timeout=10)
        for task in self._tasks.values():
            task.cancel()
        with contextlib.suppress(Exception):
            self._stack.close()
        self._portal = None


def _errlog() -> Any:
    """Where a stdio server's stderr goes: ours, or the process's when ours is no file."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # captured (tests' CliRunner)
        return sys.__stderr__
    return sys.stderr


def _why(exc: BaseException) -> str:
    """A one-line reason, unwrapping exception groups (anyio task groups raise them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _value(result: Any) -> Any:
    """A ``CallToolResult`` as a tool value (raises ToolError when it is an error)."""
    texts = [getattr(b, "text", None) for b in result.content]
    text = "\n".join(
        t if t is not None else json.dumps(b.model_dump(mode="json"))
        for t, b in zip(texts, result.content, strict=True)
    )
    if result.is_error:
        raise ToolError(text or "the MCP tool reported an error")
    if result.structured_content is not None:
        return result.structured_content
    if len(result.content) == 1 and texts[0] is not None:
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(texts[0])
    return text


# ---- wiring into a run ----------------------------------------------------------------
@contextlib.contextmanager
def proxied(runner: Runner) -> Iterator[None]:
    """Offer the scenario's MCP tools for the duration of the run, then stop the servers.

    Live runs connect to the servers; replays (of a stored run, or of a suite case that
    carries its results) take the listing and every result from the recording
    (:func:`agentbox.recording.recording_for`). The listing is stored with the run.

    Raises:
        McpServerError: a server did not start or list its tools.
        SandboxError: an MCP tool's name is another tool's (a sandbox tool, an HTTP mock).
    """
    plan, store = runner.plan, runner.store
    scenario = plan.scenario
    recording = recording_for(runner)
    connections: Connections | None = None
    call: Callable[[str, str, dict[str, Any]], Any]
    if recording is not None:
        if recording.listing is None:
            raise McpServerError(
                f"{recording.source} has no recorded MCP tool listing",
                "re-export the case, or run it with --live",
            )
        listing = recording.listing
        rec = recording

        def call(server: str, tool: str, args: dict[str, Any]) -> Any:
            return rec.call(f"{server}{SEP}{tool}", args)

    else:
        base = scenario.path.parent if scenario.path else Path(os.getcwd())
        connections = Connections(scenario.mcp_servers, base)
        try:
            listing = connections.open()
        except BaseException:
            connections.close()
            raise
        call = connections.call
    run = store.get_run(runner.run_id)  # stored with every run: its replay needs no server
    store.update_run(runner.run_id, options={**run.options, "mcp_tools": listing})
    try:
        specs = _specs(scenario, listing, plan.mode, call)
        check_tool_names({**plan.extra_tools, **plan.sandbox.tools}, specs)
        plan.extra_tools.update(specs)
        runner.visible_tools = [
            *runner.visible_tools,
            *(s.openai_schema() for n, s in specs.items() if plan.policy.listed(n) is None),
        ]
        yield
    finally:
        if connections is not None:
            connections.close()


def _specs(
    scenario: Scenario,
    listing: dict[str, list[dict[str, Any]]],
    mode: str,
    call: Callable[[str, str, dict[str, Any]], Any],
) -> dict[str, McpToolSpec]:
    specs: dict[str, McpToolSpec] = {}
    for server, tools in listing.items():
        spec = scenario.mcp_servers.get(server)
        effects = spec.tools if spec is not None else {}
        for t in tools:
            effect = effects.get(t["name"], "write")
            name = f"{server}{SEP}{t['name']}"
            spec_ = McpToolSpec(
                name=name,
                effect=effect,
                description=t["description"],
                fn=_forward(server, t["name"], effect, mode, call),
                args_model=_OPEN_ARGS,
                parameters=dict(t["input_schema"] or {"type": "object", "properties": {}}),
                server=server,
                tool=t["name"],
            )
            check_tool_names(specs, {name: spec_})  # ("a", "b__c") and ("a__b", "c")
            specs[name] = spec_
    return specs


def _forward(
    server: str, tool: str, effect: str, mode: str, call: Callable[[str, str, dict[str, Any]], Any]
) -> Callable[..., Any]:
    def forward(state: Any, **args: Any) -> Any:
        if mode == "shadow" and effect == "write":
            raise ToolError(
                f"{server}{SEP}{tool} is a write tool of MCP server {server!r}: not forwarded "
                "in shadow mode (the server's own state cannot be overlaid)"
            )
        return call(server, tool, args)

    forward.__name__ = f"{server}{SEP}{tool}"
    return forward


def mcp_schemas(runner: Runner) -> list[dict[str, Any]]:
    """OpenAI-format schemas of this run's MCP tools that the policy lists."""
    plan = runner.plan
    return [
        s.openai_schema()
        for n, s in plan.extra_tools.items()
        if isinstance(s, McpToolSpec) and plan.policy.listed(n) is None
    ]


__all__ = ["SEP", "Connections", "McpServerError", "McpToolSpec", "proxied"]
