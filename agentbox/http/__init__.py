"""HTTP for python agents: sandbox HTTP mocks, egress control and model-call routing.

``from agentbox.http import http_mock, sandbox_tools`` in a sandbox's ``http_mocks.py``
(see :mod:`agentbox.http.mocks`); the runner wraps every ``python`` agent in
:func:`intercept_http` (see :mod:`agentbox.http.intercept`).
"""

from agentbox.http.chat import chat_completion, chat_completion_chunks, parse_chat_request
from agentbox.http.intercept import DUMMY_OPENAI_KEY, HttpInterceptor, intercept_http
from agentbox.http.mocks import HttpMock, http_mock, load_http_mocks, response_for, sandbox_tools

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
