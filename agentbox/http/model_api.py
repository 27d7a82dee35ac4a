"""Answer a python agent's model-API requests in the wire format it speaks.

:class:`HttpInterceptor` hands :class:`ModelApi` the requests that no sandbox mock and no
``agent.allow_hosts`` entry took and that match one of its entries in
``intercept.ENDPOINTS``:

- ``POST .../chat/completions`` (OpenAI Chat Completions, :mod:`agentbox.http.chat`),
  ``POST .../responses`` (OpenAI Responses, :mod:`agentbox.http.responses`) and
  ``POST .../v1/messages`` (Anthropic Messages, :mod:`agentbox.http.anthropic`) are
  translated to chat messages, answered by the run's model through
  :meth:`AgentContext.complete` (an ``llm`` step: traced, budgeted, replayable from the
  cassette) and translated back, as JSON or as a server-sent event stream;
- any other request to a *model host* gets a 404 in that API's error shape naming the
  endpoint and the three that are answered, and a ``blocked`` step; it never reaches the
  network. A model host is one of :data:`MODEL_HOSTS` (``api.openai.com``,
  ``api.anthropic.com``, Azure OpenAI, Gemini, Bedrock, Mistral, Groq, OpenRouter, ...),
  the host of ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` as the SDKs read them, or any
  host when the path is a known OpenAI or Anthropic endpoint (``/v1/embeddings``,
  ``/v1/completions``, ``/v1/audio/...``, ``/v1/messages/count_tokens``, ...);
- anything else is not a model request: the interceptor blocks it as egress.

A request in a supported format that agentbox cannot translate (a hosted tool, an unknown
``previous_response_id``, malformed JSON) gets a 400 (404 for the unknown id) naming the
field; no model call is made.
"""

from __future__ import annotations

import json
import os
import re
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from agentbox.http.anthropic import (
    anthropic_events,
    anthropic_message,
    parse_anthropic_request,
)
from agentbox.http.chat import chat_completion, chat_completion_chunks, parse_chat_request
from agentbox.http.responses import (
    parse_responses_request,
    response_events,
    response_object,
)
from agentbox.http.wire import WireError
from agentbox.models import Message

if TYPE_CHECKING:
    from agentbox.agents.context import AgentContext

__all__ = ["MODEL_HOSTS", "SUPPORTED", "ModelApi", "is_model_request"]

MODEL_HOSTS = (
    "api.openai.com",
    "api.anthropic.com",
    # other providers' APIs: their OpenAI-compatible chat/completions paths are answered,
    # their native formats (Gemini generateContent, Bedrock converse, ...) get the 404
    "*.openai.azure.com",
    "generativelanguage.googleapis.com",
    "*aiplatform.googleapis.com",
    "bedrock-runtime.*.amazonaws.com",
    "api.mistral.ai",
    "api.cohere.com",
    "api.cohere.ai",
    "api.groq.com",
    "api.together.xyz",
    "api.fireworks.ai",
    "api.deepseek.com",
    "api.x.ai",
    "openrouter.ai",
)
"""Host globs whose every request is a model-API request."""

SUPPORTED = (
    "POST .../chat/completions (OpenAI Chat Completions), POST .../responses "
    "(OpenAI Responses) and POST .../v1/messages (Anthropic Messages)"
)
"""The endpoints answered by the run's model, as named in error messages."""

_MODEL_PATH = re.compile(
    r"/v1/(embeddings|completions|chat/completions|responses|messages|complete|audio|images"
    r"|moderations|models|files|uploads|batches|fine_tuning|assistants|threads|vector_stores"
    r"|realtime|conversations|containers|evals|videos)(/|$)"
)
_BASE_URL_ENV = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")


def _hostport(url: httpx.URL | str) -> str:
    if isinstance(url, str):
        parts = urlsplit(url)
        return f"{(parts.hostname or '').lower()}:{parts.port or ''}"
    return f"{url.host.lower()}:{url.port or ''}"


def is_model_request(request: httpx.Request) -> bool:
    """Whether ``request`` goes to a model host (see the module docstring)."""
    host = request.url.host.lower()
    if any(fnmatchcase(host, h) for h in MODEL_HOSTS) or _MODEL_PATH.search(request.url.path):
        return True
    here = _hostport(request.url)
    return any(
        _hostport(base) == here for base in (os.environ.get(n) for n in _BASE_URL_ENV) if base
    )


def _is_anthropic(request: httpx.Request) -> bool:
    base = os.environ.get("ANTHROPIC_BASE_URL")
    return (
        request.url.host.lower() == "api.anthropic.com"
        or "anthropic-version" in request.headers
        or (bool(base) and _hostport(str(base)) == _hostport(request.url))
    )


def _error(
    request: httpx.Request, status: int, message: str, *, openai: bool = False
) -> httpx.Response:
    """A JSON error in the shape the API's SDK reads (Anthropic's, or OpenAI's when
    ``openai`` or the request does not look like Anthropic's)."""
    kind = "not_found_error" if status == 404 else "invalid_request_error"
    headers = {"x-agentbox-status": "unsupported_request"}
    if not openai and _is_anthropic(request):
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return httpx.Response(status, json=body, headers=headers)


def _body(request: httpx.Request) -> Any:
    try:
        return json.loads(request.content or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WireError(f"the body is not JSON ({exc})") from None


class ModelApi:
    """One run's answers to model-API requests (see the module docstring).

    The interceptor calls :meth:`chat`, :meth:`responses`, :meth:`messages` or
    :meth:`unsupported` for a request that :func:`is_chat_completions`,
    :func:`is_responses`, :func:`is_anthropic_messages` or :func:`is_model_request`
    matched (in that order). The first three raise the runner's
    signals from :meth:`AgentContext.complete` (a budget halt) and agentbox errors (a
    cassette miss), which the interceptor carries through the agent's client.

    Args:
        ctx: the run's agent context.

    Attributes:
        conversations: the conversation behind each OpenAI response made in this run, by
            response id (what ``previous_response_id`` continues).
    """

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.conversations: dict[str, list[Message]] = {}

    def chat(self, request: httpx.Request) -> httpx.Response:
        """Answer ``POST .../chat/completions`` (JSON or an event stream; a 400 when
        untranslatable)."""
        try:
            messages, tools, payload = parse_chat_request(request)
        except ValueError as exc:  # WireError, JSONDecodeError
            return _error(
                request, 400, f"agentbox: invalid chat-completions request: {exc}", openai=True
            )
        ordinal = self.ctx.model_calls
        response = self.ctx.complete(messages, tools)
        model = str(payload.get("model") or "")
        if payload.get("stream"):
            usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            return _stream(chat_completion_chunks(response, model, ordinal, usage))
        return httpx.Response(200, json=chat_completion(response, model, ordinal))

    def responses(self, request: httpx.Request) -> httpx.Response:
        """Answer ``POST .../responses`` (JSON or an event stream; a 4xx when untranslatable)."""
        try:
            call = parse_responses_request(_body(request), self.conversations)
        except WireError as exc:
            return _error(request, exc.status, f"agentbox: invalid OpenAI Responses request: {exc}")
        ordinal = self.ctx.model_calls
        response = self.ctx.complete(call.messages, call.tools)
        self.conversations[f"resp_agentbox_{ordinal}"] = call.conversation(response)
        if call.stream:
            return _stream(response_events(response, call.payload, ordinal))
        return httpx.Response(200, json=response_object(response, call.payload, ordinal))

    def messages(self, request: httpx.Request) -> httpx.Response:
        """Answer ``POST .../v1/messages`` (JSON or an event stream; a 400 when untranslatable)."""
        try:
            call = parse_anthropic_request(_body(request))
        except WireError as exc:
            return _error(
                request, exc.status, f"agentbox: invalid Anthropic Messages request: {exc}"
            )
        ordinal = self.ctx.model_calls
        response = self.ctx.complete(call.messages, call.tools)
        model = str(call.payload.get("model") or "")
        if call.stream:
            return _stream(anthropic_events(response, model, ordinal))
        return httpx.Response(200, json=anthropic_message(response, model, ordinal))

    def unsupported(self, request: httpx.Request) -> httpx.Response:
        """A 404 naming an endpoint of a model host that is not answered, and a blocked step.

        Raises:
            RunHalted: a budget is exhausted (checked before the step is recorded).
        """
        url = request.url
        shown = str(url.copy_with(query=None, fragment=None))
        endpoint = f"{request.method} {url.path}"
        reason = (
            f"agentbox does not answer {endpoint} on model host {url.host}: the run's model "
            f"answers only {SUPPORTED}; list {url.host} in agent.allow_hosts to reach it "
            "for real"
        )
        data: dict[str, Any] = {
            "method": request.method,
            "url": shown,
            "host": url.host.lower(),
            "reason": reason,
            "args": {"method": request.method, "url": shown},
            "result": f"Error: blocked {request.method} {shown}: {reason}",
        }
        if url.query:
            data["query_keys"] = sorted({k for k, _ in url.params.multi_items()})
        self.ctx.record_step("tool", "http", status="blocked", data=data, block=True)
        return _error(request, 404, reason)


def _stream(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
