"""The one API every agent drives a run through.

Built-in loops and user code (``agent: {type: python, entry: module:function}``) receive
an :class:`AgentContext`. Every model call and tool call made through it is traced,
budgeted and policy-gated; nothing else reaches the sandbox.

    def my_agent(ctx: AgentContext) -> str:
        order = ctx.call_tool("get_order", order_id="ord_5531")
        if order.ok and order.value["total_usd"] < 100:
            ctx.call_tool("create_refund", order_id="ord_5531", ...)
        reply = ctx.complete([{"role": "user", "content": ctx.input}])
        return reply.text or ""
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentbox.agents.conversation import has_user, next_user_message
from agentbox.mcp.proxy import mcp_schemas
from agentbox.mcp.serve import ContextSource, build_server
from agentbox.recording import recording_for
from agentbox.sandbox.clash import check_tool_names
from agentbox.sandbox.state import reading_only

if TYPE_CHECKING:
    from pathlib import Path

    from agentbox.models import Message, ModelResponse
    from agentbox.planning import RunPlan
    from agentbox.recording import ToolRecording
    from agentbox.runner import Runner
    from agentbox.sandbox.tools import ToolSpec


class RunEnded(RuntimeError):
    """A call through an :class:`AgentContext` after its run's agent returned."""


@dataclass
class ToolResult:
    """The outcome of one tool call as the agent sees it.

    Attributes:
        status: ``ok``, ``error`` (ToolError), ``invalid`` (bad name/arguments),
            ``blocked`` (policy), ``denied`` (approver), ``recommended`` (recommend mode,
            not executed) or ``crashed`` (the tool raised something else).
        content: the text returned to the model.
        value: the tool's return value when ``ok``, else None.
        call_id: the model's tool-call id.
    """

    status: str
    content: str
    value: Any = None
    call_id: str = ""

    @property
    def ok(self) -> bool:
        """Whether the tool ran and returned normally."""
        return self.status == "ok"

    @property
    def message(self) -> dict[str, Any]:
        """The ``tool`` role message to append to a chat conversation."""
        return {"role": "tool", "tool_call_id": self.call_id, "content": self.content}


def render_result(value: Any) -> str:
    """How a tool's return value is shown to the model: strings as-is, else JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


class AgentContext:
    """What an agent may use during a run (given to python agents and the llm loop).

    Safe to use from several threads: model calls, tool calls and recorded steps of one
    run are serialized (one at a time, in the order they take the run's lock), so every
    step gets its own index, counters and state patch.
    """

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self.closed = False
        """Set when the run's agent has returned: later calls (a thread that outlived the
        agent) raise :class:`RunEnded` instead of adding steps after ``final``."""
        self.backend_guard: Callable[[], AbstractContextManager[Any]] | None = None
        """Entered around every model-backend call (HTTP interception uses it to let
        agentbox's own model traffic through); None = nothing to enter."""

    @property
    def input(self) -> str:
        """The scenario's input: the user's first message."""
        return self._runner.plan.scenario.input

    @property
    def system(self) -> str:
        """The system prompt (scenario ``agent.system`` plus the sandbox policy text)."""
        return self._runner.system_prompt

    @property
    def messages(self) -> list[Message]:
        """A fresh copy of the conversation so far (system, user, then recorded turns)."""
        return [dict(m) for m in self._runner.messages]

    @property
    def tools(self) -> list[dict[str, Any]]:
        """OpenAI-format schemas of the tools the policy lets the agent see."""
        return self._runner.visible_tools

    @property
    def mcp_tools(self) -> list[dict[str, Any]]:
        """OpenAI-format schemas of the tools of the scenario's ``mcp_servers`` that the
        policy lists, named ``SERVER__TOOL`` (call them with :meth:`call_tool`)."""
        return mcp_schemas(self._runner)

    @property
    def mode(self) -> str:
        """``execute``, ``shadow`` or ``recommend``."""
        return self._runner.plan.mode

    @property
    def model_calls(self) -> int:
        """How many model calls this run has made."""
        return self._runner.counters.model_calls

    def complete(
        self, messages: list[Message], tools: list[dict[str, Any]] | None = None
    ) -> ModelResponse:
        """Ask the run's model. Traced as an ``llm`` step; budgets are checked first.

        Args:
            messages: OpenAI chat messages.
            tools: tool schemas to offer (default: :attr:`tools`; ``[]`` for none).
        """
        self._refuse_if_closed("model call")
        offered = self.tools if tools is None else tools
        with self._runner.serialized():
            if self.backend_guard is None:
                return self._runner.model_call(messages, offered)
            with self.backend_guard():
                return self._runner.model_call(messages, offered)

    def gate(
        self, fn: Callable[..., Any], *, effect: str = "write", name: str | None = None
    ) -> Callable[..., Any]:
        """Wrap your own function so each call is a tool step of this run.

        The schema comes from ``fn``'s signature and docstring (as with ``@tool``, without
        the ``state`` parameter). A call passes the gate (validation, policy, budgets,
        approvals); in recommend mode a ``write`` is recorded and not executed; replays
        serve the recorded results without calling ``fn``. The wrapper returns ``fn``'s
        value when it ran, else the gate's message (blocked, denied, recorded, error).
        ``async def`` functions give an async wrapper. See :mod:`agentbox.adapters.gate`.
        """
        from agentbox.agents.gate import gate_function  # start-up cost: asyncio, ~40 ms

        return gate_function(self, fn, effect=effect, name=name)

    def mcp_server(self) -> Any:
        """This run's tools as an in-process MCP server, for an agent's own MCP client.

        ``async with mcp.Client(ctx.mcp_server()) as client: await client.call_tool(...)``
        lists :attr:`tools`; each call goes through :meth:`call_tool` (a gated tool step;
        blocked or denied calls answer with ``isError``). Returns an
        ``mcp.server.lowlevel.Server``.
        """
        return build_server(ContextSource(self))

    def call_tool(
        self, name: str, arguments: Any = None, /, call_id: str | None = None, **kwargs: Any
    ) -> ToolResult:
        """Call a sandbox tool through the policy gate. Traced as a ``tool`` step.

        Pass arguments as a dict (as a model gives them) or as keywords. Never raises for
        tool failures: inspect ``status``. Raises RunHalted (a BaseException) when a
        budget or an unapproved hold stops the run.
        """
        self._refuse_if_closed(f"tool call {name}")
        args = kwargs if arguments is None else arguments
        with self._runner.serialized():
            return self._runner.tool_call(name, args, call_id)

    def raise_if_stopped(self) -> None:
        """Re-raise a run-ending signal that a call made from another thread received.

        The runner calls this when the agent function returns: a budget halt or a parked
        approval met by a worker thread ends the run even if that thread's exception was
        lost.
        """
        self._runner.raise_if_stopped()

    def _refuse_if_closed(self, what: str) -> None:
        if self.closed:
            raise RunEnded(
                f"agentbox: run {self._runner.run_id} has ended; {what} refused "
                "(made by code still running after the agent returned)"
            )

    # ---- extension points (HTTP interception) ---------------------------------------
    @property
    def sandbox_path(self) -> Path:
        """The sandbox folder of this run (a ``pathlib.Path``)."""
        return self._runner.plan.sandbox.path

    @property
    def sandbox_name(self) -> str:
        """The sandbox's name."""
        return self._runner.plan.sandbox.name

    @property
    def recording(self) -> ToolRecording | None:
        """The recording this run answers MCP and gated calls from (None: call them live)."""
        return recording_for(self._runner)

    @property
    def plan(self) -> RunPlan:
        """The run's plan (read-only: its model, tools, policy)."""
        return self._runner.plan

    @property
    def replaying(self) -> bool:
        """Whether the run is answering calls from a recording (resume, fork) right now."""
        return self._runner.replaying

    @property
    def scenario(self) -> Any:
        """The run's scenario (read-only)."""
        return self._runner.plan.scenario

    def add_tools(self, specs: dict[str, ToolSpec]) -> None:
        """Make extra tools callable through :meth:`call_tool` for the rest of this run.

        They pass the same gate as sandbox tools (validation, budgets, policy, approval,
        mode) but are not offered to the model (:attr:`tools` is unchanged). Used for a
        sandbox's HTTP mocks and the agent's gated functions.

        Raises:
            SandboxError: a name is already another tool's (sandbox, HTTP mock, gated
                function or MCP tool; :func:`agentbox.sandbox.clash.check_tool_names`).
        """
        plan = self._runner.plan
        check_tool_names({**plan.extra_tools, **plan.sandbox.tools}, specs)
        plan.extra_tools.update(  # RunPlan.tool(name) looks tools up there too
            {
                n: dataclasses.replace(s, fn=reading_only(s.fn, n)) if s.effect == "read" else s
                for n, s in specs.items()
            }
        )

    def next_user_message(self, agent_text: str | None = None) -> str | None:
        """The user's next message in a conversation (the scenario's ``user:``), or None
        when there is no user or the user is done. A ``user`` step.

        Args:
            agent_text: what the agent said that the user answers (shown to a simulated
                user, kept on the step as ``in_reply_to``).

        Raises:
            RunHalted: a budget is spent; ``halted`` at ``user.max_turns``;
                ``simulator_error`` when the simulated or python user failed.
        """
        self._refuse_if_closed("user turn")
        return next_user_message(self._runner, agent_text)

    def ask_user(self, text: str) -> str | None:
        """Say ``text`` to the user and return the answer (None: the conversation is
        over). The same as :meth:`next_user_message` with the agent's words given."""
        self._refuse_if_closed("user turn")
        return next_user_message(self._runner, text)

    @property
    def in_conversation(self) -> bool:
        """Whether the scenario has a ``user:`` section (someone answers the agent)."""
        return has_user(self._runner)

    def record_step(
        self, kind: str, name: str, *, status: str, data: dict[str, Any], block: bool = False
    ) -> dict[str, Any]:
        """Record a step that did not go through the tool gate (e.g. blocked egress).

        Budgets are checked first (a runaway agent is still halted). While a recorded
        prefix is being served (resume, fork) the recorded step is taken instead and its
        data returned. ``block`` counts the step as a policy block.

        Raises:
            RunHalted: a budget is exhausted.
            Diverged: during a prefix, the recording has another step here.
        """
        self._refuse_if_closed(f"{kind} step {name}")
        with self._runner.serialized():
            return self._runner.record_step(kind, name, status=status, data=data, block=block)


_ACTIVE: ContextVar[AgentContext | None] = ContextVar("agentbox_active_context", default=None)
_PROCESS_ACTIVE: list[AgentContext] = []  # threads the agent starts do not inherit ContextVars


def active_context() -> AgentContext | None:
    """The context of the run whose agent is executing (None outside a run)."""
    ctx = _ACTIVE.get()
    if ctx is None and _PROCESS_ACTIVE:
        return _PROCESS_ACTIVE[-1]
    return ctx


@contextmanager
def activated(ctx: AgentContext) -> Iterator[AgentContext]:
    """Make ``ctx`` the :func:`active_context` while the agent runs."""
    token = _ACTIVE.set(ctx)
    _PROCESS_ACTIVE.append(ctx)
    try:
        yield ctx
    finally:
        _PROCESS_ACTIVE.remove(ctx)
        _ACTIVE.reset(token)
