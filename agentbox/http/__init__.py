"""HTTP for python agents: sandbox HTTP mocks, egress control and model-call routing.

``from agentbox.http import http_mock, sandbox_tools`` in a sandbox's ``http_mocks.py``
(see :mod:`agentbox.http.mocks`); the runner wraps every ``python`` agent in
:func:`intercept_http` (see :mod:`agentbox.http.intercept`) and every run in the egress
guard (:mod:`agentbox.http.guard`, stdlib only).

Names are imported lazily (PEP 562): ``agentbox.http.guard`` is imported by the runner
for every run and must not pull in httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentbox.http.chat import chat_completion, chat_completion_chunks, parse_chat_request
    from agentbox.http.intercept import DUMMY_OPENAI_KEY, HttpInterceptor, intercept_http
    from agentbox.http.mocks import (
        HttpMock,
        http_mock,
        load_http_mocks,
        response_for,
        sandbox_tools,
    )

_WHERE = {
    "DUMMY_OPENAI_KEY": "intercept",
    "HttpInterceptor": "intercept",
    "HttpMock": "mocks",
    "chat_completion": "chat",
    "chat_completion_chunks": "chat",
    "http_mock": "mocks",
    "intercept_http": "intercept",
    "load_http_mocks": "mocks",
    "parse_chat_request": "chat",
    "response_for": "mocks",
    "sandbox_tools": "mocks",
}

__all__ = [
    "DUMMY_OPENAI_KEY",
    "HttpInterceptor",
    "HttpMock",
    "chat_completion",
    "chat_completion_chunks",
    "http_mock",
    "intercept_http",
    "load_http_mocks",
    "parse_chat_request",
    "response_for",
    "sandbox_tools",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'agentbox.http' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"agentbox.http.{module}"), name)
    globals()[name] = value
    return value
