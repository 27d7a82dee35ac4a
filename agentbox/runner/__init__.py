"""The runner: drives one agent through one plan and records every step.

:meth:`Runner.run` stores the run row and a checkpoint of its starting state (by content
hash), hands the agent an :class:`~agentbox.agents.context.AgentContext`, and records
what happens: every model call is an ``llm`` step; every tool call passes the gate --
validate -> budgets -> policy -> approval -> mode -> execute -- and becomes one ``tool``
step (a hold adds an ``approval`` step before it); budget halts and stops are ``policy``
steps, crashes ``error`` steps, and the end a ``final`` step. Each step is committed
before the next side effect. The runner never prints: observers receive each
:class:`~agentbox.store.StepRow` as it is stored.

Map of the parts (each a small class the :class:`Runner` owns, reached through its
public attributes; AgentContext, fork and resume use only ``Runner``'s public methods):

- ``core.py``    -- :class:`Runner`: wires the parts; the public seams ``model_call``,
  ``tool_call``, ``record_step``, ``new_step``/``record``, ``check_limits``,
  ``serialized``, ``interrupt``; creates the run row and drives the agent.
- ``steps.py``   -- :class:`StepLog` (``runner.log``): step numbering, counters, clock,
  storing/announcing steps (one path for new rows and filled-in write intents), the run
  row's live totals, a shadow run's read set.
- ``prefix.py``  -- :class:`RecordedPrefix` (``runner.prefix``): serving recorded steps
  (resume, fork) without re-executing anything, then going live (fork edits hook).
- ``model.py``   -- :class:`ModelGate` (``runner.models``): one model call, served or live.
- ``tools.py``   -- :class:`ToolGate` (``runner.tools``): one tool call through the gate,
  execution with intent-before-effect, tool results.
- ``approval.py``-- :class:`ApprovalGate` (``runner.approvals``): hold, park, decide.
- ``limits.py``  -- :class:`Limits` (``runner.limits``): budgets, circuit breaker, stop
  requests, per-call timeouts and the run deadline.
- ``guard.py``   -- :class:`AgentThread` (``runner.guard``): the agent's daemon thread,
  the gate and call locks, the sticky stop, taking the run over at a deadline/interrupt.
- ``ending.py``  -- :class:`RunEnd` (``runner.end``): final/policy/error steps,
  expectations and the LLM judge, the run row's end, :class:`RunResult`.
- ``signals.py`` / ``result.py`` -- the BaseExceptions that end a run early; RunResult.

The agent runs on its own daemon thread while the calling thread watches the clock
(:mod:`agentbox.watchdog`): a call that outlives ``policy.timeouts``, a python agent whose
own code runs too long between calls, or a run past ``max_seconds`` ends the run with
status ``timeout`` -- even when the code never returns; the abandoned thread cannot
record anything any more, and the run's state is rebuilt from the store without what a
still-running tool writes. Anything user code raises becomes an ``error`` step and the
run fails; a real Ctrl-C reaches the calling thread and propagates.
"""

from __future__ import annotations

from agentbox.planning import (
    RunOptions,
    RunPlan,
    plan_from_scenario,
    plan_run,
    resolve_sandbox_path,
)
from agentbox.runner.core import Runner
from agentbox.runner.result import Incomplete, RunResult, StepObserver
from agentbox.runner.signals import Diverged
from agentbox.runner.steps import seed_digest

__all__ = [
    "Diverged",
    "Incomplete",
    "RunOptions",
    "RunPlan",
    "RunResult",
    "Runner",
    "StepObserver",
    "plan_from_scenario",
    "plan_run",
    "resolve_sandbox_path",
    "seed_digest",
]
