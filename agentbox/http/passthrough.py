"""Read-through APIs for shadow and recommend runs (``shadow.passthrough`` in a scenario).

A request to a listed host whose method is a read (``GET``/``HEAD`` unless the entry says
otherwise) is sent to the real host, explicitly let through the egress guard, and
recorded as a ``tool`` step named ``http`` (``data.passthrough``: request and response).
Replays serve those recordings offline, in order, per method and URL; a fork or resume
takes them from its recorded prefix. Any other method to a listed host is never sent:
a sandbox HTTP mock answers it when one matches (the change lands in the overlay), else
it is recorded as a proposed action (status ``recommended``) and answered ``202``.

In ``execute`` mode the list is ignored (normal routing: mocks, ``allow_hosts``, block).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import httpx

from agentbox.errors import AgentboxError
from agentbox.http.bypass import own_traffic
from agentbox.http.guard import host_allowed, host_patterns, host_traffic

if TYPE_CHECKING:
    from agentbox.agents.context import AgentContext
    from agentbox.http.intercept import HttpInterceptor

_KEPT_HEADERS = ("content-type", "etag", "last-modified", "cache-control")


class Passthrough:
    """One run's read-through hosts.

    Args:
        ctx: the run's agent context.
        entries: ``[{"host": ..., "methods": [...]}]`` (the scenario's
            ``shadow.passthrough``, as dicts).
        recorded: the steps of the run being replayed (None: go live).
    """

    def __init__(
        self, ctx: AgentContext, entries: list[dict[str, Any]], recorded: list[Any] | None
    ) -> None:
        self.ctx = ctx
        self.entries = [
            (host_patterns([str(e["host"])]), {str(m).upper() for m in e.get("methods") or []})
            for e in entries
        ]
        self.replay: dict[tuple[str, str], list[dict[str, Any]]] | None = None
        if recorded is not None:
            self.replay = defaultdict(list)
            for step in recorded:
                data = step.data or {}
                if step.kind == "tool" and step.name == "http" and data.get("passthrough"):
                    self.replay[(data["method"], data["url"])].append(data)

    @classmethod
    def for_run(cls, ctx: AgentContext) -> Passthrough | None:
        """The run's read-through hosts, or None (execute mode, or none listed)."""
        shadow = getattr(ctx.scenario, "shadow", None)
        entries = list(getattr(shadow, "passthrough", None) or [])
        if not entries or ctx.mode not in ("shadow", "recommend"):
            return None
        model = ctx.plan.model  # a replay's model is the recording's cassette
        recorded = getattr(model, "steps", None)
        return cls(ctx, [e.model_dump() for e in entries], recorded)

    def route(self, interceptor: HttpInterceptor, request: httpx.Request) -> httpx.Response | None:
        """Answer a request to a listed host; None for other hosts (and for writes that a
        sandbox mock answers)."""
        url = request.url
        methods = next(
            (m for pats, m in self.entries if host_allowed(pats, url.host, url.port)), None
        )
        if methods is None:
            return None
        if request.method.upper() in methods:
            return self._read(request)
        if any(mock.match(request) is not None for mock in interceptor.mocks):
            return None  # the sandbox's mock answers it (in the overlay)
        return self._propose(request)

    def _read(self, request: httpx.Request) -> httpx.Response:
        method, url = request.method.upper(), str(request.url)
        data: dict[str, Any] | None = None
        if self.ctx.replaying:  # a fork or resume serving its recording: never re-sent
            answer = self.ctx.record_step("tool", "http", status="ok", data={})["response"]
            return httpx.Response(
                int(answer["status"]),
                content=str(answer["body"]).encode(),
                headers=answer["headers"],
            )
        if self.replay is not None:
            queue = self.replay.get((method, url))
            if not queue:
                raise AgentboxError(
                    f"replay: no recorded read-through response for {method} {url}",
                    "the agent asked the real API something the recording did not; "
                    "run it again live",
                )
            data = queue.pop(0)
        else:
            data = self._send(request)
        recorded = self.ctx.record_step("tool", "http", status="ok", data=data)
        answer = recorded.get("response") or data["response"]
        return httpx.Response(
            int(answer["status"]), content=str(answer["body"]).encode(), headers=answer["headers"]
        )

    def _send(self, request: httpx.Request) -> dict[str, Any]:
        """Send the read for real (through the guard, explicitly) and describe it."""
        with own_traffic(), host_traffic(), httpx.Client(timeout=30) as client:
            response = client.send(request)
            body = response.text
        method, url = request.method.upper(), str(request.url)
        headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
        return {
            "passthrough": True,
            "method": method,
            "url": url,
            "host": request.url.host,
            "args": {"method": method, "url": url},
            "response": {"status": response.status_code, "headers": headers, "body": body},
            "result": f"{response.status_code} from the real host ({len(body)} chars)",
        }

    def _propose(self, request: httpx.Request) -> httpx.Response:
        """Record a write to a read-through host as a proposed action; never send it."""
        method, url = request.method.upper(), str(request.url)
        body = request.content.decode("utf-8", "replace") if request.content else ""
        reason = f"{method} to a read-through host is never sent in {self.ctx.mode} mode"
        self.ctx.record_step(
            "tool",
            "http",
            status="recommended",
            data={
                "proposed": True,
                "method": method,
                "url": url,
                "host": request.url.host,
                "args": {"method": method, "url": url, "body": body},
                "reason": reason,
                "result": f"not sent: {reason}; recorded as a proposed action",
            },
        )
        return httpx.Response(
            202,
            json={"agentbox": "recorded as a proposed action; not sent", "reason": reason},
            headers={"x-agentbox-status": "proposed"},
        )
