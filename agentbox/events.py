"""The trace format: what every step kind stores, as one pydantic model per kind.

A stored step (``agentbox.store.StepRow``) has common columns -- ``run_id``, ``idx``,
``kind``, ``name``, ``status``, times, tokens, cost, the message it adds, its state patch,
the counters after it -- and a JSON ``data`` column whose shape depends on ``kind``. This
module is that shape: each kind is a model below with a ``Literal`` ``kind`` tag, and
:data:`Event` is their discriminated union (the pattern of Inspect AI's events). It
imports nothing from the store, so every layer may use it.

Reading is tolerant: fields a model does not name are kept (``extra="allow"``), a step
kind this version does not know parses as :class:`UnknownEvent`, and a row whose data
does not fit its model falls back to :class:`UnknownEvent` too (:func:`parse_event`), so
any store written since the first release opens and renders. Writing is strict: the store
calls :func:`check_event` on every step it writes, so a writer that drifts from these
models (a missing field, a wrong type, a status its kind does not have, an unknown kind)
fails loudly, in tests first.

``docs/trace-format.md`` is generated from these models: ``python -m agentbox.events``
prints it, ``python -m agentbox.events --write`` rewrites the file (a test checks that it
is current).

How to add a step kind (e.g. ``user``):

1. Write ``class UserEvent(StepEvent)`` with ``kind: Literal["user"] = "user"``, a
   docstring saying when the step is written, one docstring under every field, and
   ``STATUSES`` (the statuses a step of this kind may have; add new ones to
   :data:`StepStatus`).
2. Add it to :data:`Event` and :data:`EVENT_TYPES` (a test checks both list every kind).
3. Add its look to :mod:`agentbox.steplook` (one function: the CLI and the TUI both use it).
4. Run ``python -m agentbox.events --write`` and commit ``docs/trace-format.md``.

Adding a kind or an optional field keeps :data:`TRACE_FORMAT`. Renaming, removing or
retyping a stored field bumps it and needs an upgrade in :func:`upgrade_data` (applied
when reading older rows) and a migration of stored rows in the store.

Format history: 1 -- the first release (no version recorded in the store). 2 -- a
``policy`` step's ``data.kind`` (what timed out) is ``data.cause``; the version is stored
in the store's ``meta`` table as ``trace_format``.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeAlias, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator

from agentbox.errors import StoreError
from agentbox.field_docs import description

TRACE_FORMAT = 2
"""Version of the stored step shapes (``meta.trace_format`` in a store)."""

RunStatus = Literal[
    "running",
    "awaiting_approval",
    "completed",
    "halted",
    "failed",
    "stopped",
    "timeout",
    "simulator_error",
]
"""A run's status as stored (``runs.status``). ``simulator_error``: the conversation's
simulated (or python) user failed -- errored or broke character -- not the agent."""

FinishedStatus = Literal["completed", "halted", "failed", "stopped", "timeout", "simulator_error"]
"""Run statuses that are final (also the status of the ``final`` step)."""

ToolStatus = Literal[
    "ok",
    "error",
    "invalid",
    "crashed",
    "blocked",
    "denied",
    "recommended",
    "pending",
    "abandoned",
    "timeout",
    "stopped",
]
"""A ``tool`` step's status: ``ok`` (ran), ``error`` (the tool raised ToolError),
``invalid`` (arguments failed the schema), ``crashed`` (the tool raised anything else),
``blocked`` (policy or egress guard), ``denied`` (by an approver), ``recommended`` (not
executed in recommend mode), ``pending`` (a write's intent, result not yet recorded),
``abandoned`` (its run died while it executed), ``timeout``/``stopped`` (the run ended
while it ran)."""

ApprovalStatus = Literal["pending", "approved", "edited", "denied", "failed", "closed"]
"""An ``approval`` step's status: ``pending`` until decided; ``edited`` is approved with
edited arguments; ``failed`` halted the run; ``closed``: the run ended first."""

StepStatus = Literal[
    "ok",
    "error",
    "invalid",
    "crashed",
    "blocked",
    "denied",
    "recommended",
    "pending",
    "abandoned",
    "approved",
    "edited",
    "closed",
    "completed",
    "halted",
    "failed",
    "stopped",
    "timeout",
    "simulator_error",
]
"""Every status a step may have (each kind allows a subset: its ``STATUSES``)."""

PolicyVerdict = Literal["allow", "hold", "block"]
"""What the policy says about a tool call (green, yellow, red)."""

Tier = Literal["green", "yellow", "red"]
"""A policy rule's tier: auto-run, hold for approval, block."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---- parts ---------------------------------------------------------------------------
class PolicyDecision(_Model):
    """The policy's decision on one tool call (``agentbox.policy.Decision`` as stored)."""

    verdict: PolicyVerdict
    """``allow``, ``hold`` (needs an approval) or ``block``."""
    tier: Tier
    """The tier of the rule that decided (``green`` when none applies)."""
    rule: str | None = None
    """The deciding rule's name (None: no rule applied)."""
    reason: str = ""
    """Why, in one sentence."""


class ModelToolCall(_Model):
    """One tool call a model asked for."""

    id: str | None = None
    """The call id the model gave (answers refer to it)."""
    name: str | None = None
    """The tool's name."""
    arguments: Any = None
    """The arguments as the model sent them (a JSON object, or text that did not parse)."""


class ModelOutput(_Model):
    """What a model answered (``agentbox.models.ModelResponse`` as stored)."""

    text: str | None = None
    """The answer's text (None: only tool calls)."""
    reasoning: str | None = None
    """Reasoning or thinking text, kept apart from the answer."""
    tool_calls: list[ModelToolCall] = []
    """Tool calls, in the model's order."""
    input_tokens: int | None = 0
    """Prompt tokens."""
    output_tokens: int | None = 0
    """Completion tokens."""
    cost_usd: float | None = None
    """Cost in USD (None: the price is unknown, never shown as $0)."""
    model: str | None = None
    """The model that answered, as the provider named it."""


class ModelRequest(_Model):
    """A model request, stored as a delta against the run's previous request."""

    hash: str | None = None
    """The request's hash (cassette key; None for imported traces)."""
    prefix: int = 0
    """How many leading messages it shares with the previous request."""
    delta: list[dict[str, Any]] = []
    """The messages after that shared prefix (chat-completions message dicts)."""
    tools: list[Any] = []
    """The names of the tools offered."""


class HttpAnswer(_Model):
    """A real host's answer to a read-through HTTP request."""

    status: int
    """HTTP status code."""
    headers: dict[str, str] = {}
    """The headers kept (content type and the like)."""
    body: str = ""
    """The body as text."""


# ---- step kinds ----------------------------------------------------------------------
class StepEvent(_Model):
    """Base of every step kind: the typed ``data`` of a stored step."""

    kind: str
    """The step kind (the ``kind`` column; not stored inside ``data``)."""
    STATUSES: ClassVar[tuple[str, ...]] = ("ok",)
    """The statuses a step of this kind may have."""

    def to_data(self) -> dict[str, Any]:
        """The JSON ``data`` column for this event (fields that were set, plus extras)."""
        return self.model_dump(mode="json", exclude={"kind"}, exclude_unset=True)


class LlmEvent(StepEvent):
    """A model call (``name``: the model). Tokens and cost are also step columns."""

    kind: Literal["llm"] = "llm"
    response: ModelOutput
    """What the model answered."""
    request: ModelRequest | None = None
    """What it was asked (a delta against the previous request)."""
    span_id: str | None = None
    """Imported traces: the span it came from."""
    tool_schemas: dict[str, Any] | None = None
    """Imported traces: each offered tool's description and parameter schema."""


class ToolEvent(StepEvent):
    """A tool call through the gate (``name``: the tool), or a call the HTTP layer or the
    egress guard recorded as one (``name`` ``http``, ``egress`` or ``subprocess``)."""

    kind: Literal["tool"] = "tool"
    STATUSES: ClassVar[tuple[str, ...]] = get_args(ToolStatus)
    args: Any
    """The arguments: validated ones (a JSON object), or the raw ones when invalid."""
    tool: str | None = None
    """The tool's name (gated calls)."""
    call_id: str | None = None
    """The model's call id (``call_N`` when it gave none)."""
    effect: Literal["read", "write"] | None = None
    """The tool's effect."""
    valid: bool | None = None
    """Whether the arguments passed the tool's schema."""
    validation_errors: list[str] | None = None
    """Why they did not (``invalid`` calls)."""
    decision: PolicyDecision | None = None
    """The policy's decision (calls that were validated)."""
    approval_id: str | None = None
    """The approval that decided a held call."""
    result: str | None = None
    """What the agent was told: the result's text, or ``Error: ...`` (None while
    ``pending``)."""
    value_is_json: bool | None = None
    """The result is the JSON of a non-string value (replays parse it back)."""
    edited: bool | None = None
    """The result was given at a fork (``fork --tool-result``), not produced by the tool."""
    ends_run: bool | None = None
    """The tool ended the run (``EndRun``)."""
    traceback: str | None = None
    """``crashed``: where the tool failed."""
    timeout: bool | None = None
    """The run timed out while the tool ran."""
    stopped: bool | None = None
    """The run was stopped while the tool ran."""
    span_id: str | None = None
    """Imported traces: the span it came from."""
    # HTTP requests (name ``http``) and blocked connections (``egress``)
    method: str | None = None
    """``http``: the request method."""
    url: str | None = None
    """``http``: the URL (secret query values redacted)."""
    host: str | None = None
    """``http``/``egress``: the host."""
    port: int | None = None
    """``egress``: the port."""
    reason: str | None = None
    """``http``/``egress``: why it was blocked or not sent."""
    query_keys: list[str] | None = None
    """``http``: the query's parameter names."""
    passthrough: bool | None = None
    """``http``: a read sent to the real host (read-through)."""
    response: HttpAnswer | None = None
    """``http`` read-through: the real host's answer (replays serve it)."""
    proposed: bool | None = None
    """``http``: a write to a read-through host, recorded and never sent."""
    library: str | None = None
    """``egress``: the library that connected (``httpx``, ``requests``, ``socket``...)."""
    thread: str | None = None
    """``egress``: the connecting thread's name."""
    event: str | None = None
    """``egress``/``subprocess``: the audit event that caught it."""
    argv: list[str] | None = None
    """``subprocess``: the program and its arguments."""
    proxy: str | None = None
    """``subprocess``: the proxy the program was given (None: not contained)."""


class ApprovalEvent(StepEvent):
    """A held call (``name``: the tool) and, once decided, its decision. The ``tool``
    step that follows it carries the call's outcome."""

    kind: Literal["approval"] = "approval"
    STATUSES: ClassVar[tuple[str, ...]] = get_args(ApprovalStatus)
    approval_id: str
    """The approval record's id (``ap_...``)."""
    tool: str
    """The held tool."""
    args: dict[str, Any]
    """Its validated arguments."""
    decision: PolicyDecision
    """The hold (verdict ``hold``, its rule and reason)."""
    call_id: str | None = None
    """The model's call id."""
    decided_by: str | None = None
    """Who decided (a user name, ``ci``, ``timeout``, ``agentbox`` when closed)."""
    reason: str | None = None
    """The decision's reason (shown to the agent on deny)."""
    edited_args: dict[str, Any] | None = None
    """Arguments an approver edited before approving."""
    decided_at: float | None = None
    """When it was decided (Unix seconds)."""


class PolicyEvent(StepEvent):
    """The run was ended by a budget, the circuit breaker, a timeout or ``agentbox stop``
    (``name`` and ``status``: ``halted``, ``timeout``, ``stopped``...)."""

    kind: Literal["policy"] = "policy"
    STATUSES: ClassVar[tuple[str, ...]] = (
        "halted",
        "timeout",
        "stopped",
        "failed",
        "simulator_error",
    )
    reason: str
    """Why, in one sentence (also the run's reason)."""
    cause: Literal["tool", "model", "agent", "run", "interrupt"] | None = None
    """For a deadline or an interrupt: what ran out of time (``run``: ``max_seconds``)
    or ``interrupt`` (stopped from outside)."""


class ErrorEvent(StepEvent):
    """What failed the run (``name``: the exception type)."""

    kind: Literal["error"] = "error"
    STATUSES: ClassVar[tuple[str, ...]] = ("failed",)
    error: str
    """The error message."""
    hint: str | None = None
    """agentbox errors: what to do next."""
    traceback: str | None = None
    """Where it was raised (errors from the agent's or a tool's code)."""


class FinalEvent(StepEvent):
    """The end of the run, always its last step (``name`` and ``status``: the run's
    final status)."""

    kind: Literal["final"] = "final"
    STATUSES: ClassVar[tuple[str, ...]] = get_args(FinishedStatus)
    output: str | None = None
    """The agent's final answer."""
    reason: str | None = None
    """Why the run ended this way (None when it completed)."""
    stopped_by: str | None = None
    """``agentbox stop`` of a run no process drove: who stopped it."""


class ForkEvent(StepEvent):
    """The first new step of a forked run: where it branched and what was edited
    (``name`` ``edit``). A ``--set`` edit is the step's state patch."""

    kind: Literal["fork"] = "fork"
    parent_id: str | None = None
    """The run it was forked from (None: a case's edit that names no run)."""
    at: int | None = None
    """The parent's step it was forked at (None: a case's edit that names no step)."""
    from_case: bool = False
    """Written by a case's ``edits:`` on replay (``agentbox test``), not by ``agentbox fork``."""
    edits: dict[str, Any] = {}
    """The edits given (``set_values``, ``state_file``, ``message``, ``tool_result``,
    ``model``, ...)."""


class UserUsage(_Model):
    """What one answer of a simulated user cost (kept apart from the agent's usage)."""

    input_tokens: int = 0
    """Prompt tokens."""
    output_tokens: int = 0
    """Completion tokens."""
    cost_usd: float | None = None
    """Cost in USD (None: the price is unknown)."""


class UserEvent(StepEvent):
    """A message from the conversation's user, answering the agent when it yielded the
    floor (``name``: who said it, as ``by``). ``error``: the simulated or python user
    failed; the run ends as ``simulator_error``."""

    kind: Literal["user"] = "user"
    STATUSES: ClassVar[tuple[str, ...]] = ("ok", "error")
    text: str
    """What the user said, as said (a stop token included)."""
    by: Literal["scripted", "simulated", "python", "fork"]
    """Who: a scripted turn, a simulated user (a model), a python user, or the message
    given at a fork (``fork --message``)."""
    turn: int
    """This user turn's number, from 1 (the scenario's ``input`` is not counted)."""
    stop: bool = False
    """The user ended the conversation with its stop token."""
    in_reply_to: str = ""
    """The agent's message this answers ("" when the user opened the conversation)."""
    turn_index: int | None = None
    """Scripted users: which of ``user.turns`` was said (resume and fork continue
    after it)."""
    model: str | None = None
    """Simulated users: the model that played the user."""
    request: dict[str, Any] | None = None
    """Simulated users: ``{hash}`` of its request (its cassette key)."""
    usage: UserUsage | None = None
    """Simulated users: tokens and cost of this answer."""
    error: str | None = None
    """Why the simulated or python user failed (status ``error``)."""


class NoteEvent(StepEvent):
    """Imported traces: a span that is neither a model call nor a tool call (``name``:
    the span's name)."""

    kind: Literal["note"] = "note"
    span_kind: str | None = None
    """The span's OpenInference kind (``CHAIN``, ``AGENT``, ...)."""
    status: str | None = None
    """The span's status (``OK``, ``ERROR``, ``UNSET``)."""
    span_id: str | None = None
    """The span's id."""
    attributes: dict[str, Any] = {}
    """The span's attributes (values up to 2,000 characters)."""


class UnknownEvent(StepEvent):
    """A step this version cannot type: a kind it does not know (written by a newer
    agentbox), or data that does not fit its kind's model. ``data`` holds it as stored."""

    data: dict[str, Any] = {}
    """The stored data, untouched."""
    problem: str | None = None
    """Why it could not be typed."""

    def to_data(self) -> dict[str, Any]:
        return dict(self.data)


Event: TypeAlias = Annotated[
    Union[  # noqa: UP007  (a discriminated union needs the Union form in Annotated)
        LlmEvent,
        ToolEvent,
        ApprovalEvent,
        PolicyEvent,
        ErrorEvent,
        FinalEvent,
        ForkEvent,
        NoteEvent,
        UserEvent,
    ],
    Field(discriminator="kind"),
]
"""Any known step kind, told apart by ``kind``."""

EVENT_TYPES: dict[str, type[StepEvent]] = {
    "llm": LlmEvent,
    "tool": ToolEvent,
    "approval": ApprovalEvent,
    "policy": PolicyEvent,
    "error": ErrorEvent,
    "final": FinalEvent,
    "fork": ForkEvent,
    "note": NoteEvent,
    "user": UserEvent,
}
"""Each known step kind's model, in the order the docs list them."""

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


class TraceFormatError(StoreError):
    """A writer tried to store a step that does not match the trace format."""


def upgrade_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` of an older trace format in today's shape (a new dict when changed).

    Applied to every row read (a read-only store cannot be migrated in place) and by the
    store's migration to rewrite stored rows.
    """
    if kind == "policy" and "kind" in data:  # format 1: what timed out was data.kind
        data = dict(data)
        cause = data.pop("kind")
        data.setdefault("cause", cause)
    return data


def parse_event(kind: str, data: dict[str, Any] | None) -> StepEvent:
    """The typed event of a stored step; never raises.

    Args:
        kind: the step's kind column. data: its data column (parsed JSON).

    Returns:
        The kind's model, or :class:`UnknownEvent` for an unknown kind or data that does
        not fit (``problem`` says why).
    """
    raw = upgrade_data(kind, data or {})
    if kind not in EVENT_TYPES:
        return UnknownEvent(kind=kind, data=raw, problem=f"unknown step kind {kind!r}")
    try:
        event: StepEvent = _ADAPTER.validate_python({**raw, "kind": kind})
    except ValidationError as exc:
        return UnknownEvent(kind=kind, data=raw, problem=_problems(exc))
    return event


def check_event(
    kind: str, status: str, data: dict[str, Any] | None, *, where: str = ""
) -> StepEvent:
    """Validate a step about to be written; returns its typed event.

    ``where`` prefixes the error message (``run ab12 step 3: ``).

    Raises:
        TraceFormatError: unknown kind, a status the kind does not have, or data that
            does not fit the kind's model (each problem named by field).
    """
    check_data(kind, status, data, where=where)
    event: StepEvent = EVENT_TYPES[kind].model_validate({**(data or {}), "kind": kind})
    return event


def check_data(kind: str, status: str, data: dict[str, Any] | None, *, where: str = "") -> None:
    """What :func:`check_event` checks, without building the typed event (the store's
    write boundary: ~3 µs for a tool step instead of ~12).

    The kind's model is validated as plain dicts (:func:`_check_schema`): the same field
    types, required fields and nested models, so data is refused exactly when
    :func:`check_event` refuses it, with the same problems named.

    Raises:
        TraceFormatError: as :func:`check_event`.
    """
    model = EVENT_TYPES.get(kind)
    if model is None:
        raise TraceFormatError(
            f"{where}a step of kind {kind!r} is not in the trace format (known: "
            f"{', '.join(EVENT_TYPES)})",
            "add a model for it in agentbox/events.py (see its docstring)",
        )
    if status not in model.STATUSES:
        raise TraceFormatError(
            f"{where}a {kind} step cannot have status {status!r} (allowed: "
            f"{', '.join(model.STATUSES)})",
            f"fix the writer, or add the status to {model.__name__}.STATUSES",
        )
    if data is not None and "kind" in data:
        raise TraceFormatError(
            f"{where}a {kind} step's data has a key 'kind' (it would hide the step kind)",
            "rename that key",
        )
    checker = _CHECKERS.get(kind) or _checker(kind)
    try:
        checker.validate_python(data or {})
    except ValidationError as exc:
        raise TraceFormatError(
            f"{where}a {kind} step's data does not match the trace format: {_problems(exc, 0)}",
            f"fix the writer, or change {model.__name__} in agentbox/events.py "
            "(and regenerate docs/trace-format.md)",
        ) from None


_CHECKERS: dict[str, SchemaValidator] = {}
"""Per step kind, its model's check-only validator (built on first use: ~1 ms each)."""


def _checker(kind: str) -> SchemaValidator:
    checker = _CHECKERS[kind] = SchemaValidator(
        _check_schema(EVENT_TYPES[kind].__pydantic_core_schema__)
    )
    return checker


def _check_schema(schema: Any) -> Any:
    """A model's pydantic-core schema with every model (the step's, and nested ones such
    as ``decision`` or ``response``) turned into a typed dict of the same fields: a
    field with a default becomes optional, one without stays required, the inner types
    are the model's own. Validating it checks what the model checks but builds no model
    instances and fills in no defaults.

    The events are plain models (no validators, extra fields allowed): a schema part
    this transform does not know raises ``TypeError``, so a model that grows a
    validator fails the tests here instead of being checked differently.
    """
    if isinstance(schema, list):
        return [_check_schema(part) for part in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind == "model":
        config = schema.get("config", {})
        if set(config) - {"extra_fields_behavior", "title"}:
            raise TypeError(f"model config {sorted(config)} not supported by the check")
        return _check_schema(schema["schema"])
    if kind == "model-fields":
        if schema.get("computed_fields"):
            raise TypeError("computed fields are not supported by the check")
        fields = {}
        for name, field in schema["fields"].items():
            if set(field) - {"type", "schema", "metadata"}:
                raise TypeError(f"field {name}: {sorted(field)} not supported by the check")
            inner, required = field["schema"], True
            if inner.get("type") == "default":
                inner, required = inner["schema"], False
            fields[name] = {
                "type": "typed-dict-field",
                "schema": _check_schema(inner),
                "required": required,
            }
        return {"type": "typed-dict", "fields": fields, "extra_behavior": "ignore"}
    if kind is None or kind.startswith("function") or kind in ("definitions", "definition-ref"):
        raise TypeError(f"schema type {kind!r} not supported by the check")
    return {k: v if k == "metadata" else _check_schema(v) for k, v in schema.items()}


def _problems(exc: ValidationError, skip: int = 1) -> str:
    """The first problems of ``exc``, one ``field.path: message`` each (``skip``: leading
    location parts to drop; 1 for the union's tag)."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"][skip:]) or "data"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


# ---- docs/trace-format.md ----------------------------------------------------------
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "trace-format.md"
"""Where the generated page lives in a source checkout."""


def _type_text(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return "any"
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type_text(a) for a in args)
    if origin in (list, tuple):
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is dict:
        return "object"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _fields_table(model: type[BaseModel]) -> list[str]:
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name == "kind":
            continue
        text = _md(description(model, name) or "").replace("|", "\\|")
        required = "yes" if info.is_required() else ""
        rows.append(f"| `{name}` | {_type_text(info.annotation)} | {required} | {text} |")
    return rows


def _md(text: str) -> str:
    """A docstring as one line of Markdown (RST double backquotes made single)."""
    return " ".join(text.split()).replace("``", "`")


def _doc(obj: Any) -> str:
    return _md(obj.__doc__ or "")


def render_markdown() -> str:
    """The text of ``docs/trace-format.md``, generated from the models above."""
    out = [
        "# The trace format",
        "",
        "<!-- Generated by `python -m agentbox.events --write` from agentbox/events.py;",
        "     edit the models there, not this file. -->",
        "",
        f"Trace format version **{TRACE_FORMAT}** (stored in a store's `meta` table as "
        "`trace_format`).",
        "",
        "A run is a row of `runs`; each of its steps is a row of `steps` with common "
        "columns and a JSON `data` column whose shape depends on the step's `kind`. "
        "Fields not listed here may appear (readers keep them). A store written by an "
        "older agentbox is upgraded when opened; a step kind a reader does not know is "
        "shown as its raw data.",
        "",
        "## Common step columns",
        "",
        "| column | meaning |",
        "|---|---|",
        "| `run_id`, `idx` | the run and the step's position, from 0 |",
        "| `kind` | the step kind (a section below) |",
        "| `name` | per kind: the model, the tool, the exception type, the status |",
        "| `status` | per kind (listed below) |",
        "| `started_at`, `duration_s` | Unix seconds; seconds (an `llm` step is stored "
        "at its end) |",
        "| `message` | the chat message the step adds to the conversation, if any |",
        "| `patch` | the RFC 6902 patch the step applied to the state, if any |",
        "| `input_tokens`, `output_tokens`, `cost_usd` | model usage (`llm` steps; cost "
        "null when unknown) |",
        "| `counters` | the run's totals after the step (steps, tool calls, tokens, cost, "
        "seconds, ...) |",
        "",
        "## Statuses",
        "",
        "Run statuses (`runs.status`): "
        + ", ".join(f"`{s}`" for s in get_args(RunStatus))
        + f"; final ones: {', '.join(f'`{s}`' for s in get_args(FinishedStatus))}.",
        "",
        "## Step kinds",
        "",
    ]
    for kind, model in EVENT_TYPES.items():
        out += [
            f"### `{kind}`",
            "",
            _doc(model),
            "",
            "Statuses: " + ", ".join(f"`{s}`" for s in model.STATUSES) + ".",
            "",
            *_fields_table(model),
            "",
        ]
    out += ["## Parts", ""]
    for part in (PolicyDecision, ModelOutput, ModelToolCall, ModelRequest, HttpAnswer):
        out += [f"### {part.__name__}", "", _doc(part), "", *_fields_table(part), ""]
    out += [
        "## Versions",
        "",
        "- 1: the first release (no version recorded).",
        "- 2: a `policy` step's `data.kind` (what timed out) became `data.cause`; "
        "`trace_format` recorded in `meta`.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m agentbox.events [--write]``: print (or write) docs/trace-format.md."""
    args = sys.argv[1:] if argv is None else argv
    text = render_markdown()
    if "--write" in args:
        DOC_PATH.write_text(text, encoding="utf-8")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
