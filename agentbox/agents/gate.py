"""``ctx.gate(fn)``: the agent's own function as a gated, recorded tool of the run.

The wrapper builds a :class:`~agentbox.sandbox.tools.ToolSpec` from ``fn``'s signature
(as ``@tool``), adds it to the run's tools, and sends each call through
:meth:`AgentContext.call_tool`; in a replay the recorded results answer instead of
``fn``. :func:`agentbox.adapters.gated` is the decorator form.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, get_type_hints

from agentbox.sandbox.clash import check_tool_names, where_defined
from agentbox.sandbox.tools import make_tool

if TYPE_CHECKING:
    from agentbox.agents.context import AgentContext
    from agentbox.recording import ToolRecording
    from agentbox.sandbox.tools import ToolSpec

__all__ = ["gate_function"]


def _spec(fn: Callable[..., Any], effect: str, name: str, recording: ToolRecording | None) -> Any:
    """A ToolSpec whose implementation calls ``fn`` (or, in a replay, the recording)."""
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
    impl.__wrapped__ = fn  # type: ignore[attr-defined]  # a name clash names fn's place
    return make_tool(impl, effect=effect, name=name)  # type: ignore[arg-type]


def gate_function(
    ctx: AgentContext, fn: Callable[..., Any], *, effect: str = "write", name: str | None = None
) -> Callable[..., Any]:
    """See :meth:`AgentContext.gate`.

    Raises:
        TypeError: ``fn`` takes ``*args``/``**kwargs``.
        SandboxError: another tool of the run (or another gated function) has the name.
    """
    if effect not in ("read", "write"):
        raise ValueError(f"effect must be 'read' or 'write', not {effect!r}")
    tool_name: str = name or getattr(fn, "__name__", None) or "tool"
    cache: dict[str, ToolSpec] = ctx.__dict__.setdefault("_gated", {})
    if tool_name in cache:  # another function gated under this name is a clash
        check_tool_names(cache, {tool_name: where_defined(fn)})
    else:
        cache[tool_name] = _spec(fn, effect, tool_name, ctx.recording)
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
