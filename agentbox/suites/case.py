"""Suite case files: their schema, loading, and the two recordings a replay needs.

A case file (``suites/NAME/CASE.yaml``) is one self-contained, human-editable YAML file::

    case: refund-over-limit          # the case's name (shown in reports and JUnit)
    exported_from: {...}             # where it came from (informational)
    scenario: {...}                  # the scenario, inlined (its `expect` lives below)
    expect: {...}                    # what the replay must do (scenario expect + derived)
    decisions: [...]                 # the recorded approval decisions, in order
    edits: [{at, set, state, tool_result, message}]   # a fork's edits, re-applied at `at`
    cassette:                        # the recorded model calls, in order
      model: scripted
      calls: [{reasoning, text, tool_calls, input_tokens, output_tokens, cost_usd,
               request: {hash, prefix, messages, tools}}]
      judgments: [...]               # recorded llm_judge verdicts (see judge.py)
      mcp_tools: {SERVER: [{name, description, input_schema}]}   # the MCP listing
      tool_results: [{tool, args, status, value}]   # MCP tool / gated-function results

A file is a case when it has a top-level ``cassette:`` key; any other YAML file given to
``agentbox test`` is a plain scenario. The :class:`CaseCassette` answers model call ``n``
with recording ``n`` when the request hash matches (a call without ``request.hash``
answers whatever is asked, for hand-written cassettes); a miss fails loudly with a diff
against the recorded request. MCP tools and gated functions are answered from
``tool_results`` the same way (a call with other arguments is a miss), so a replay needs
neither the servers nor the functions. This module reads files and builds objects; it writes
nothing and prints nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentbox.approvals import (
    ApprovalDecision,
    Approver,
    RecordedHold,
    replay_approver,
)
from agentbox.cassette import CassetteModel, Recording
from agentbox.errors import Problem, ScenarioError
from agentbox.models import ModelResponse, ToolCall
from agentbox.recording import ToolRecording
from agentbox.scenario import Scenario, parse_scenario
from agentbox.yamlfile import (
    MAX_BYTES,
    MAX_DEPTH,
    Loc,
    line_of,
    load_yaml,
    load_yaml_text,
    read_text,
)

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CASE_KEY = re.compile(r"^cassette:", re.MULTILINE)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordedToolCall(_Model):
    """One tool call the model made."""

    id: str
    """Provider call id (pairs the tool result message with the call)."""
    name: str
    """Tool name as the model wrote it."""
    arguments: Any = None
    """Arguments as the model wrote them (an object, or a raw string when not JSON)."""


class RecordedRequest(_Model):
    """What was sent to the model, stored compactly (for miss diffs)."""

    hash: str | None = None
    """sha256 of the full request (messages + tool schemas). Remove it to serve this
    response whatever the request is (the call is then not checked)."""
    prefix: int = Field(0, ge=0)
    """How many messages this request shares with the previous call's request."""
    messages: list[dict[str, Any]] = []
    """The messages after that shared prefix."""
    tools: list[str] | None = None
    """Names of the tools offered; absent: the same as the previous call's."""


class RecordedCall(_Model):
    """One recorded model response."""

    reasoning: str | None = None
    """The model's reasoning/thinking text."""
    text: str | None = None
    """What the model said (content)."""
    tool_calls: list[RecordedToolCall] = []
    """Tool calls the model made, in order."""
    input_tokens: int = Field(0, ge=0)
    """Prompt tokens."""
    output_tokens: int = Field(0, ge=0)
    """Completion tokens."""
    cost_usd: float | None = None
    """Cost in USD; ``null`` when the price was unknown (never read as 0)."""
    model: str = ""
    """The model that answered."""
    request: RecordedRequest = RecordedRequest()
    """The request this response answered."""

    def response(self) -> ModelResponse:
        """The response as a model backend returns it."""
        return ModelResponse(
            text=self.text,
            reasoning=self.reasoning,
            tool_calls=[ToolCall(c.id, c.name, c.arguments) for c in self.tool_calls],
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd,
            model=self.model,
        )


class Judgment(_Model):
    """A recorded ``llm_judge`` verdict (replays reuse it while the output is unchanged)."""

    key: str
    """sha256 of the rubric and the judged output."""
    rubric: str
    """The rubric that was judged."""
    model: str = ""
    """The judge model."""
    passed: bool
    """The verdict."""
    reasoning: str = ""
    """Why, in the judge's words."""
    cost_usd: float | None = None
    """What the judgment cost (``null``: unknown)."""


class McpListedTool(_Model):
    """One tool an MCP server listed in the recording."""

    name: str
    """The tool's name on its server."""
    description: str = ""
    """Its description (offered to the model)."""
    input_schema: dict[str, Any] = {}
    """Its JSON Schema for arguments (calls are validated against it)."""


class RecordedToolResult(_Model):
    """What one MCP tool or gated function returned in the recording."""

    tool: str
    """The tool step's name (``SERVER__TOOL``, or the gated function's name)."""
    args: dict[str, Any] = {}
    """The arguments it was called with (a replay calling it otherwise is a miss)."""
    status: Literal["ok", "error", "crashed"] = "ok"
    """``ok``: it returned ``value``; ``error``: a tool error (``value`` is the message);
    ``crashed``: it raised."""
    value: Any = None
    """The returned value, or the error message."""


class RecordedUserCall(_Model):
    """One recorded answer of a simulated user (``user: {model: ...}``)."""

    text: str | None = None
    """What the simulated user said (the stop token included)."""
    model: str | None = None
    """The model that played the user."""
    request: dict[str, Any] = {}
    """``{hash}`` of the simulated user's request; remove it to serve this answer
    unchecked."""
    input_tokens: int = Field(0, ge=0)
    """Prompt tokens."""
    output_tokens: int = Field(0, ge=0)
    """Completion tokens."""
    cost_usd: float | None = None
    """Cost in USD (``null``: unknown)."""


class Cassette(_Model):
    """The recorded model calls (and MCP / gated-function results) of the exported run."""

    model: str = "scripted"
    """The model that was recorded; ``agentbox test --live`` asks it again."""
    calls: list[RecordedCall] = []
    """Model calls in order: call ``n`` answers the run's ``n``-th request."""
    judgments: list[Judgment] = []
    """Recorded ``llm_judge`` verdicts."""
    mcp_tools: dict[str, list[McpListedTool]] | None = None
    """The tools each of the scenario's MCP servers listed (absent: the servers are
    started and listed, as with ``--live``)."""
    tool_results: list[RecordedToolResult] | None = None
    """MCP tool and gated-function results, in call order; a replay serves them instead
    of calling the server or function (absent: they run live; ``--live``: always)."""
    user_calls: list[RecordedUserCall] | None = None
    """A simulated user's answers, in order; a replay serves them instead of asking its
    model (``--live``: asked again)."""

    def recording(self, source: str) -> ToolRecording | None:
        """The MCP listing and tool results as a replay's recording (None: none recorded)."""
        if self.mcp_tools is None and self.tool_results is None:
            return None
        listing = (
            None
            if self.mcp_tools is None
            else {s: [t.model_dump() for t in tools] for s, tools in self.mcp_tools.items()}
        )
        return ToolRecording(listing, [r.model_dump() for r in self.tool_results or []], source)


class RecordedDecision(_Model):
    """How one held (yellow) tool call was decided in the recording."""

    tool: str
    """The held tool."""
    verdict: Literal["approve", "deny", "fail"]
    """``approve`` (with ``args`` when edited), ``deny``, or ``fail`` (the run halted)."""
    args: dict[str, Any] | None = None
    """Edited arguments of an edit-and-approve, else ``null``."""
    reason: str = ""
    """The decision's reason (the agent sees it on deny)."""
    by: str = "replay"
    """Who decided in the recording."""


class JudgeSpec(_Model):
    """An ``llm_judge`` expectation: a model grades the final output against a rubric."""

    rubric: str
    """What a passing output does, in plain words."""
    model: str | None = None
    """litellm model string of the judge (default: the case's recorded model)."""
    params: dict[str, Any] = {}
    """Extra litellm ``completion`` arguments (``api_base``, ``temperature``...)."""


class EditedToolResult(_Model):
    """A tool result a fork replaced (the tool is not executed; the model sees this)."""

    tool: str
    """The tool whose next call gets this result."""
    result: str
    """The result text, as given to ``fork --tool-result`` (JSON or plain text)."""


class CaseEdit(_Model):
    """An edit a fork made, applied again when the replay reaches step ``at``."""

    at: int = Field(ge=0)
    """The step the edit is recorded at (the fork's ``fork`` step); steps before it replay
    as recorded, everything after it runs on the edited world."""
    forked_from: str = ""
    """``RUN@STEP`` the fork started from (informational)."""
    set: dict[str, Any] = {}
    """State values set at the fork: ``{"orders.ord_5531.status": "shipped"}``."""
    state: str | None = None
    """A whole replacement state (JSON file, relative to the case file)."""
    tool_result: EditedToolResult | None = None
    """The replaced result of the tool call after the fork step."""
    message: str | None = None
    """A user message added before the next model call."""


class CaseFile(_Model):
    """Everything in a case file except the scenario and expect (validated separately)."""

    case: str
    """The case's name."""
    description: str = ""
    """What the case guards against."""
    exported_from: dict[str, Any] = {}
    """Run id, scenario file, model and time of the recording (informational)."""
    python_path: list[str] = []
    """Folders (relative to this file) searched for a python agent's entry module."""
    scenario: dict[str, Any]
    """The scenario, inlined (without ``expect``)."""
    expect: dict[str, Any] = {}
    """The case's expectations: everything a scenario's ``expect`` takes, plus
    ``llm_judge: [{rubric, model, params}]``."""
    decisions: list[RecordedDecision] = []
    """Recorded approval decisions, applied to held calls in order."""
    edits: list[CaseEdit] = []
    """What a fork changed (state, a tool result, a message), re-applied at its step."""
    cassette: Cassette
    """Recorded model calls."""


class Case:
    """A loaded case: the scenario (with the case's expect), recordings and judges.

    Attributes:
        path: the case file. name: the case name. scenario: validated, ``expect`` set.
        file: the rest of the file. judges: the ``llm_judge`` expectations.
    """

    def __init__(
        self, path: Path, file: CaseFile, scenario: Scenario, judges: list[JudgeSpec]
    ) -> None:
        self.path = path
        self.file = file
        self.name = file.case
        self.scenario = scenario
        self.judges = judges

    @property
    def cassette(self) -> Cassette:
        """The recorded model calls."""
        return self.file.cassette


def is_case_text(text: str) -> bool:
    """Whether YAML text is a case file (has a top-level ``cassette:`` key)."""
    return _CASE_KEY.search(text) is not None


def is_case_file(path: Path) -> bool:
    """Whether ``path`` is a YAML case file (cheap: no parsing)."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        return is_case_text(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # unreadable or not UTF-8: loading it says why
        return False


def _problems(
    path: Path, exc: ValidationError, lines: dict[Loc, int], base: Loc = ()
) -> ScenarioError:
    problems = []
    for error in exc.errors():
        loc = (*base, *(p for p in error["loc"] if isinstance(p, int | str)))
        dotted = ".".join(str(p) for p in loc)
        message = "unknown field" if error["type"] == "extra_forbidden" else str(error["msg"])
        problems.append(Problem(str(path), line_of(lines, loc), dotted, message))
    return ScenarioError(problems)


def parse_case(data: Any, path: Path, lines: dict[Loc, int] | None = None) -> Case:
    """Validate parsed case YAML.

    Raises:
        ScenarioError: one problem per invalid field (with lines when ``lines`` is given).
    """
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScenarioError([Problem(str(path), 1, "", "a case file must be a YAML mapping")])
    try:
        file = CaseFile.model_validate(data)
    except ValidationError as exc:
        raise _problems(path, exc, lines) from None
    expect = dict(file.expect)
    raw_judges = expect.pop("llm_judge", None) or []
    try:
        judges = [
            JudgeSpec.model_validate(j)
            for j in (raw_judges if isinstance(raw_judges, list) else [raw_judges])
        ]
    except ValidationError as exc:
        raise _problems(path, exc, lines, ("expect",)) from None
    scenario_data = {k: v for k, v in file.scenario.items() if k != "expect"}
    scenario_data["expect"] = expect or None  # empty: pass when the run completes
    sub = {loc[1:]: n for loc, n in lines.items() if loc[:1] == ("scenario",)}
    for loc, n in lines.items():
        if loc[:1] == ("expect",):
            sub[loc] = n
    scenario = parse_scenario(scenario_data, path, sub)
    return Case(path, file, scenario, judges)


_T = "tag:yaml.org,2002:"
_BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}


class DuplicateKey(yaml.YAMLError):
    """A mapping repeats a key (an error, as in scenario files)."""


class _Unusual(Exception):
    """A YAML feature the fast constructor leaves to PyYAML's (anchors merge, dates...)."""


def _build(node: Any, seen: set[int], depth: int = 0) -> Any:
    tag, value = node.tag, node.value
    if tag == _T + "str":
        return value
    if tag == _T + "map" or tag == _T + "seq":
        # an alias (the same node twice) or deep nesting: the checked, bounded path
        if depth > MAX_DEPTH or id(node) in seen:
            raise _Unusual("alias or depth")
        seen.add(id(node))
        if tag == _T + "seq":
            return [_build(v, seen, depth + 1) for v in value]
        out = {_build(k, seen, depth + 1): _build(v, seen, depth + 1) for k, v in value}
        if len(out) != len(value):
            raise DuplicateKey("a mapping repeats a key")  # load_yaml reports it with lines
        return out
    if tag == _T + "int":
        digits = value.lstrip("+-")
        if digits.isdigit() and (digits == "0" or digits[0] != "0"):
            return int(value)
    elif tag == _T + "float":
        text = value.replace("_", "")
        if ":" not in text and "inf" not in text.lower() and "nan" not in text.lower():
            return float(text)
    elif tag == _T + "null":
        return None
    elif tag == _T + "bool":
        return _BOOLS[value.lower()]
    raise _Unusual(tag)


def fast_yaml(text: str) -> Any:
    """``yaml.safe_load`` for case files, ~30% faster: libyaml composes the node tree and
    a lean constructor builds it. Anything unusual (aliases, deep nesting, dates, merge
    keys) is first checked by :func:`agentbox.yamlfile.check_bounds`, then built by
    PyYAML's constructor.

    Raises:
        yaml.YAMLError: invalid YAML.
        ScenarioError: unbounded YAML (aliases expanding too far, nesting too deep...).
    """
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if node is None:
        return None
    try:
        return _build(node, set())
    except (_Unusual, KeyError, ValueError):  # the checked loader: bounds, duplicate keys
        return load_yaml_text(text, "<case>")[0]


class ParsedCache(Protocol):
    """Where parsed case files are kept between runs (the trace store is one)."""

    def parsed_case(self, digest: str) -> Any:
        """The data cached under ``digest``, or None."""

    def put_parsed_case(self, digest: str, data: Any) -> None:
        """Cache ``data`` under ``digest``."""


_PARSED_FORMAT = b"agentbox case, fast_yaml 1\0"
"""Prefix of the hashed text: change it when ``fast_yaml``'s output would change."""


def _json_exact(data: Any) -> bool:
    """Whether ``data`` comes back from JSON unchanged (str keys; no dates, no NaN)."""
    try:
        return bool(json.loads(json.dumps(data, allow_nan=False)) == data)
    except (TypeError, ValueError):
        return False


def parsed_digest(text: str) -> str:
    """The key a case text's parsed data is cached under (sidecar and store alike)."""
    return hashlib.sha256(_PARSED_FORMAT + text.encode()).hexdigest()


SIDECAR_DIR = ".agentbox-parsed"
"""Folder, next to case files, of their parsed sidecars (skipped by discovery: hidden)."""
_SIDECAR_TAG = "agentbox parsed case 1"


def sidecar_path(path: Path) -> Path:
    """Where the parsed sidecar of case file ``path`` lives:
    ``FOLDER/.agentbox-parsed/NAME.yaml.json``."""
    return path.parent / SIDECAR_DIR / f"{path.name}.json"


def sidecar_case(path: Path) -> Path | None:
    """The case file whose parsed sidecar ``path`` is (``F/.agentbox-parsed/x.yaml.json``
    -> ``F/x.yaml``), or None when ``path`` is not a sidecar."""
    if path.parent.name != SIDECAR_DIR or not path.name.endswith((".yaml.json", ".yml.json")):
        return None
    return path.parent.parent / path.name.removesuffix(".json")


def prune_sidecars(folder: Path) -> list[Path]:
    """Delete the sidecars in ``folder/.agentbox-parsed/`` whose case file no longer exists
    (deleted or renamed), so they do not linger in git; return the deleted paths, sorted.

    Raises:
        OSError: a sidecar cannot be deleted.
    """
    side_dir = folder / SIDECAR_DIR
    if not side_dir.is_dir():
        return []
    gone = []
    for side in sorted(side_dir.iterdir()):
        case = sidecar_case(side)
        if case is not None and side.is_file() and not case.exists():
            side.unlink()
            gone.append(side)
    return gone


def write_sidecar(path: Path, text: str) -> Path | None:
    """Write the parsed data of case ``text`` (the file at ``path``) as JSON beside it, so
    a replay reads JSON (~0.1 ms) instead of parsing YAML (~2 ms a 10 KB case).

    The sidecar holds the digest of the text it was parsed from: a case file edited since
    is parsed from its YAML again (the sidecar is then ignored, never trusted). Returns
    the sidecar written or left as it was, or None when the data is not JSON-exact (then
    no sidecar is used).

    Raises:
        OSError: the folder cannot be written.
    """
    data = fast_yaml(text)
    if not _json_exact(data):
        return None
    side = sidecar_path(path)
    body = json.dumps(
        {"format": _SIDECAR_TAG, "digest": parsed_digest(text), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    try:
        if side.read_text(encoding="utf-8") == body:
            return side  # unchanged: leave the file (and its time) alone
    except (OSError, ValueError):
        pass
    side.parent.mkdir(parents=True, exist_ok=True)
    side.write_text(body, encoding="utf-8")
    return side


def read_sidecar(path: Path, digest: str) -> Any:
    """The parsed data in ``path``'s sidecar when it was parsed from the text with
    ``digest``; None when there is none, it is stale (the case was edited), too large, or
    unreadable."""
    side = sidecar_path(path)
    try:
        with side.open("rb") as fh:
            raw = fh.read(MAX_BYTES * 4 + 1)
        if len(raw) > MAX_BYTES * 4:
            return None
        doc = json.loads(raw)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != _SIDECAR_TAG:
        return None
    if doc.get("digest") != digest:
        return None
    return doc.get("data")


def parse_text(text: str, cache: ParsedCache | None = None, path: Path | None = None) -> Any:
    """:func:`fast_yaml`, or the same data read from ``path``'s sidecar
    (:func:`write_sidecar`) or from ``cache`` when this exact text was parsed before (by
    content hash). Parsed data that JSON would change is not cached.

    Raises:
        yaml.YAMLError, ScenarioError: see :func:`fast_yaml`.
    """
    if cache is None and path is None:
        return fast_yaml(text)
    digest = parsed_digest(text)
    if path is not None:
        data = read_sidecar(path, digest)
        if data is not None:
            return data
    data = cache.parsed_case(digest) if cache is not None else None
    if data is None:
        data = fast_yaml(text)
        if cache is not None and _json_exact(data):
            cache.put_parsed_case(digest, data)
    return data


def load_case(path: Path, text: str | None = None, cache: ParsedCache | None = None) -> Case:
    """Read (unless ``text`` is given) and validate a case file (its sidecar when it is
    fresh, else the data ``cache`` holds for this exact text, else the fast C parser;
    parsed again with line numbers only when there is an error to report).

    Raises:
        ScenarioError: unreadable file, bad YAML, or invalid fields (``file:line: field``).
    """
    try:
        if text is None:
            text = read_text(path)
        data = parse_text(text, cache, path)
        return parse_case(data, path)
    except (ScenarioError, yaml.YAMLError, OSError, ValueError):
        data, lines = load_yaml(path)  # slow path: remember lines for the error
        return parse_case(data, path, lines)


class CaseCassette(CassetteModel):
    """A model backend that answers from a case's cassette (no model access): a
    :class:`~agentbox.cassette.CassetteModel` over the case's recorded calls.

    Args:
        cassette: the recorded calls.
        redactor: what the recording run redacted (see ``RequestHasher``).
    """

    def __init__(self, cassette: Cassette, redactor: Callable[[Any], Any] | None = None) -> None:
        calls = [
            Recording(
                c.request.hash, c.request.prefix, c.request.messages, c.request.tools, c.response
            )
            for c in cassette.calls
        ]
        super().__init__(
            calls,
            redactor=redactor,
            name=cassette.model,
            source="the case",
            hint="the scenario, prompt, tools, policy or sandbox changed since the recording; "
            "re-export the case, or run `agentbox test --live`",
        )


def decisions_approver(
    decisions: list[RecordedDecision], fallback: Approver | None = None
) -> Approver:
    """Decide held calls with a case's recorded decisions, in order (see
    :func:`agentbox.approvals.replay_approver`)."""
    holds = [
        RecordedHold(d.tool, ApprovalDecision(d.verdict, args=d.args, reason=d.reason, by=d.by))
        for d in decisions
    ]
    return replay_approver(holds, fallback)
