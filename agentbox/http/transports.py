"""Route every request of ``httpx`` and ``httpx2`` through one agentbox handler.

The default transports of both libraries are patched once per process (:func:`install`):
``HTTPTransport.handle_request`` and ``AsyncHTTPTransport.handle_async_request`` of
``httpx`` (openai 2.x, LangChain, litellm) and of ``httpx2`` (openai 3.x, anthropic 2.x,
the mcp client, the OpenAI Agents SDK's trace exporter). Clients built on either library
-- sync, async or streaming, with or without a proxy -- end in one of these methods.

The patch hands each request, as an ``httpx.Request`` with its body read, to the handler
set by :func:`set_handler` (agentbox's router, :mod:`agentbox.http.intercept`), which
returns an ``httpx.Response`` to answer it or None to send it on for real. ``httpx2``
requests and responses are converted to and from ``httpx`` ones, so one router serves
both libraries. With no handler set the original methods run unchanged.

Custom transports that do not derive from these classes (``MockTransport``, an ASGI app)
are not patched: they never reach the network themselves. The socket-level egress guard
(:mod:`agentbox.http.guard`) sits below all of this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["Handler", "install", "set_handler"]

Handler = Callable[[httpx.Request], httpx.Response | None]
"""``(request) -> response to answer with, or None to send the request for real``."""

_handler: Handler | None = None
_installed = False
_lock = threading.Lock()


def set_handler(handler: Handler | None) -> Handler | None:
    """Make ``handler`` route every httpx/httpx2 request; returns the previous one."""
    global _handler
    install()
    previous, _handler = _handler, handler
    return previous


def install() -> None:
    """Patch the httpx and httpx2 transports (idempotent; httpx2 only when installed)."""
    global _installed
    with _lock:
        if _installed:
            return
        _patch(httpx.HTTPTransport, httpx.AsyncHTTPTransport, _from_httpx, _to_httpx)
        try:
            import httpx2  # optional at run time: see the except below
        except ImportError:  # httpx2 is a dependency; tolerate an environment without it
            pass
        else:
            _patch(httpx2.HTTPTransport, httpx2.AsyncHTTPTransport, _from_httpx2, _to_httpx2)
        _installed = True


def _patch(
    sync_cls: Any,
    async_cls: Any,
    convert_in: Callable[[Any], httpx.Request],
    convert_out: Callable[[httpx.Response], Any],
) -> None:
    original_sync = sync_cls.handle_request
    original_async = async_cls.handle_async_request

    def handle_request(self: Any, request: Any) -> Any:
        handler = _handler
        if handler is None:
            return original_sync(self, request)
        request.read()
        response = handler(convert_in(request))
        if response is None:
            return original_sync(self, request)
        return convert_out(response)

    async def handle_async_request(self: Any, request: Any) -> Any:
        handler = _handler
        if handler is None:
            return await original_async(self, request)
        await request.aread()
        response = handler(convert_in(request))
        if response is None:
            return await original_async(self, request)
        return convert_out(response)

    handle_request.__wrapped__ = original_sync  # type: ignore[attr-defined]
    handle_async_request.__wrapped__ = original_async  # type: ignore[attr-defined]
    sync_cls.handle_request = handle_request
    async_cls.handle_async_request = handle_async_request


def _from_httpx(request: httpx.Request) -> httpx.Request:
    return request


def _to_httpx(response: httpx.Response) -> httpx.Response:
    return response


def _from_httpx2(request: Any) -> httpx.Request:
    return httpx.Request(
        request.method,
        str(request.url),
        headers=list(request.headers.raw),
        content=request.content,
        extensions={k: v for k, v in request.extensions.items() if k != "timeout"},
    )


def _to_httpx2(response: httpx.Response) -> Any:
    import httpx2  # loaded only once a request went through it (start-up cost)

    return httpx2.Response(
        response.status_code, headers=list(response.headers.raw), content=response.content
    )
