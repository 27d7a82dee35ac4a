"""The scenario file: schema (pydantic) and loading with ``file:line: field: message`` errors.

A scenario says which agent runs against which sandbox, in which mode, under which policy,
and what the run is expected to do. Every field is documented below; the same models give
`agentbox schema` its JSON Schema. Unknown fields are errors everywhere: a typo must never
be silently ignored.
"""

from __future__ import annotations

import ast
import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from agentbox.defaults import ApprovalHandler as ApprovalHandler  # re-exported
from agentbox.defaults import Budgets as Budgets  # re-exported: defined apart (settings)
from agentbox.errors import Problem, ScenarioError
from agentbox.field_docs import DocstringJsonSchema
from agentbox.paths import format_path
from agentbox.yamlfile import Loc, line_of, load_yaml

Mode = Literal["execute", "shadow", "recommend"]
Tier = Literal["green", "yellow", "red"]

MAX_REPEAT = 10_000
"""Most times one scripted turn may repeat."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


ToolCallSpec = dict[str, Any]
"""One tool call written as a one-key mapping ``{tool_name: {arg: value}}``."""


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("stream"):
        raise ValueError(
            "`stream: true` is not supported: agentbox records whole model responses "
            "(remove `stream`)"
        )
    return params


def _check_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for call in calls:
        if len(call) != 1:
            raise ValueError("each tool call is a one-key mapping {tool_name: {args}}")
    return calls


class Usage(_Model):
    """Token usage a scripted turn reports (defaults are estimated from text length)."""

    input_tokens: int = Field(0, ge=0)
    """Prompt tokens."""
    output_tokens: int = Field(0, ge=0)
    """Completion tokens."""


class ScriptTurn(_Model):
    """One turn of the scripted model: what it thinks, says and which tools it calls."""

    reasoning: str | None = None
    """The model's thinking for this turn (shown as reasoning, not sent to the user)."""
    say: str | None = None
    """Text the model says. A turn with no tool calls ends the run with this as output."""
    tool_calls: list[ToolCallSpec] = []
    """Tool calls, each ``{tool_name: {arg: value}}``; arguments may be deliberately wrong."""
    usage: Usage | None = None
    """Token usage to report; estimated (~4 characters per token) when absent."""
    cost_usd: float | None = Field(None, ge=0)
    """Cost to report for this turn in USD (scripted turns cost 0 by default)."""
    repeat: int = Field(1, ge=1, le=MAX_REPEAT)
    """Play this turn this many times in a row (for loops and budget tests), at most
    10,000."""

    _check = field_validator("tool_calls")(classmethod(lambda cls, v: _check_calls(v)))


class AgentSpec(_Model):
    """Which agent drives the run."""

    type: Literal["llm", "python", "scripted"] = "llm"
    """``llm``: the built-in tool-calling loop; ``python``: your callable (``entry``);
    ``scripted``: the llm loop over the scenario's ``script`` (same as model ``scripted``)."""
    model: str | None = None
    """A litellm model string (``openai/gpt-4o-mini``, ``ollama/llama3.1``) or ``scripted``.
    Default: ``default_model`` from .agentbox.toml, else ``scripted``."""
    system: str = ""
    """System prompt. The sandbox's policy text is appended to it."""
    max_steps: int | None = Field(None, ge=1)
    """Most model turns the loop may take before the run is halted."""
    entry: str | None = None
    """For ``python`` agents: ``path/to/file.py:function``, relative to the scenario's
    folder (then the project root); the function receives an AgentContext. The older
    ``module:function`` form is still accepted."""
    params: dict[str, Any] = {}
    """Extra keyword arguments for the model call (temperature, api_base, ...)."""
    label: str | None = None
    """A name for this agent version (``v2-shorter-prompt``), shown with its fingerprint
    and usable in ``agentbox compare``; ``--label`` on ``run``/``test`` wins."""

    _params = field_validator("params")(classmethod(lambda cls, v: _check_params(v)))
    allow_hosts: list[str] = []
    """For ``python`` agents: hosts their HTTP (httpx) may reach for real, in every mode --
    ``127.0.0.1``, ``localhost:8000``, ``*.internal.example`` or a URL. Other requests are
    answered by the sandbox's HTTP mocks, by the run's model (``POST .../chat/completions``)
    or blocked."""

    @model_validator(mode="after")
    def _entry_for_python(self) -> AgentSpec:
        if self.type == "python" and not self.entry:
            raise ValueError("a python agent needs `entry: path/to/file.py:function`")
        if self.entry is not None and ":" not in self.entry:
            raise ValueError("entry must look like path/to/file.py:function")
        return self


class Rule(_Model):
    """A policy rule over one tool's arguments."""

    name: str
    """Name shown in decisions and traces."""
    tool: str = "*"
    """Tool name or glob (``create_*``) the rule applies to."""
    when: str | None = Field(None, max_length=2000)
    """Safe expression over the arguments (``amount_usd > 200``); the rule fires when true,
    and also when it cannot be evaluated (division by zero, a missing key...: fail closed,
    the decision names the error). At most 2,000 characters and 32 levels deep.
    No ``when`` and no ``require`` means it fires on every call of ``tool``."""
    require: list[str] = []
    """Arguments that must be present and non-empty; the rule fires when one is missing."""
    tier: Tier | None = None
    """``green`` runs, ``yellow`` holds for approval, ``red`` blocks. Default: ``red`` for
    ``require`` rules, else ``yellow``."""
    reason: str | None = None
    """Why the rule exists; shown to the approver and to the agent."""

    @property
    def effective_tier(self) -> Tier:
        """The tier after defaults."""
        return self.tier or ("red" if self.require else "yellow")


class Timeouts(_Model):
    """How long one step may take. A call past its limit ends the run with status
    ``timeout`` (the step is recorded as ``timeout``); the runner stops waiting even if
    the code never returns, and nothing it does afterwards is recorded or kept.
    ``null`` means no limit."""

    tool_s: float | None = Field(30.0, gt=0)
    """Most seconds one tool call may run (a write's late changes are discarded)."""
    model_s: float | None = Field(120.0, gt=0)
    """Most seconds one model call may take (the run's model, a simulated user, the
    LLM judge)."""
    agent_s: float | None = Field(600.0, gt=0)
    """Most seconds a python agent's own code may run between two calls (tool, model)
    -- a hung agent still ends. Waiting for an approval never counts."""
    tools: dict[str, Annotated[float, Field(gt=0)]] = {}
    """Per-tool limits that replace ``tool_s``: ``{generate_report: 300}`` (names or
    globs; the first match wins)."""


class CircuitBreaker(_Model):
    """Halt a run that keeps failing or keeps being blocked (status ``halted``; the
    ``policy`` step named ``circuit_breaker`` says which limit tripped). Absent: off."""

    max_consecutive_tool_errors: int | None = Field(None, ge=1)
    """Halt after this many tool calls in a row failed -- ``error`` (a ToolError),
    ``crashed`` or ``invalid`` (unknown tool or bad arguments). A call that runs (or is
    recommended) starts the count again; blocked and denied calls leave it alone."""
    max_blocked_calls: int | None = Field(None, ge=1)
    """Halt after this many calls were blocked by the policy in the run (red rules,
    allow/deny lists, blocked HTTP egress)."""


class PolicySpec(_Model):
    """What the agent may do."""

    allow: list[str] | None = None
    """Tools (names or globs) the agent may call; absent means every sandbox tool."""
    deny: list[str] = []
    """Tools (names or globs) that are always blocked."""
    budgets: Budgets = Budgets()
    """Step, tool-call, token, cost and time limits."""
    rules: list[Rule] = []
    """Argument rules with tiers; the most severe firing rule decides."""
    timeouts: Timeouts = Timeouts()
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    """Halt after too many consecutive tool errors or blocked calls."""
    """Per-call time limits (tool, model, the agent's own code); ``max_seconds`` in
    ``budgets`` bounds the whole run and is enforced during a step too."""


class ApprovalsSpec(_Model):
    """How held (yellow) tool calls are decided."""

    handler: ApprovalHandler = "prompt"
    """``prompt`` asks on the terminal (fails when there is none), ``approve``/``deny``
    decide at once (CI), ``fail`` halts the run, ``wait`` parks the run for a decision."""
    timeout_s: float | None = Field(None, gt=0)
    """Seconds to wait for a decision before ``on_timeout`` applies."""
    on_timeout: Literal["deny", "fail"] = "deny"
    """What a timed-out approval becomes."""


class StateExpectation(_Model):
    """A check on the final state at a path like ``refunds[-1].status``."""

    path: str
    """Dotted path with ``[i]`` indexes; on a collection, ``[-1]`` is its last record."""
    equals: Any = None
    """The value expected at ``path`` (compared as JSON)."""
    exists: bool | None = None
    """Whether something must (or must not) be at ``path``; used when ``equals`` is absent."""


class JudgeExpectation(_Model):
    """An LLM judge grading the final output against a rubric."""

    rubric: str
    """What a good answer does, in plain words; the judge answers pass or fail."""
    model: str | None = None
    """litellm model string for the judge (default: the run's model)."""
    params: dict[str, Any] = {}
    """Extra keyword arguments for the judge's model call."""

    _params = field_validator("params")(classmethod(lambda cls, v: _check_params(v)))


USER_NAMES = ("last", "tools", "turn")
"""Names a user turn's ``when:`` may use: ``last`` (the agent's last message, a string),
``tools`` (names of the tools that ran so far, a list), ``turn`` (this user turn's number,
from 1)."""

USER_FUNCTIONS = ("len", "abs", "min", "max", "lower", "any", "all")
"""Functions a user turn's ``when:`` may call (the policy rules' functions)."""


class UserTurn(_Model):
    """One scripted user message, delivered when the agent yields the floor (answers
    without tool calls). A turn whose guard is false when its time comes is skipped."""

    say: str
    """What the user says."""
    after: str | None = None
    """Deliver only if this tool has run (successfully) earlier in the run."""
    when: str | None = Field(None, max_length=2000)
    """Deliver only if this safe expression is true; names: ``last`` (the agent's last
    message), ``tools`` (tools that ran), ``turn`` (this turn's number, from 1); e.g.
    ``"'confirm' in lower(last)"``."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"say": value} if isinstance(value, str) else value


class UserSpec(_Model):
    """Who answers the agent in a conversation: scripted ``turns``, a simulated user
    (``model`` + ``instructions``) or your python function (``entry``) -- exactly one.

    Each user message is a ``user`` step. The conversation ends when the user stops
    (no turns left, the ``stop`` token, a python user returning None), at ``max_turns``,
    or when a budget halts the run.
    """

    turns: list[UserTurn] | None = None
    """Scripted user messages, in order (strings, or ``{say, after, when}``)."""
    model: str | None = None
    """A simulated user: a litellm model string (``openai/gpt-4o-mini``) or ``scripted``
    (replies from ``script``). Its calls are recorded like the agent's, so replays are
    offline and identical."""
    instructions: str = ""
    """The simulated user's brief: who they are, what they want (its system prompt)."""
    stop: str = "###STOP###"
    """The simulated (or python) user ends the conversation by saying this token. Text
    before it is still delivered, and the conversation ends when the agent next yields."""
    max_turns: int | None = Field(None, ge=1, le=10_000)
    """Most user turns (default 20 for simulated and python users). A simulated or python
    user still talking at this point halts the run, naming the limit."""
    params: dict[str, Any] = {}
    """Extra keyword arguments for the simulated user's model call (api_base, ...)."""
    script: list[str] = []
    """For ``model: scripted``: the simulated user's replies, in order."""
    entry: str | None = None
    """A python user: ``path/to/file.py:function`` (relative to the scenario's folder)
    called with the conversation (a list of ``{role, content}`` messages, the agent as
    ``assistant``); it returns the next message, or None to stop."""
    out_of_character: list[str] = ["as an ai", "as a language model", "how can i assist you"]
    """Phrases (case-insensitive) that mean the simulated user broke character: the run
    ends with status ``simulator_error`` (a simulator failure, not the agent's)."""

    _params = field_validator("params")(classmethod(lambda cls, v: _check_params(v)))

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"turns": value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _one_kind(self) -> UserSpec:
        given = [k for k in ("turns", "model", "entry") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `turns` (scripted), `model` (simulated) or `entry` "
                f"(python){'; got ' + ', '.join(given) if given else ''}"
            )
        if self.entry is not None and ":" not in self.entry:
            raise ValueError("entry must look like path/to/file.py:function")
        if self.model == "scripted" and not self.script:
            raise ValueError("a `model: scripted` user needs `script:` (its replies, in order)")
        if not self.stop:
            raise ValueError("stop must not be empty")
        return self

    @property
    def kind(self) -> Literal["scripted", "simulated", "python"]:
        """Which user this is."""
        if self.turns is not None:
            return "scripted"
        return "simulated" if self.model is not None else "python"

    @property
    def turn_limit(self) -> int:
        """``max_turns`` after defaults (scripted: the number of turns)."""
        if self.max_turns is not None:
            return self.max_turns
        return len(self.turns) if self.turns is not None else 20


class Expect(_Model):
    """What the run must do to pass. Every listed expectation is checked and named."""

    status: str | None = None
    """Final run status: completed, halted, failed, timeout."""
    tool_calls: list[ToolCallSpec] = []
    """Tool calls that must have run and succeeded, each ``{tool: {arg: value}}`` (argument
    subset); blocked, denied, invalid and failed calls do not count."""
    ordered: bool = False
    """Whether ``tool_calls`` must happen in the listed order."""
    no_tool_calls: list[str] = []
    """Tools that must not have run successfully (blocked or denied attempts are fine)."""
    state: list[StateExpectation] = []
    """Checks on the final state."""
    holds: int | None = Field(None, ge=0)
    """Number of tool calls held for approval."""
    blocks: int | None = Field(None, ge=0)
    """Number of tool calls blocked by the policy."""
    approvals: int | None = Field(None, ge=0)
    """Number of held calls that were approved."""
    invalid_tool_calls: int | None = Field(None, ge=0)
    """Number of tool calls whose arguments failed validation."""
    max_cost_usd: float | None = Field(None, ge=0)
    """Ceiling on the run's model cost in USD."""
    max_tokens: int | None = Field(None, ge=0)
    """Ceiling on the run's tokens."""
    output_contains: list[str] = []
    """Strings the agent's final output must contain (case-insensitive)."""
    state_hash: str | None = None
    """A sandbox-defined hash of the final state (see the sandbox's ``state_hash``)."""
    llm_judge: list[JudgeExpectation] = []
    """Rubrics a judge model grades the final output against; verdicts are recorded (in
    the run's expectations and in exported cassettes) so replays need no model."""
    user_turns: int | None = Field(None, ge=0)
    """Number of user turns (``user`` steps) in the conversation."""
    user_final_contains: list[str] = []
    """Strings the user's last message must contain (case-insensitive)."""
    confirmed_before: list[str] = []
    """Write tools the agent must have asked the user about first: each successful call
    needs a user answer after the agent asked a question ('?') and after any earlier
    call of the same tool."""

    _check = field_validator("tool_calls")(classmethod(lambda cls, v: _check_calls(v)))

    @field_validator("output_contains", "user_final_contains", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class McpServerSpec(_Model):
    """One MCP server the agent's tools come from; agentbox sits between agent and server.

    Its tools are offered to the agent as ``SERVER__TOOL`` (the policy names them that way
    too); every call is a policy-gated ``tool`` step, forwarded to the server only when the
    mode allows it, and its result is recorded so ``agentbox replay`` needs no server.
    """

    command: str | None = None
    """Program that starts the server on stdio (e.g. ``npx``); ``python`` is the
    interpreter agentbox runs under."""
    args: list[str] = []
    """Arguments of ``command``; the server runs in this file's folder, so relative paths
    are relative to it."""
    env: dict[str, str] = {}
    """Extra environment variables for the server process."""
    url: str | None = None
    """Streamable-HTTP endpoint of a running server, instead of ``command``."""
    tools: dict[str, Literal["read", "write"]] = {}
    """Effect of each tool by its name on the server; unlisted tools are ``write``: not
    executed in recommend mode, never forwarded in shadow mode."""
    timeout_s: float = Field(30, gt=0)
    """Seconds to wait for the server to start or answer one call before the call
    becomes a tool error."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of `command` (stdio) or `url` (streamable HTTP)")
        return self


class TableSpec(_Model):
    """How one database table becomes a state collection."""

    table: str | None = None
    """The table name (default: the collection's name)."""
    key: str | None = None
    """The column whose value keys the records (default: the table's primary key)."""
    json_columns: list[str] = Field([], alias="json")
    """``json``: text columns holding JSON (PostgreSQL json/jsonb and SQLite ``JSON`` columns are
    parsed without being listed)."""


class StateSourceSpec(_Model):
    """A database the shadow state is read from (read-only, one snapshot per run)."""

    url: str | None = None
    """``sqlite:///path.db`` (relative to the scenario; ``sqlite:////abs.db``) or
    ``postgresql://user@host:port/db``; ``--state`` and ``state:`` override it."""
    tables: dict[str, TableSpec | str] | None = None
    """``{collection: {table, key}}``; omitted: every table, keyed by its primary key."""
    schema_name: str = Field("public", alias="schema")
    """PostgreSQL schema holding the tables."""
    writable_role: Literal["error", "warn"] = "error"
    """What to do when the PostgreSQL role could write to a mapped table: refuse the run
    (``error``) or accept it with a warning (``warn``)."""


class PassthroughSpec(_Model):
    """A real API host whose reads reach the network in shadow and recommend runs."""

    host: str
    """Host name (``api.example.com``; ``host:port`` for a non-default port)."""
    methods: list[str] = ["GET", "HEAD"]
    """HTTP methods that are reads (sent and recorded); every other method is never sent."""


class ShadowSpec(_Model):
    """Shadow-mode settings beyond the state source."""

    passthrough: list[PassthroughSpec] = []
    """Read-through APIs: matching reads go to the real host and are recorded (replays
    serve them offline); writes to these hosts are answered by the sandbox's HTTP mock
    when one exists, else recorded as proposed actions."""


class Scenario(_Model):
    """One scenario file: `agentbox run scenario.yaml`."""

    name: str
    """Short name shown in run lists."""
    description: str = ""
    """What the scenario exercises."""
    sandbox: str
    """Sandbox folder name under the sandboxes folder (or a path to one)."""
    mode: Mode = "execute"
    """``execute``: tools run on the run's copy of the state; ``shadow``: state from
    ``state`` or ``--state``, writes go to an overlay, the source is never touched;
    ``recommend``: write tools are not executed, each becomes a proposed action."""
    state: str | None = None
    """State snapshot source (folder or JSON/YAML file), relative to this file. Required
    for shadow mode unless ``--state`` is given; otherwise replaces the sandbox seed.
    A database URL (``sqlite:///x.db``, ``postgresql://...``) is read lazily and read-only."""
    state_source: StateSourceSpec | None = None
    """Which database tables are which collections (and their keys) for a database
    ``state``; overrides ``[state_source]`` in the sandbox's sandbox.toml."""
    shadow: ShadowSpec = ShadowSpec()
    """Shadow-mode settings: read-through APIs (``passthrough``)."""
    agent: AgentSpec = AgentSpec()
    """The agent and its model."""
    input: str
    """The user's message that starts the run. Empty with a ``user:`` section: the user
    opens the conversation (a simulated user is told the agent greeted them)."""
    user: UserSpec | None = None
    """Who answers the agent after ``input`` (a conversation): scripted turns, a
    simulated user or a python user. Without it the run ends when the agent first
    answers without tool calls."""
    script: list[ScriptTurn] = []
    """Turns for the scripted model, played in order."""
    policy: PolicySpec = PolicySpec()
    """Allowlist, budgets and rules."""
    approvals: ApprovalsSpec = ApprovalsSpec()
    """How held calls are decided (a handler name or an object)."""
    expect: Expect | None = None
    """Expectations; without them a run passes when it completes."""
    mcp_servers: dict[str, McpServerSpec] = {}
    """MCP servers whose tools the agent also gets, gated and recorded, by a short name
    (letters, digits, ``-``); see :class:`McpServerSpec`."""

    @field_validator("mcp_servers")
    @classmethod
    def _server_names(cls, value: dict[str, McpServerSpec]) -> dict[str, McpServerSpec]:
        for name in value:
            if not name or not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
                raise ValueError(f"server name {name!r}: use letters, digits and '-' only")
        return value

    _path: Path | None = PrivateAttr(None)
    _lines: dict[Loc, int] = PrivateAttr(default_factory=dict)

    def locate(self, *loc: str | int) -> tuple[str, int | None]:
        """``(file, line)`` of a field location, for errors found after loading."""
        return str(self._path or "<scenario>"), user_line(self._lines, tuple(loc))

    @property
    def path(self) -> Path | None:
        """The file this scenario was loaded from."""
        return self._path

    @field_validator("approvals", mode="before")
    @classmethod
    def _handler_shorthand(cls, value: Any) -> Any:
        return {"handler": value} if isinstance(value, str) else value

    @property
    def model_name(self) -> str | None:
        """The model named by the scenario (``scripted`` for scripted agents)."""
        return "scripted" if self.agent.type == "scripted" else self.agent.model


def _message(error: Any, loc: Loc, model_fields: dict[Loc, list[str]]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        known = model_fields.get(loc[:-1], [])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        return "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {expected}"
    if kind == "missing":
        return "required field is missing"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")


def _field_names(model: type[BaseModel], loc: Loc, out: dict[Loc, list[str]]) -> None:
    out[loc] = list(model.model_fields)
    for name, info in model.model_fields.items():
        ann = info.annotation
        for candidate in (ann, *getattr(ann, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                _field_names(candidate, (*loc, name), out)


def _field_map() -> dict[Loc, list[str]]:
    out: dict[Loc, list[str]] = {}
    _field_names(Scenario, (), out)
    return out


def _normalise(loc: tuple[Any, ...], fields: dict[Loc, list[str]]) -> Loc:
    """Drop pydantic's union/validator tags from a location, keep keys and indexes."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, int) or part in fields.get(_generic(tuple(out)), []) or not out:
            out.append(part)
        elif isinstance(part, str) and ("[" in part or part in {"function-after", "str"}):
            continue
        else:
            out.append(part)
    return tuple(out)


def _generic(loc: Loc) -> Loc:
    return tuple(p for p in loc if not isinstance(p, int))


def parse_scenario(data: Any, path: Path, lines: dict[Loc, int]) -> Scenario:
    """Validate parsed YAML as a Scenario. Raises ScenarioError listing every problem."""
    display = str(path)
    if not isinstance(data, dict):
        raise ScenarioError([Problem(display, 1, "", "a scenario must be a YAML mapping")])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        fields = _field_map()
        problems = []
        for error in exc.errors():
            loc = _normalise(error["loc"], {_generic(k): v for k, v in fields.items()})
            generic = _generic(loc)
            message = _message(error, generic, {_generic(k): v for k, v in fields.items()})
            problems.append(Problem(display, user_line(lines, loc), format_path(loc), message))
        problems.sort(key=lambda p: p.line or 0)
        raise ScenarioError(problems) from None
    _check_expressions(scenario, display, lines)
    scenario._path = path
    scenario._lines = lines
    return scenario


MAX_EXPRESSION = 2000
"""Longest policy ``when:`` expression accepted, in characters."""


def _check_expressions(scenario: Scenario, display: str, lines: dict[Loc, int]) -> None:
    """Refuse ``when:`` expressions Python cannot even parse safely (too long, nested so
    deep the parser recurses out, or exhausting memory) at load, with their line; the
    policy reports ordinary syntax errors and unknown names when the run is planned.
    A user turn's ``when:`` is checked fully here: syntax and names."""
    problems = []
    exprs: list[tuple[Loc, str, bool]] = [
        (("policy", "rules", i, "when"), rule.when, False)
        for i, rule in enumerate(scenario.policy.rules)
        if rule.when is not None
    ]
    if scenario.user is not None and scenario.user.turns:
        exprs += [
            (("user", "turns", i, "when"), turn.when, True)
            for i, turn in enumerate(scenario.user.turns)
            if turn.when is not None
        ]
    for loc, text, full in exprs:
        message = None
        if len(text) > MAX_EXPRESSION:
            message = f"expression longer than {MAX_EXPRESSION} characters"
        else:
            try:
                tree = ast.parse(text.strip(), mode="eval")
            except (RecursionError, MemoryError):
                message = "expression is nested too deeply to parse"
            except (SyntaxError, ValueError) as exc:
                if full:  # the policy reports its own rules' syntax errors
                    message = f"invalid expression: {getattr(exc, 'msg', exc)}"
            else:
                if full:
                    message = _unknown_names(tree)
        if message:
            problems.append(Problem(display, user_line(lines, loc), format_path(loc), message))
    if problems:
        raise ScenarioError(problems, "fix the expression; user turns may use last, tools, turn")


def user_line(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, also when ``user:`` was written as a bare list of turns."""
    if loc[:2] == ("user", "turns") and loc[:3] not in lines:
        short = ("user", *loc[2:])
        if short[:2] in lines:
            return line_of(lines, short)
    return line_of(lines, loc)


def _unknown_names(tree: ast.AST) -> str | None:
    """A message naming the first name a user turn's ``when:`` may not use, else None."""
    known = set(USER_NAMES) | set(USER_FUNCTIONS) | {"True", "False", "None"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in known:
            return f"unknown name {node.id!r} (use {', '.join(USER_NAMES)})"
        if isinstance(node, ast.Attribute | ast.Lambda | ast.NamedExpr):
            return "attributes, lambdas and assignments are not allowed"
    return None


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ScenarioError: unreadable file, bad YAML, or invalid fields (one problem each,
            with ``file:line: field.path: message``).
    """
    data, lines = load_yaml(path)
    return parse_scenario(data, path, lines)


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of scenario files, for editors (``agentbox schema``)."""
    schema = Scenario.model_json_schema(schema_generator=DocstringJsonSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "agentbox scenario"
    return schema
