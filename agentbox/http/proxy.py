"""agentbox's loopback egress proxy for the programs an agent starts.

The egress guard (:mod:`agentbox.http.guard`) cannot see inside a child process, so
programs started with :mod:`subprocess` during a run get ``HTTP_PROXY``, ``HTTPS_PROXY``
and ``ALL_PROXY`` (both spellings) pointing here, and ``NO_PROXY`` set to the run's
allowed hosts. This small HTTP proxy (one per process, on ``127.0.0.1``, started on
demand in a daemon thread) answers ``CONNECT host:port`` and absolute-URI requests:

- a host the current run allows (``agent.allow_hosts``) is tunnelled or forwarded for real;
- anything else gets ``403`` and, while the run is active, a ``blocked`` ``egress`` step
  naming host, port and ``proxy (subprocess)``; after the run, a 403 and no step.

A child that ignores proxy variables (or speaks something other than HTTP to the network)
is not contained: the README says so.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from agentbox.http.guard import Egress

__all__ = ["environment", "start", "url"]

LIBRARY = "proxy (subprocess)"
_THREAD = "agentbox-egress-proxy"
_HOP = {"proxy-connection", "proxy-authorization", "connection", "keep-alive", "te", "upgrade"}

_server: ThreadingHTTPServer | None = None
_lock = threading.Lock()


def _no_run() -> Egress | None:
    return None


_current: Callable[[], Egress | None] = _no_run
"""The guard's state of the current run (given by the guard to :func:`start`)."""
_own_traffic: Callable[[], AbstractContextManager[Any]]
"""Enters the guard's permission for the proxy's own upstream connections."""


def url() -> str | None:
    """The proxy's URL (``http://127.0.0.1:PORT``), or None when it is not running."""
    server = _server
    return None if server is None else f"http://127.0.0.1:{server.server_address[1]}"


def start(
    current: Callable[[], Egress | None],
    own_traffic: Callable[[], AbstractContextManager[Any]],
) -> str:
    """Start the proxy once per process (idempotent); returns its URL.

    Args:
        current: the guard's state of the current run (``guard.current``): what the
            proxy allows and where it records a refusal.
        own_traffic: the guard's permission for the proxy's upstream connections
            (``guard.host_traffic``). Given by the guard, which imports this module only
            when a first program starts.
    """
    global _server, _current, _own_traffic
    with _lock:
        _current, _own_traffic = current, own_traffic
        if _server is None:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            server.request_queue_size = 64
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=_THREAD,
                daemon=True,
            ).start()
            _server = server
    address = url()
    assert address is not None
    return address


def environment(
    patterns: list[str],
    current: Callable[[], Egress | None],
    own_traffic: Callable[[], AbstractContextManager[Any]],
) -> dict[str, str]:
    """Proxy variables for a child process: every proxy variable -> :func:`start`'s URL.

    ``NO_PROXY`` lists the allowed hosts (``*.x`` as ``.x``), so children reach them
    directly; any ``NO_PROXY`` the environment had is replaced. ``current`` and
    ``own_traffic``: as for :func:`start`.
    """
    address = start(current, own_traffic)
    direct = []
    for pattern in patterns:
        host = pattern.rsplit(":", 1)[0] if pattern.count(":") == 1 else pattern
        if host.startswith("*.") and not any(c in host[2:] for c in "*?["):
            direct.append(host[1:])
        elif not any(c in host for c in "*?["):
            direct.append(host)
    env = {}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = address
    env["NO_PROXY"] = env["no_proxy"] = ",".join(direct)
    return env


def _permitted(host: str, port: int) -> tuple[bool, Egress | None]:
    run = _current()
    if run is None:
        return False, None
    return run.allows_name(host, port), run


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _refuse(self, run: Egress | None, host: str, port: int) -> None:
        if run is not None:
            message = run.refuse(
                host, port, f"proxy {self.command}", library=LIBRARY, thread=_THREAD
            ).strerror
        else:
            message = f"agentbox egress proxy: no run allows {host}:{port}"
        body = (message or "refused").encode() + b"\n"
        self.send_response(403, "Forbidden by agentbox")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_CONNECT(self) -> None:
        host, _, port_text = self.path.rpartition(":")
        host = host.strip("[]") or self.path
        port = int(port_text) if port_text.isdigit() else 443
        allowed, run = _permitted(host, port)
        if not allowed:
            self._refuse(run, host, port)
            return
        try:
            with _own_traffic():
                upstream = socket.create_connection((host, port), timeout=30)
        except OSError as exc:
            self.send_error(502, f"agentbox egress proxy: {exc}")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        _pipe(self.connection, upstream)

    def _forward(self) -> None:
        target = urlsplit(self.path)
        host = target.hostname or ""
        port = target.port or (443 if target.scheme == "https" else 80)
        allowed, run = _permitted(host, port)
        if not host or not allowed:
            self._refuse(run, host or self.path, port)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        connection_class = (
            http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        )
        try:
            with _own_traffic():
                connection = connection_class(host, port, timeout=30)
                connection.request(self.command, path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
        except OSError as exc:
            self.send_error(502, f"agentbox egress proxy: {exc}")
            return
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _HOP | {"content-length", "transfer-encoding"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [client, upstream]
    try:
        while True:
            readable, _, broken = select.select(sockets, [], sockets, 60)
            if broken or not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()
