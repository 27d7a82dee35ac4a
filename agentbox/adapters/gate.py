"""Gate the agent's own functions: each call becomes a policy-gated, recorded tool step.

A framework agent's tools are often plain Python (a LangGraph ``refund_order`` that calls
an internal API). Wrapped, they get what sandbox tools get, without a rewrite:

    from agentbox.adapters import gated

    @gated(effect="write")                  # outside a run: just calls the function
    def refund_order(order_id: str, amount_usd: float) -> dict:
        \"\"\"Refund an order.\"\"\"
        return payments.refund(order_id, amount_usd)

    refund = ctx.gate(refund_order_plain, effect="write")   # the same, explicitly

Inside a run each call is a ``tool`` step named after the function: its arguments are
validated against a schema built from the signature (as ``@tool``), the policy's rules and
tiers apply (a yellow call waits for its approval), budgets count it; in recommend mode a
``write`` is recorded and not executed; ``agentbox replay`` (and ``agentbox test`` of an
exported case, unless ``--live``) serves the recorded results and never calls the function. The wrapper returns the function's value when it ran, else
the text the gate gives the model (``Error: blocked by policy ...``, ``Recorded as a
recommendation ...``). Name the function in the policy's ``allow`` list when it has one.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, get_type_hints

from agentbox.agents.context import active_context
from agentbox.errors import AgentboxError
from agentbox.recording import ToolRecording, recording_for

if TYPE_CHECKING:
    from agentbox.agents.context import AgentContext
    from agentbox.sandbox.tools import ToolSpec

__all__ = ["AdapterError", "active_context", "gate_function", "gated", "require"]


class AdapterError(AgentboxError):
    """An adapter cannot be used: its framework is missing, or a tool name is unknown."""


def require(module: str, package: str, what: str) -> ModuleType:
    """Import a framework module for an adapter, or explain what to install.

    Raises:
        AdapterError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AdapterError(
            f"{what} needs the {package} package ({module} cannot be imported: {exc})",
            f"pip install {package}",
        ) from None


def _spec(fn: Callable[..., Any], effect: str, name: str, recording: ToolRecording | None) -> Any:
    """A ToolSpec whose implementation calls ``fn`` (or, in a replay, the recording)."""
    from agentbox.sandbox.tools import make_tool

    sig = inspect.signature(fn)
    state = inspect.Parameter("_agentbox_state", inspect.Parameter.POSITIONAL_ONLY)
    is_async = inspect.iscoroutinefunction(fn)

    def impl(_state: Any, /, **args: Any) -> Any:
        if recording is not None:
            return recording.call(name, args)
        if is_async:  # runs on a worker thread: no event loop here
            return asyncio.run(fn(**args))
        return fn(**args)

    impl.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[state, *sig.parameters.values()], return_annotation=sig.return_annotation
    )
    impl.__annotations__ = {k: v for k, v in get_type_hints(fn).items() if k != "return"}
    impl.__doc__ = fn.__doc__
    impl.__name__ = name
    return make_tool(impl, effect=effect, name=name)  # type: ignore[arg-type]


def gate_function(
    ctx: AgentContext, fn: Callable[..., Any], *, effect: str = "write", name: str | None = None
) -> Callable[..., Any]:
    """See :meth:`AgentContext.gate`. Raises TypeError for ``*args``/``**kwargs`` functions."""
    if effect not in ("read", "write"):
        raise ValueError(f"effect must be 'read' or 'write', not {effect!r}")
    tool_name: str = name or getattr(fn, "__name__", None) or "tool"
    cache: dict[str, ToolSpec] = ctx.__dict__.setdefault("_gated", {})
    if tool_name not in cache:
        recording = recording_for(ctx._runner)
        cache[tool_name] = _spec(fn, effect, tool_name, recording)
        ctx.add_tools({tool_name: cache[tool_name]})
    sig = inspect.signature(fn)

    def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = sig.bind(*args, **kwargs)
        return dict(bound.arguments)

    def answer(result: Any) -> Any:
        return result.value if result.ok else result.content

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def acall(*args: Any, **kwargs: Any) -> Any:
            call_args = arguments(args, kwargs)
            return answer(await asyncio.to_thread(ctx.call_tool, tool_name, call_args))

        return acall

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return answer(ctx.call_tool(tool_name, arguments(args, kwargs)))

    return call


def gated(
    fn: Callable[..., Any] | None = None, *, effect: str = "write", name: str | None = None
) -> Any:
    """Decorator: calls made while a run's agent executes become gated tool steps.

    Use as ``@gated`` (a write) or ``@gated(effect="read")``. Outside a run the function
    is called directly. Stack it under a framework's decorator (``@tool`` of LangChain,
    ``@function_tool`` of the Agents SDK) so the framework sees the original signature.
    """

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(f):

            @functools.wraps(f)
            async def arun(*args: Any, **kwargs: Any) -> Any:
                ctx = active_context()
                if ctx is None:
                    return await f(*args, **kwargs)
                return await gate_function(ctx, f, effect=effect, name=name)(*args, **kwargs)

            return arun

        @functools.wraps(f)
        def run(*args: Any, **kwargs: Any) -> Any:
            ctx = active_context()
            if ctx is None:
                return f(*args, **kwargs)
            return gate_function(ctx, f, effect=effect, name=name)(*args, **kwargs)

        return run

    return wrap(fn) if fn is not None else wrap
