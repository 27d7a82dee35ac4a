"""The ``@tool`` decorator: a Python function becomes a tool with a JSON schema.

The schema (OpenAI function-calling format) is derived from the signature and the
Google-style docstring: the first paragraph is the description, ``Args:`` entries
describe parameters. The first parameter must be the state (``state: State``); it is
supplied by the sandbox and never shown to the model.

Arguments from the model are validated against a pydantic model built from the same
signature before the policy sees them; unknown arguments are rejected, and so are
non-finite numbers (NaN, +/-Infinity, also as the strings pydantic would coerce): every
comparison with NaN is false, so ``amount_usd > 500`` would let it through a red rule.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

Effect = Literal["read", "write"]

_ARG_LINE = re.compile(r"^\s{2,}(\*{0,2}\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the runner sees it.

    Attributes:
        name: the tool's name (the function name unless given).
        effect: ``read`` (no state change) or ``write`` (changes state; not executed in
            ``recommend`` mode).
        description: the docstring's first paragraph, shown to the model.
        fn: the implementation, ``fn(state, **args) -> JSON-like``.
        args_model: pydantic model validating the arguments.
        parameters: JSON Schema of the arguments (OpenAI ``parameters``).
    """

    name: str
    effect: Effect
    description: str
    fn: Callable[..., Any]
    args_model: type[BaseModel]
    parameters: dict[str, Any]

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
            ``(validated_args, [])`` or ``(None, ["field: message", ...])``; a NaN or
            infinite number anywhere in the arguments is an error.
        """
        if not isinstance(args, dict):
            return None, [f"arguments must be a JSON object, got {type(args).__name__}"]
        try:
            model = self.args_model.model_validate(args)
        except ValidationError as exc:
            return None, [_format_error(e) for e in exc.errors()]
        dumped = model.model_dump(exclude_unset=False)
        bad = list(non_finite(dumped))
        if bad:  # an untyped (Any, dict) argument: the model's own check does not reach it
            return None, [f"{loc}: Input should be a finite number" for loc in bad]
        return dumped, []


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
    if error.get("type") == "extra_forbidden":
        msg = "unknown argument"
    return f"{loc}: {msg}"


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {arg: description})."""
    if not doc:
        return "", {}
    text = inspect.cleandoc(doc)
    paragraphs = re.split(r"\n\s*\n", text)
    summary_parts: list[str] = []
    args: dict[str, str] = {}
    current: str | None = None
    section: str | None = None
    for para in paragraphs:
        lines = para.splitlines()
        head = lines[0].strip()
        if head.rstrip(":") in {"Args", "Arguments", "Parameters"} and head.endswith(":"):
            section = "args"
            body = lines[1:]
        elif re.fullmatch(r"[A-Z][A-Za-z ]*:", head):
            section = "other"
            continue
        elif section is None:
            summary_parts.append(" ".join(line.strip() for line in lines))
            continue
        else:
            body = lines
        if section != "args":
            continue
        for line in body:
            m = _ARG_LINE.match("  " + line if not line.startswith("  ") else line)
            if m and not line.startswith("      "):
                current = m.group(1).lstrip("*")
                args[current] = m.group(2).strip()
            elif current and line.strip():
                args[current] = (args[current] + " " + line.strip()).strip()
    return "\n\n".join(summary_parts), args


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    schema.pop("title", None)
    props = {}
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        props[name] = prop
    schema["properties"] = props
    schema.setdefault("required", [])
    schema["additionalProperties"] = False
    return schema


def make_tool(fn: Callable[..., Any], *, effect: Effect, name: str | None = None) -> ToolSpec:
    """Build a :class:`ToolSpec` from a function. Raises TypeError on a bad signature."""
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
    hints = get_type_hints(fn)
    description, arg_docs = parse_docstring(fn.__doc__)
    fields: dict[str, Any] = {}
    for p in params[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {tool_name!r}: *args/**kwargs are not supported")
        annotation = hints.get(p.name, Any)
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (annotation, Field(default, description=arg_docs.get(p.name)))
    model = create_model(
        f"{tool_name}_args", __config__=ConfigDict(extra="forbid", allow_inf_nan=False), **fields
    )
    parameters = _clean_schema(model.model_json_schema())
    return ToolSpec(tool_name, effect, description, fn, model, parameters)


def tool(
    fn: Callable[..., Any] | None = None, *, effect: Effect = "read", name: str | None = None
) -> Any:
    """Mark a sandbox function as a tool.

    Use as ``@tool`` (a read tool) or ``@tool(effect="write")``. The function keeps
    working as a plain function; the spec is attached as ``fn.__agentbox_tool__``.
    """

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f.__agentbox_tool__ = make_tool(f, effect=effect, name=name)  # type: ignore[attr-defined]
        return f

    if effect not in ("read", "write"):
        raise ValueError(f"effect must be 'read' or 'write', not {effect!r}")
    return wrap(fn) if fn is not None else wrap
