"""Declarative HTTP mocks for sandboxes: ``sandboxes/NAME/http_mocks.py``.

A sandbox can serve a fake HTTP API over its state, so a python agent's own tool
functions (``httpx.get("https://api.northwind.test/orders/ord_5120")``) run unmodified::

    from agentbox import State, ToolError
    from agentbox.http import http_mock, sandbox_tools

    tools = sandbox_tools(__file__)          # this sandbox's @tool specs, to reuse logic

    @http_mock("GET", "https://api.northwind.test/orders/{order_id}")
    def get_order(state: State, request, order_id: str):
        \"\"\"Look up one order.\"\"\"
        return 200, tools["get_order"].fn(state, order_id=order_id)

    @http_mock("POST", "https://api.northwind.test/orders/{order_id}/refunds", effect="write")
    def create_refund(state: State, request, order_id: str, amount_usd: float,
                      idempotency_key: str, reason: str = ""):
        ...
        return 201, refund

    health = http_mock("GET", "https://api.northwind.test/health", json={"ok": True})

Each mock becomes a tool named ``http METHOD host/path-template`` (e.g.
``http GET api.northwind.test/orders/{order_id}``) that passes the run's gate like any
sandbox tool: its arguments (path parameters, then query parameters and the fields of a
JSON object body) are validated against the handler's signature, the policy sees them,
writes are held, blocked or -- in ``recommend`` mode -- not performed, and every request
is one ``tool`` step. The handler gets the run's :class:`~agentbox.State` (so ``shadow``
writes land in the overlay), the ``httpx.Request`` and the validated arguments.

A handler returns ``(status, body)``, a bare body (status 200), ``None`` (204) or an
``httpx.Response``. ``body`` is JSON-like (sent as JSON) or a string (plain text). A
status >= 400 makes the step a tool error; a ``ToolError`` raised by the handler is a 400.

Effects default to ``read`` for GET/HEAD/OPTIONS and ``write`` for everything else.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_type_hints
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, create_model

from agentbox.errors import SandboxError, ToolError
from agentbox.sandbox.loader import import_file, load_tools_module
from agentbox.sandbox.tools import Effect, ToolSpec, parse_docstring

__all__ = ["HttpMock", "http_mock", "load_http_mocks", "response_for", "sandbox_tools"]

MOCKS_FILE = "http_mocks.py"
_READ_METHODS = ("GET", "HEAD", "OPTIONS")
_PARAM = re.compile(r"\{([A-Za-z_]\w*)\}")
_ERROR = re.compile(r"^Error: HTTP (\d{3}): (.*)$", re.DOTALL)

# The request being answered while its mock tool runs (the handler receives it).
_INFLIGHT: ContextVar[httpx.Request | None] = ContextVar("agentbox_http_inflight", default=None)

Handler = Callable[..., Any]


@dataclass(eq=False)
class HttpMock:
    """One mocked endpoint: a method and URL template answered by a handler or a canned body.

    Attributes:
        method: HTTP method (upper case).
        url: the template as written, e.g. ``https://api.northwind.test/orders/{order_id}``.
        effect: ``read`` or ``write`` (writes are not performed in ``recommend`` mode).
        handler: ``handler(state, request, **args)``; None for a canned response.
        status / body: the canned response (when ``handler`` is None).
        name: the tool name, ``http METHOD host/path-template``.
    """

    method: str
    url: str
    effect: Effect
    handler: Handler | None = None
    status: int = 200
    body: Any = None
    name: str = ""
    scheme: str | None = field(init=False, default=None)
    host: str = field(init=False, default="")
    port: int | None = field(init=False, default=None)
    path_params: list[str] = field(init=False, default_factory=list)
    _pattern: re.Pattern[str] = field(init=False, repr=False)
    _spec: ToolSpec | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        raw = self.url if "://" in self.url else "//" + self.url
        parts = urlsplit(raw)
        if not parts.hostname:
            raise ValueError(f"http_mock URL {self.url!r} has no host")
        self.scheme = parts.scheme or None
        self.host = parts.hostname.lower()
        self.port = parts.port
        path = parts.path or "/"
        self.path_params = _PARAM.findall(path)
        regex, last = "", 0
        for m in _PARAM.finditer(path):
            regex += re.escape(path[last : m.start()]) + f"(?P<{m.group(1)}>[^/]+)"
            last = m.end()
        regex += re.escape(path[last:].rstrip("/"))
        self._pattern = re.compile(regex + "/?")
        if (self.scheme, self.port) in (("http", 80), ("https", 443)):
            self.port = None
        hostport = self.host + (f":{self.port}" if self.port else "")
        self.name = self.name or f"http {self.method} {hostport}{path}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the handler directly (a decorated function keeps working)."""
        if self.handler is None:
            return self.status, self.body
        return self.handler(*args, **kwargs)

    # ---- matching ------------------------------------------------------------------
    def match(self, request: httpx.Request) -> dict[str, str] | None:
        """The path parameters when ``request`` is for this endpoint, else None.

        Not a respx route: respx has no ``{param}`` URL templates (its ``path__regex``
        would still need the regex built above), and these mocks are not served by
        respx's transport but dispatched by :class:`~agentbox.http.intercept.HttpInterceptor`
        through the run's gate after allow-lists and model endpoints; what respx would
        replace is the four comparisons below.
        """
        url = request.url
        if request.method.upper() != self.method or url.host.lower() != self.host:
            return None
        if self.scheme is not None and url.scheme != self.scheme:
            return None
        if url.port != self.port:  # httpx reports a scheme's default port as None
            return None
        m = self._pattern.fullmatch(url.path)
        return None if m is None else m.groupdict()

    def arguments(self, request: httpx.Request, path: dict[str, str]) -> dict[str, Any]:
        """The tool arguments of a request: query parameters, JSON body fields, path params.

        A JSON body that is not an object (or a non-JSON body) is passed as ``body``.
        """
        args: dict[str, Any] = dict(request.url.params.multi_items())
        content = request.content
        if content:
            try:
                payload: Any = json.loads(content)
            except ValueError:
                payload = content.decode("utf-8", "replace")
            if isinstance(payload, dict):
                args.update(payload)
            else:
                args["body"] = payload
        args.update(path)
        return args

    # ---- the tool ------------------------------------------------------------------
    @property
    def spec(self) -> ToolSpec:
        """This mock as a :class:`ToolSpec` (built once)."""
        if self._spec is None:
            self._spec = self._build_spec()
        return self._spec

    def _build_spec(self) -> ToolSpec:
        fields: dict[str, Any] = {}
        extra: Literal["allow", "forbid"] = "allow"
        description = f"{self.method} {self.url}"
        if self.handler is not None:
            doc, arg_docs = parse_docstring(self.handler.__doc__)
            description = doc or description
            params = list(inspect.signature(self.handler).parameters.values())
            names = [p.name for p in params[:2]]
            if names != ["state", "request"]:
                raise TypeError(
                    f"http_mock {self.name!r}: the handler's first parameters must be "
                    f"(state, request), got ({', '.join(names)})"
                )
            hints = get_type_hints(self.handler)
            extra = "forbid"
            for p in params[2:]:
                if p.kind == p.VAR_KEYWORD:
                    extra = "allow"
                    continue
                if p.kind == p.VAR_POSITIONAL:
                    raise TypeError(f"http_mock {self.name!r}: *args is not supported")
                default = ... if p.default is p.empty else p.default
                fields[p.name] = (
                    hints.get(p.name, str if p.name in self.path_params else Any),
                    Field(default, description=arg_docs.get(p.name)),
                )
            missing = [n for n in self.path_params if n not in fields]
            if missing and extra == "forbid":
                raise TypeError(
                    f"http_mock {self.name!r}: the handler has no parameter for "
                    f"path parameter(s) {', '.join(missing)}"
                )
        for name in self.path_params:
            fields.setdefault(name, (str, Field(...)))
        slug = re.sub(r"\W+", "_", self.name).strip("_")
        model: type[BaseModel] = create_model(
            f"{slug}_args", __config__=ConfigDict(extra=extra), **fields
        )
        schema = model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("required", [])
        schema["additionalProperties"] = extra == "allow"
        return ToolSpec(self.name, self.effect, description, self._run, model, schema)

    def _run(self, state: Any, **args: Any) -> dict[str, Any]:
        """The tool implementation: call the handler, return ``{"status", "body"}``."""
        if self.handler is None:
            status, body = self.status, self.body
        else:
            request = _INFLIGHT.get() or httpx.Request(self.method, _fill(self.url, args))
            status, body = _normalise(self.handler(state, request, **args))
        if status >= 400:
            raise ToolError(f"HTTP {status}: {json.dumps(body, default=str)}")
        return {"status": status, "body": body}


def _fill(url: str, args: dict[str, Any]) -> str:
    return _PARAM.sub(lambda m: str(args.get(m.group(1), m.group(0))), url)


def _normalise(result: Any) -> tuple[int, Any]:
    if isinstance(result, httpx.Response):
        result.read()
        try:
            return result.status_code, result.json()
        except ValueError:
            return result.status_code, result.text or None
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        return result[0], result[1]
    if result is None:
        return 204, None
    return 200, result


def http_mock(
    method: str,
    url: str,
    *,
    effect: Effect | None = None,
    name: str | None = None,
    status: int | None = None,
    json: Any = None,
) -> Any:
    """Declare a mocked endpoint in a sandbox's ``http_mocks.py``.

    As a decorator: ``@http_mock("GET", "https://host/items/{item_id}")`` over
    ``def handler(state, request, item_id: str, ...) -> (status, body)``. With ``json=``
    and/or ``status=`` it returns a canned endpoint directly:
    ``health = http_mock("GET", "https://host/health", json={"ok": True})``.

    Args:
        method: HTTP method.
        url: URL template; ``{name}`` matches one path segment and becomes an argument.
        effect: ``read`` or ``write`` (default: read for GET/HEAD/OPTIONS, else write).
        name: tool name (default ``http METHOD host/path``).
        status / json: a canned response.
    """
    chosen: Effect = effect or ("read" if method.upper() in _READ_METHODS else "write")
    if chosen not in ("read", "write"):
        raise ValueError(f"effect must be 'read' or 'write', not {effect!r}")
    if status is not None or json is not None:
        return HttpMock(
            method, url, chosen, None, 200 if status is None else status, json, name or ""
        )

    def wrap(fn: Handler) -> HttpMock:
        mock = HttpMock(method, url, chosen, fn, name=name or "")
        mock.spec  # noqa: B018 - fail at import on a bad signature, not mid-run
        return mock

    return wrap


def response_for(result: Any) -> httpx.Response:
    """The HTTP response an agent gets for a mock tool's :class:`ToolResult`.

    ``ok`` -> the handler's status and body; a handler error -> its status and body;
    ``recommended`` (recommend mode) -> 202; ``blocked``/``denied`` (policy, approver)
    -> 403; ``invalid`` (arguments) -> 400; ``crashed`` -> 500; ``abandoned`` -> 409.
    """
    headers = {"x-agentbox-status": result.status}
    if result.status == "ok":
        value = result.value
        if value is None:
            try:
                value = json.loads(result.content)
            except ValueError:
                value = {"status": 200, "body": result.content}
        if isinstance(value, dict) and "status" in value and "body" in value:
            return _response(int(value["status"]), value["body"], headers)
        return _response(200, value, headers)
    if result.status == "error":
        m = _ERROR.match(result.content)
        if m:
            try:
                body: Any = json.loads(m.group(2))
            except ValueError:
                body = m.group(2)
            return _response(int(m.group(1)), body, headers)
    if result.status == "recommended":
        return _response(
            202, {"status": "recorded", "performed": False, "message": result.content}, headers
        )
    code = {
        "error": 400,
        "invalid": 400,
        "blocked": 403,
        "denied": 403,
        "crashed": 500,
        "abandoned": 409,
    }.get(result.status, 500)
    message = result.content.removeprefix("Error: ")
    return _response(
        code, {"error": {"message": message, "type": f"agentbox_{result.status}"}}, headers
    )


def _response(status: int, body: Any, headers: dict[str, str]) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(
        status,
        content=json.dumps(body, default=str).encode(),
        headers={**headers, "content-type": "application/json"},
    )


# ---- loading ---------------------------------------------------------------------------
_LOADED: dict[str, tuple[float, list[HttpMock]]] = {}


def load_http_mocks(sandbox_path: Path) -> list[HttpMock]:
    """The mocks of ``sandbox_path/http_mocks.py`` in definition order ([] without one).

    Cached per file and modification time.

    Raises:
        SandboxError: the file does not import, or two mocks share a tool name.
    """
    file = (Path(sandbox_path) / MOCKS_FILE).resolve()
    if not file.is_file():
        return []
    mtime = file.stat().st_mtime
    cached = _LOADED.get(str(file))
    if cached is not None and cached[0] == mtime:
        return cached[1]
    module_name = f"agentbox_sandbox_{file.parent.name}_http_mocks"
    sys.modules.pop(module_name, None)  # the file changed (or is new): import it afresh
    module = import_file(file, module_name, "handlers take (state, request, **path/body args)")
    mocks: list[HttpMock] = []
    seen: dict[str, HttpMock] = {}
    for value in vars(module).values():
        if isinstance(value, HttpMock) and value not in mocks:
            if value.name in seen:
                raise SandboxError(f"{file}: two HTTP mocks are named {value.name!r}")
            seen[value.name] = value
            mocks.append(value)
    _LOADED[str(file)] = (mtime, mocks)
    return mocks


def sandbox_tools(file: str | Path) -> dict[str, ToolSpec]:
    """The @tool specs of the sandbox holding ``file`` (call with ``__file__``).

    Lets HTTP handlers reuse the sandbox's tool logic: ``tools["get_order"].fn(state, ...)``.
    """
    folder = Path(file).resolve().parent
    tools, _ = load_tools_module(folder / "tools.py", f"agentbox_sandbox_{folder.name}")
    return tools
