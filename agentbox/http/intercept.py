"""Intercept a python agent's HTTP (httpx and httpx2; sync, async, streaming) while it runs.

While the agent function runs, every request made through ``httpx`` or ``httpx2`` (so the
official ``openai`` 2.x/3.x and ``anthropic`` SDKs, the mcp client, LangChain's OpenAI chat
model, ...) is routed by :mod:`agentbox.http.transports` to :class:`HttpInterceptor`, in
this order:

1. agentbox's own model traffic (a litellm backend called by the run) passes through;
2. a sandbox HTTP mock (``sandboxes/NAME/http_mocks.py``) matching method and URL answers
   it as a gated ``tool`` step (policy, approvals, recommend mode, shadow overlay);
3. a host listed in the scenario's ``agent.allow_hosts`` passes through for real;
4. the first matching entry of :data:`ENDPOINTS` answers it: telemetry uploads (the
   Agents SDK's ``POST /v1/traces/ingest``, ...) get a no-op 200 (no step, no network),
   and ``POST {any base url}/chat/completions``, ``.../responses`` (OpenAI Responses) and
   ``.../v1/messages`` (Anthropic Messages) are answered by the run's model backend
   through :meth:`AgentContext.complete` (an ``llm`` step: traced, budgeted,
   cassette-replayable) by :class:`agentbox.http.model_api.ModelApi`, which also answers
   any other endpoint of a model host with a 404 naming it;
5. anything else is blocked: the agent gets a 403 JSON error and a ``blocked`` step named
   ``http`` records method, URL, host and reason.

Clients that do not use httpx or httpx2 (requests/urllib3, aiohttp, raw sockets) are
neither mocked nor answered here: the socket-level egress guard
(:mod:`agentbox.http.guard`) refuses their connections instead.

Runner signals raised inside a request (budget halts, parked approvals, a tool that ends
the run) travel through the client as BaseExceptions; agentbox errors (a cassette miss, a
divergence from a recording) are carried the same way so no SDK retries them, and are
re-raised as themselves when the agent function returns.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from fnmatch import fnmatchcase
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from agentbox.http import transports
from agentbox.http.anthropic import is_anthropic_messages
from agentbox.http.bypass import bypassed, own_traffic
from agentbox.http.chat import is_chat_completions
from agentbox.http.guard import host_allowed, host_patterns
from agentbox.http.mocks import _INFLIGHT, HttpMock, load_http_mocks, response_for
from agentbox.http.model_api import ModelApi, is_model_request
from agentbox.http.passthrough import Passthrough
from agentbox.http.responses import is_responses

if TYPE_CHECKING:
    from agentbox.agents.context import AgentContext

__all__ = [
    "DUMMY_ANTHROPIC_KEY",
    "DUMMY_OPENAI_KEY",
    "ENDPOINTS",
    "HttpInterceptor",
    "intercept_http",
    "is_telemetry",
    "placeholder_api_key",
]

DUMMY_OPENAI_KEY = "sk-agentbox-intercepted"
"""Set as ``OPENAI_API_KEY`` while an agent runs when none is set (SDKs refuse to start
without one; no request leaves the machine with it)."""
DUMMY_ANTHROPIC_KEY = "sk-ant-agentbox-intercepted"
"""Set as ``ANTHROPIC_API_KEY`` likewise (unless ``ANTHROPIC_AUTH_TOKEN`` is set)."""
_PLACEHOLDERS = {"OPENAI_API_KEY": DUMMY_OPENAI_KEY, "ANTHROPIC_API_KEY": DUMMY_ANTHROPIC_KEY}
_ALSO_CREDENTIALS = {"ANTHROPIC_API_KEY": "ANTHROPIC_AUTH_TOKEN"}

_CURRENT: ContextVar[HttpInterceptor | None] = ContextVar("agentbox_http_current", default=None)
_ACTIVE: list[HttpInterceptor] = []
_LOCK = threading.Lock()

_TELEMETRY: tuple[tuple[str, str], ...] = (
    ("api.openai.com", "/v1/traces/ingest"),  # OpenAI Agents SDK trace exporter
    ("api.smith.langchain.com", "/runs"),  # LangSmith (when sent through httpx)
    ("*.logfire.dev", "/v1/"),  # pydantic-ai / logfire
    ("logfire-api.pydantic.dev", "/v1/"),
)
"""``(host glob, path prefix)`` of telemetry uploads answered locally with a no-op 200."""


def is_telemetry(request: httpx.Request) -> bool:
    """Whether the request uploads an SDK's own traces or telemetry (see ``_TELEMETRY``)."""
    if request.method != "POST":
        return False
    host, path = request.url.host.lower(), request.url.path
    return any(fnmatchcase(host, h) and path.startswith(p) for h, p in _TELEMETRY)


def telemetry_ack(request: httpx.Request) -> httpx.Response:
    """The local no-op answer to a telemetry upload: 200, nothing recorded or sent."""
    return httpx.Response(200, json={}, headers={"x-agentbox-status": "telemetry_dropped"})


def _set_placeholder_keys() -> list[str]:
    """Set each SDK key variable that is unset to its placeholder; the names set."""
    names = [
        name
        for name in _PLACEHOLDERS
        if not os.environ.get(name) and not os.environ.get(_ALSO_CREDENTIALS.get(name, ""))
    ]
    for name in names:
        os.environ[name] = _PLACEHOLDERS[name]
    return names


def _unset_placeholder_keys(names: list[str]) -> list[str]:
    """Remove those of ``names`` that still hold their placeholder; the names removed."""
    gone = [name for name in names if os.environ.get(name) == _PLACEHOLDERS[name]]
    for name in gone:
        del os.environ[name]
    return gone


@contextmanager
def placeholder_api_key() -> Iterator[None]:
    """Set ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` to placeholders for the block if unset.

    Used while an agent module is imported, so a module-level ``client = OpenAI()`` works.
    """
    names = _set_placeholder_keys()
    try:
        yield
    finally:
        _unset_placeholder_keys(names)


class _Carried(BaseException):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _error(status: int, message: str, kind: str, code: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"message": message, "type": kind, "code": code}},
        headers={"x-agentbox-status": code},
    )


class HttpInterceptor:
    """Route one run's httpx traffic (see the module docstring). Use as a context manager.

    Args:
        ctx: the run's agent context.
        mocks: the sandbox's HTTP mocks (default: loaded from its ``http_mocks.py``).
        allow_hosts: hosts passed through for real (default: ``agent.allow_hosts``);
            ``host``, ``host:port``, globs (``*.internal``) or URLs.
    """

    def __init__(
        self,
        ctx: AgentContext,
        mocks: list[HttpMock] | None = None,
        allow_hosts: list[str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.mocks = load_http_mocks(ctx.sandbox_path) if mocks is None else mocks
        if allow_hosts is None:  # TODO(scenario): AgentSpec.allow_hosts; read defensively
            allow_hosts = list(getattr(ctx.scenario.agent, "allow_hosts", None) or [])
        self.allow_hosts = host_patterns(allow_hosts)
        self._stop: BaseException | None = None
        self.models = ModelApi(ctx)  # Responses, Anthropic Messages, other model endpoints
        self.passthrough = Passthrough.for_run(ctx)  # shadow.passthrough (read-through APIs)
        self._set_keys: list[str] = []
        self._previous_guard: Any = None
        self._token: Any = None

    # ---- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> HttpInterceptor:
        self.ctx.add_tools({m.name: m.spec for m in self.mocks})
        self._set_keys = _set_placeholder_keys()
        self._previous_guard = self.ctx.backend_guard
        self.ctx.backend_guard = self.backend_traffic
        self._token = _CURRENT.set(self)
        with _LOCK:
            _ACTIVE.append(self)
        transports.set_handler(_route)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
        _CURRENT.reset(self._token)
        self.ctx.backend_guard = self._previous_guard
        _unset_placeholder_keys(self._set_keys)
        stop = self._stop
        if stop is None:
            return  # the agent's own exception, if any, propagates unchanged
        if isinstance(stop, _Carried):
            raise stop.error from None
        if exc is not stop:  # the agent swallowed or wrapped (an exception group) it
            raise stop from None

    @contextmanager
    def backend_traffic(self) -> Iterator[None]:
        """Let agentbox's own model calls through (entered by AgentContext.complete)."""
        with own_traffic():
            hidden = _unset_placeholder_keys(self._set_keys)  # never sent to a real backend
            try:
                yield
            finally:
                for name in hidden:
                    os.environ[name] = _PLACEHOLDERS[name]

    # ---- routing -------------------------------------------------------------------
    def _dispatch(self, request: httpx.Request) -> httpx.Response | None:
        """Route one request; None sends it on for real. Carries runner signals."""
        if bypassed():
            return None  # pass through
        if self._stop is not None:
            raise self._stop
        try:
            return self.route(request)
        except _Carried as carried:
            self._stop = carried
            raise
        except Exception as exc:  # agentbox errors must not be retried by an SDK
            self._stop = _Carried(exc)
            raise self._stop from exc
        except BaseException as signal:  # RunHalted, EndRun, a parked approval
            self._stop = signal
            raise

    def route(self, request: httpx.Request) -> httpx.Response | None:
        """Answer one request: a mock, a pass-through (None), an endpoint, or a block."""
        if self.passthrough is not None:  # read-through hosts come first (shadow/recommend)
            answered = self.passthrough.route(self, request)
            if answered is not None:
                return answered
        for mock in self.mocks:
            params = mock.match(request)
            if params is not None:
                return self._call_mock(mock, request, params)
        if self.allowed(request.url):
            return None
        for matches, answer in ENDPOINTS:
            if matches(request):
                return answer(self, request)
        return self._block(request)

    def allowed(self, url: httpx.URL) -> bool:
        """Whether ``agent.allow_hosts`` lets requests to this URL's host through."""
        return host_allowed(self.allow_hosts, url.host, url.port)

    def _call_mock(
        self, mock: HttpMock, request: httpx.Request, params: dict[str, str]
    ) -> httpx.Response:
        args = mock.arguments(request, params)
        token = _INFLIGHT.set(request)
        try:
            result = self.ctx.call_tool(mock.name, args)
        finally:
            _INFLIGHT.reset(token)
        return response_for(result)

    def _block(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host.lower()
        box = self.ctx.sandbox_name
        if any(m.host == host for m in self.mocks):
            reason = (
                f"no HTTP mock of sandbox {box} matches {request.method} {url.path} "
                f"(see sandboxes/{box}/http_mocks.py)"
            )
        else:
            reason = (
                f"egress to {host} is not allowed ({self.ctx.mode} mode): it is not mocked "
                "by the sandbox and not listed in agent.allow_hosts"
            )
        shown = str(url.copy_with(query=None, fragment=None))
        data = {
            "method": request.method,
            "url": shown,
            "host": host,
            "reason": reason,
            "args": {"method": request.method, "url": shown},
            "result": f"Error: blocked {request.method} {shown}: {reason}",
        }
        if url.query:
            data["query_keys"] = sorted({k for k, _ in url.params.multi_items()})
        self.ctx.record_step("tool", "http", status="blocked", data=data, block=True)
        return _error(
            403,
            f"agentbox blocked {request.method} {shown}: {reason}",
            "agentbox_egress_blocked",
            "egress_blocked",
        )


Endpoint = tuple[
    Callable[[httpx.Request], bool], Callable[[HttpInterceptor, httpx.Request], httpx.Response]
]

ENDPOINTS: list[Endpoint] = [
    (is_telemetry, lambda _interceptor, request: telemetry_ack(request)),
    (is_chat_completions, lambda interceptor, request: interceptor.models.chat(request)),
    (is_responses, lambda interceptor, request: interceptor.models.responses(request)),
    (is_anthropic_messages, lambda interceptor, request: interceptor.models.messages(request)),
    (is_model_request, lambda interceptor, request: interceptor.models.unsupported(request)),
]
"""``(matches(request), answer(interceptor, request))`` for requests no mock or allowed
host took, tried in order; the first match answers. Model wire formats go here."""


def _route(request: httpx.Request) -> httpx.Response | None:
    """The process-wide handler of :mod:`agentbox.http.transports`."""
    owner = _CURRENT.get()
    if owner is None:  # a thread the agent started: the newest interception owns it
        with _LOCK:
            owner = _ACTIVE[-1] if _ACTIVE else None
    if owner is None:  # no run intercepts: telemetry still never leaves (exit-time flushes)
        return telemetry_ack(request) if is_telemetry(request) else None
    return owner._dispatch(request)


def intercept_http(ctx: AgentContext) -> HttpInterceptor:
    """``with intercept_http(ctx): agent(ctx)`` -- see :class:`HttpInterceptor`."""
    return HttpInterceptor(ctx)
