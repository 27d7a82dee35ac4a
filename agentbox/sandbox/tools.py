"""The ``@tool`` decorator: a Python function becomes a tool with a JSON schema.

The schema (OpenAI function-calling format) is derived from the signature and the
Google-style docstring (parsed by ``docstring-parser``): the description is the text
before the first section, ``Args:`` entries describe parameters. The first parameter must
be the state (``state: State``); it is supplied by the sandbox and never shown to the
model. ``Annotated[...]`` metadata is kept: ``Annotated[int, Field(ge=1)]`` puts
``minimum: 1`` in the schema and refuses 0.

Arguments from the model are validated against a pydantic model built from the same
signature before the policy sees them; non-finite numbers (NaN, +/-Infinity, also as the
strings pydantic would coerce) are always refused: every comparison with NaN is false, so
``amount_usd > 500`` would let it through a red rule. Two choices are per tool:

- ``args="validated"`` (default): the tool receives pydantic's validated values (lax
  coercion: ``255`` for a ``float`` parameter arrives as ``255.0``, ``"3"`` for an ``int``
  as ``3``, defaults filled in).
  ``args="raw"``: the arguments are checked strictly against the schema (JSON types as
  JSON Schema has them; an integer is a valid ``number``) and the tool receives the
  model's JSON arguments untouched (``255`` stays ``255``; missing optional arguments
  take the function's defaults).
- ``extra="forbid"`` (default): a key the schema does not declare is an invalid call
  (``field: unknown argument``), at the top level and inside TypedDict / dataclass
  arguments (they take the tool's setting; a nested pydantic model keeps its own
  ``model_config``). ``extra="ignore"``: unknown keys are accepted as a real API would
  ignore them; unknown top-level arguments are dropped (a function cannot receive them),
  unknown nested keys are dropped from validated arguments and passed through untouched
  to a raw tool.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_args, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

Effect = Literal["read", "write"]
ArgsPolicy = Literal["validated", "raw"]
"""What a tool receives: pydantic's validated values, or the model's JSON untouched."""
ExtraKeys = Literal["forbid", "ignore"]
"""How argument keys the schema does not declare are treated."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the runner sees it.

    Attributes:
        name: the tool's name (the function name unless given).
        effect: ``read`` (no state change) or ``write`` (changes state; not executed in
            ``recommend`` mode).
        description: the docstring's text before its first section, shown to the model.
        fn: the implementation, ``fn(state, **args) -> JSON-like``.
        args_model: pydantic model validating the arguments.
        parameters: JSON Schema of the arguments (OpenAI ``parameters``).
        args: ``validated`` (the tool gets pydantic's values) or ``raw`` (strict check,
            the tool gets the model's JSON untouched); see the module docstring.
        extra: ``forbid`` (unknown keys are an invalid call) or ``ignore``.
    """

    name: str
    effect: Effect
    description: str
    fn: Callable[..., Any]
    args_model: type[BaseModel]
    parameters: dict[str, Any]
    args: ArgsPolicy = "validated"
    extra: ExtraKeys = "forbid"

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI function-calling format (also what litellm accepts)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def validate(self, args: Any) -> tuple[dict[str, Any] | None, list[str]]:
        """Validate model-supplied arguments.

        Used for model and agent calls and for edited arguments (approve --edit, the
        prompt, the TUI, library approvers) alike.

        Returns:
            ``(arguments for the tool, [])`` or ``(None, ["field: message", ...])``; a NaN
            or infinite number anywhere in the arguments is an error. The arguments are
            pydantic's validated values, or with ``args="raw"`` a copy of ``args`` as
            given (unknown top-level keys dropped under ``extra="ignore"``).
        """
        if not isinstance(args, dict):
            return None, [f"arguments must be a JSON object, got {type(args).__name__}"]
        if self.extra == "ignore":
            known = self.args_model.model_fields
            args = {k: v for k, v in args.items() if k in known}
        if self.args == "raw":
            return self._validate_raw(args)
        try:
            model = self.args_model.model_validate(args)
        except ValidationError as exc:
            return None, [_format_error(e) for e in exc.errors()]
        dumped = model.model_dump(exclude_unset=False)
        bad = list(non_finite(dumped))
        if bad:  # an untyped (Any, dict) argument: the model's own check does not reach it
            return None, [f"{loc}: Input should be a finite number" for loc in bad]
        return dumped, []

    def _validate_raw(self, args: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
        """Strict JSON-mode validation; the tool gets a JSON copy of ``args`` untouched."""
        bad = list(non_finite(args))
        if bad:
            return None, [f"{loc}: Input should be a finite number" for loc in bad]
        try:
            blob = json.dumps(args)
        except (TypeError, ValueError) as exc:
            return None, [f"(arguments): not JSON: {exc}"]
        try:
            self.args_model.model_validate_json(blob, strict=True)
        except ValidationError as exc:
            return None, [_format_error(e) for e in exc.errors()]
        copied: dict[str, Any] = json.loads(blob)
        return copied, []


def non_finite(value: Any, loc: str = "") -> Iterator[str]:
    """Dotted locations of NaN/infinite floats (or Decimals) nested in ``value``."""
    if (isinstance(value, float) and not math.isfinite(value)) or (
        isinstance(value, Decimal) and not value.is_finite()
    ):
        yield loc or "(arguments)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from non_finite(item, f"{loc}.{key}" if loc else str(key))
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            yield from non_finite(item, f"{loc}.{i}" if loc else str(i))


def _format_error(error: Any) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ())) or "(arguments)"
    msg = error.get("msg", "invalid")
    if error.get("type") in ("extra_forbidden", "unexpected_keyword_argument"):
        msg = "unknown argument"
    return f"{loc}: {msg}"


def _flow(text: str) -> str:
    """Paragraphs kept, the lines of each joined with spaces."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into ``(description, {arg: description})``.

    The description is the text before the first section (``Args:``, ``Returns:``,
    ``Raises:``...), its paragraphs kept and each paragraph's lines joined; argument
    descriptions are joined onto one line. Parsing is ``docstring-parser``'s.
    """
    if not doc or not doc.strip():
        return "", {}
    import docstring_parser  # ~10 ms; only when a tool is defined

    parsed = docstring_parser.parse(doc, style=docstring_parser.DocstringStyle.GOOGLE)
    short, long = parsed.short_description or "", parsed.long_description or ""
    sep = "\n\n" if parsed.blank_after_short_description else "\n"
    description = _flow(sep.join(p for p in (short, long) if p))
    args = {p.arg_name.lstrip("*"): " ".join((p.description or "").split()) for p in parsed.params}
    return description, args


def _clean_schema(schema: dict[str, Any], extra: ExtraKeys) -> dict[str, Any]:
    schema = dict(schema)
    schema.pop("title", None)
    props = {}
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        props[name] = prop
    schema["properties"] = props
    schema.setdefault("required", [])
    if extra == "forbid":
        schema["additionalProperties"] = False
    return schema


def _check_choice(option: str, value: Any, choices: Any) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise ValueError(f"{option} must be one of {', '.join(map(repr, allowed))}, not {value!r}")


def make_tool(
    fn: Callable[..., Any],
    *,
    effect: Effect,
    name: str | None = None,
    args: ArgsPolicy = "validated",
    extra: ExtraKeys = "forbid",
) -> ToolSpec:
    """Build a :class:`ToolSpec` from a function (see :func:`tool` for the options).

    Raises:
        TypeError: the first parameter is not the state, or the function takes
            ``*args``/``**kwargs``.
        ValueError: an option has an unknown value.
    """
    for option, value, choices in (
        ("effect", effect, Effect),
        ("args", args, ArgsPolicy),
        ("extra", extra, ExtraKeys),
    ):
        _check_choice(option, value, choices)
    tool_name = name or fn.__name__
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not params or (
        params[0].name != "state" and params[0].kind is not params[0].POSITIONAL_ONLY
    ):
        raise TypeError(
            f"tool {tool_name!r}: the first parameter must be `state` (or positional-only, "
            "when a tool argument is itself called `state`)"
        )
    hints = get_type_hints(fn, include_extras=True)  # keep Annotated[..., Field(ge=1)]
    description, arg_docs = parse_docstring(fn.__doc__)
    fields: dict[str, Any] = {}
    for p in params[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {tool_name!r}: *args/**kwargs are not supported")
        annotation = hints.get(p.name, Any)
        default = ... if p.default is p.empty else p.default
        doc = arg_docs.get(p.name)
        # an Annotated Field's own description wins over a missing docstring entry
        info = Field(default, description=doc) if doc else Field(default)
        fields[p.name] = (annotation, info)
    model = create_model(
        f"{tool_name}_args", __config__=ConfigDict(extra=extra, allow_inf_nan=False), **fields
    )
    parameters = _clean_schema(model.model_json_schema(), extra)
    return ToolSpec(tool_name, effect, description, fn, model, parameters, args, extra)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    effect: Effect = "read",
    name: str | None = None,
    args: ArgsPolicy = "validated",
    extra: ExtraKeys = "forbid",
) -> Any:
    """Mark a sandbox function as a tool.

    Use as ``@tool`` (a read tool) or ``@tool(effect="write", args="raw",
    extra="ignore")``. The function keeps working as a plain function; the spec is
    attached as ``fn.__agentbox_tool__``.

    Args:
        fn: the function (when used without parentheses).
        effect: ``read`` (runs with the state read-only) or ``write``.
        name: the tool's name (default: the function's).
        args: ``validated`` (default; the tool gets pydantic's values) or ``raw`` (strict
            check; the tool gets the model's JSON arguments untouched).
        extra: ``forbid`` (default; unknown keys are an invalid call) or ``ignore``.

    Raises:
        ValueError: an option has an unknown value.
        TypeError: the signature cannot be a tool (see :func:`make_tool`).
    """
    for option, value, choices in (
        ("effect", effect, Effect),
        ("args", args, ArgsPolicy),
        ("extra", extra, ExtraKeys),
    ):
        _check_choice(option, value, choices)

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        spec = make_tool(f, effect=effect, name=name, args=args, extra=extra)
        f.__agentbox_tool__ = spec  # type: ignore[attr-defined]
        return f

    return wrap(fn) if fn is not None else wrap
