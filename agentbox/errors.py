"""The one error tree of agentbox.

Every error a user can cause or fix derives from :class:`AgentboxError`, which carries a
one-line ``hint`` saying what to do next. The CLI prints ``message`` and ``hint`` to
stderr and exits 2 for these; anything else is a bug and keeps its traceback when
``AGENTBOX_DEBUG=1``.

::

    AgentboxError                 usage/config problems -> exit 2
    ├── ConfigError               .agentbox.toml is unreadable or wrong
    ├── ScenarioError             a scenario file is malformed (one entry per problem)
    ├── SandboxError              a sandbox folder, seed file or tools.py is wrong
    ├── StoreError                the trace store cannot be opened or a run is unknown
    └── ModelError                a model backend failed (unknown model, script exhausted)

    ToolError                     raised *by tools*: the agent sees the message as the
                                  tool result and the run goes on (not an AgentboxError)
    EndRun (BaseException)        raised *by a tool* whose call ends the run (e.g. a hand-off
                                  to a human): the call is recorded, the run completes
    RunHalted (BaseException)     raised inside agents by the runner when a budget or
                                  policy stops the run; BaseException so an agent's
                                  ``except Exception`` cannot swallow it
"""

from __future__ import annotations

from dataclasses import dataclass


class AgentboxError(Exception):
    """Base for errors the user can act on.

    Args:
        message: what went wrong, naming the file/field/id involved.
        hint: one line saying what to do next ("" when there is nothing useful to add).
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(AgentboxError):
    """`.agentbox.toml` is unreadable or holds an unknown or mistyped setting."""


@dataclass(frozen=True)
class Problem:
    """One problem in an input file: ``file:line: field.path: message``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ScenarioError(AgentboxError):
    """A scenario file is malformed. ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem], hint: str = "") -> None:
        self.problems = problems
        text = "\n".join(str(p) for p in problems)
        super().__init__(
            text, hint or "fix the fields above; `agentbox schema` prints the JSON Schema"
        )


class SandboxError(AgentboxError):
    """A sandbox folder, seed file, state snapshot or tools module is wrong or missing."""


class StoreError(AgentboxError):
    """The trace store cannot be opened, or a run/step id is unknown or ambiguous."""


class ModelError(AgentboxError):
    """A model backend failed: unknown model string, exhausted script, provider error."""


class ToolError(Exception):
    """Raised by a tool for a domain failure the agent should see and may react to.

    The message becomes the tool result (marked as an error) and the run continues.
    Any other exception raised by a tool is recorded as a tool crash.
    """


class RunHalted(BaseException):
    """Stops the agent: a budget was exceeded, or a hold was not approved with `fail`.

    Args:
        status: the run status to record (``halted`` or ``failed``).
        reason: human-readable reason, stored on the run and shown in summaries.
    """

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class EndRun(BaseException):
    """Raised by a tool whose call ends the run, such as a transfer to a human agent.

    Args:
        result: the tool's result (shown to the agent and stored on the tool step).
        output: the run's final output (default: ``result`` rendered as text).
    """

    def __init__(self, result: object, output: str | None = None) -> None:
        super().__init__(str(result))
        self.result = result
        self.output = output
