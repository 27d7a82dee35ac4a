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

import functools
import importlib
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

from agentbox.agents.context import active_context
from agentbox.agents.gate import gate_function
from agentbox.errors import AgentboxError

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
