"""The egress guard: while a run is active, no network connection leaves the process.

Below every client library, a ``sys.addaudithook`` hook (installed once per process; audit
hooks cannot be removed) watches the interpreter's own network events --
``socket.getaddrinfo``, ``socket.gethostbyname[_ex]``, ``socket.connect`` (and
``connect_ex``), ``socket.sendto``, ``socket.sendmsg`` -- and the ways to start a
program (``subprocess.Popen``, ``os.system``, ``os.exec*``, ``os.spawn*``,
``os.posix_spawn*``). While a run is active, from any thread or asyncio task:

- a lookup of or connection to a host outside ``agent.allow_hosts`` raises
  :class:`EgressBlocked` (a ``ConnectionRefusedError``, so libraries report an ordinary
  connection failure) and is recorded as a ``blocked`` tool step named ``egress`` with the
  host, port and, where the stack shows it, the library (requests, urllib3, aiohttp,
  httpcore, httpx2, urllib, http.client, asyncio, socket) -- except SDK telemetry hosts
  (:data:`TELEMETRY_HOSTS`: LangSmith, logfire), refused without a step;
- these always pass: agentbox's own model-backend traffic (inside :func:`host_traffic`,
  entered by the litellm backend), unix sockets, and hosts in ``agent.allow_hosts``
  (names are resolved once so their addresses pass too; a local model server is allowed
  by listing ``127.0.0.1`` or ``localhost``);
- a program started with :mod:`subprocess` is recorded as a ``subprocess`` step and
  gets ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` (and ``NO_PROXY`` = the allowed
  hosts) pointing at agentbox's loopback egress proxy (:mod:`agentbox.http.proxy`), which
  refuses and records what the child tries. ``os.system`` and the ``os`` spawn/exec
  functions are recorded but cannot be given the proxy variables.

When the run ends the guard closes the run's :class:`AgentContext` (a late ``call_tool``
or ``complete`` raises ``RunEnded``, nothing is recorded after ``final``) and stays up
until the next run or the end of the process: threads started during the run (one that
outlives the agent) and the threads they start later are refused with no step recorded
after the run's ``final`` step, and so is everything at interpreter exit (an agent's
``atexit`` handler). The host program's other threads are free again after the run.

Helper programs of the stdlib's ``platform``, ``ctypes.util`` and ``uuid`` probes
(``uname -p``, run once per process by SDKs) are not recorded as steps.

This is a tripwire for honest libraries, not a boundary against hostile code: C
extensions that open sockets themselves (libpq, uvloop, c-ares) raise no audit events,
``ctypes`` can reach libc directly, and a child process that ignores proxy variables is
not contained. One run at a time per process.
"""

from __future__ import annotations

import atexit
import errno
import os
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from agentbox.agents.context import AgentContext

__all__ = [
    "TELEMETRY_HOSTS",
    "Egress",
    "EgressBlocked",
    "egress_guard",
    "host_allowed",
    "host_patterns",
    "host_traffic",
    "install",
]

_NETWORK = frozenset(
    {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
    }
)
_PROGRAMS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn"})
_WATCHED = _NETWORK | _PROGRAMS
_ARGV_AT = {"os.system": 0, "os.exec": 1, "os.spawn": 2, "os.posix_spawn": 1}

_LIBRARIES = (
    ("requests", "requests"),
    ("aiohttp", "aiohttp"),
    ("urllib3", "urllib3"),
    ("httpx2", "httpx2"),
    ("httpx", "httpx"),
    ("httpcore2", "httpcore2"),
    ("httpcore", "httpcore"),
    ("urllib.request", "urllib"),
    ("http.client", "http.client"),
    ("asyncio", "asyncio"),
)
"""``(module prefix, library name)`` by precedence: of the library frames between the
socket call and the code that called into them, the first listed here names the library
(requests over the urllib3 it calls, aiohttp over asyncio); none: ``socket``."""
_PLUMBING = (
    "agentbox.http.guard",
    "socket",
    "ssl",
    "selectors",
    "aiohappyeyeballs",
    "anyio",
    "sniffio",
    "h11",
    "h2",
    "concurrent.futures",
    "threading",
    "contextlib",
    "functools",
    "urllib",
    "http",
)
"""Modules the stack walk passes through without naming them."""

TELEMETRY_HOSTS = (
    "api.smith.langchain.com",
    "*.smith.langchain.com",
    "*.logfire.dev",
    "logfire-api.pydantic.dev",
    "*.posthog.com",
)
"""Hosts of SDK telemetry uploads that may come through clients the HTTP router does not
see (LangSmith sends with ``requests``): still refused, but not recorded as steps, so a
background upload's timing cannot change a trace or its replay."""

_BACKEND: ContextVar[bool] = ContextVar("agentbox_egress_backend", default=False)
_inside = threading.local()  # the hook's own lookups (resolving an allowed name)
_run: Egress | None = None
_installed = False
_install_lock = threading.Lock()


class EgressBlocked(ConnectionRefusedError):
    """A connection refused by agentbox's egress guard (an ``OSError``, errno ECONNREFUSED)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ECONNREFUSED, message)


def host_patterns(entries: list[str]) -> list[str]:
    """Normalise ``agent.allow_hosts`` entries: ``host``, ``host:port``, globs or URLs."""
    out = []
    for entry in entries:
        entry = entry.strip().lower()
        out.append(urlsplit(entry).netloc if "://" in entry else entry.rstrip("/"))
    return out


def host_allowed(patterns: list[str], host: str, port: int | None) -> bool:
    """Whether ``host`` (and ``port``, when known) matches one of ``patterns``."""
    host = host.lower().strip("[]")
    hostport = f"{host}:{port}" if port else host
    return any(fnmatchcase(host, p) or fnmatchcase(hostport, p) for p in patterns)


@contextmanager
def host_traffic() -> Iterator[None]:
    """Let the enclosed code (this thread or task) through the guard: agentbox's own traffic.

    The litellm model backend enters it around every call; host code that must reach the
    network while a run is active (an exporter, a database driver in pure python) can too.
    """
    token = _BACKEND.set(True)
    try:
        yield
    finally:
        _BACKEND.reset(token)


class Egress:
    """The guard's state for one run (see the module docstring).

    Args:
        ctx: the run's agent context (blocked attempts are recorded through it).
        allow_hosts: ``agent.allow_hosts`` entries.
    """

    def __init__(self, ctx: AgentContext | None, allow_hosts: list[str]) -> None:
        self.ctx = ctx
        self.mode = ctx.mode if ctx is not None else "execute"
        self.patterns = host_patterns(allow_hosts)
        self.active = True
        self.exiting = False
        self.stop: BaseException | None = None
        """A runner signal (budget halt, divergence) raised while recording a block."""
        self.blocked: list[dict[str, Any]] = []
        """Every refused attempt of this run, in order (also those after it ended)."""
        self._names: dict[str, bool] = {}
        self._addresses: set[tuple[str, int | None]] = set()
        self.threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        """Threads started while the run was active, or later by one of them."""
        self._lock = threading.RLock()

    # ---- decisions -----------------------------------------------------------------
    def governs_this_thread(self) -> bool:
        """Whether the guard applies to the calling thread right now."""
        if _BACKEND.get():
            return False
        if self.active or self.exiting:
            return True
        return threading.current_thread() in self.threads

    def allows_name(self, host: str, port: int | None) -> bool:
        """Whether a lookup of ``host`` may go on (an allowed name's addresses are noted)."""
        if host_allowed(self.patterns, host, port):
            if host not in self._names:
                self._names[host] = True
                self._note_addresses(host, port)
            return True
        return self._address_allowed(host, port)

    def allows_address(self, host: str, port: int | None) -> bool:
        """Whether a connection to ``host`` (an address) and ``port`` may go on."""
        return host_allowed(self.patterns, host, port) or self._address_allowed(host, port)

    def _address_allowed(self, host: str, port: int | None) -> bool:
        return (host, port) in self._addresses or (host, None) in self._addresses

    def _note_addresses(self, host: str, port: int | None) -> None:
        ported = any(fnmatchcase(f"{host}:{port}", p) for p in self.patterns if ":" in p)
        _inside.on = True
        try:
            infos = socket.getaddrinfo(host, port)
        except OSError:
            return
        finally:
            _inside.on = False
        for info in infos:
            self._addresses.add((str(info[4][0]), port if ported else None))

    # ---- refusing ------------------------------------------------------------------
    def refuse(
        self,
        host: str,
        port: int | None,
        event: str,
        *,
        library: str | None = None,
        thread: str | None = None,
    ) -> EgressBlocked:
        """Record a refused attempt (a step while the run is active) and build its error.

        ``library`` names the client and ``thread`` the thread (default: found on the
        calling stack, the calling thread's name).
        """
        library = library or _library()
        thread = thread or threading.current_thread().name
        target = f"{host}:{port}" if port else host
        reason = (
            f"egress to {target} is not allowed ({self.mode} mode): it is not listed in "
            "agent.allow_hosts"
        )
        if not self.active:
            reason = f"the run has ended; {reason}"
        error = EgressBlocked(f"agentbox blocked a connection to {target} ({library}): {reason}")
        data = {
            "host": host,
            "port": port,
            "library": library,
            "thread": thread,
            "event": event,
            "reason": reason,
            "args": {"host": host, "port": port, "library": library},
            "result": f"Error: {error.strerror}",
        }
        telemetry = host_allowed(list(TELEMETRY_HOSTS), host, None)
        with self._lock:
            self.blocked.append(data)
            if self.active and self.ctx is not None and self.stop is None and not telemetry:
                self._record("egress", "blocked", data, block=True)
        return error

    def record_program(self, event: str, argv: list[str], proxy: str | None) -> None:
        """Record a started program as a ``subprocess`` step (while the run is active)."""
        data = {
            "event": event,
            "argv": argv,
            "proxy": proxy,
            "args": {"argv": argv},
            "result": (
                f"started with HTTP(S)_PROXY={proxy}"
                if proxy
                else "started without proxy variables (its network is not contained)"
            ),
        }
        with self._lock:
            if self.active and self.ctx is not None and self.stop is None:
                self._record("subprocess", "ok", data, block=False)

    def _record(self, name: str, status: str, data: dict[str, Any], *, block: bool) -> None:
        assert self.ctx is not None
        try:
            self.ctx.record_step("tool", name, status=status, data=data, block=block)
        except BaseException as signal:  # a budget halt or divergence: the run must stop
            self.stop = signal
            raise


def _library() -> str:
    """The HTTP library that made the call (see ``_LIBRARIES``), else ``socket``."""
    found: set[str] = set()
    frame: Any = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        name = _match(module, _LIBRARIES)
        if name is not None:
            found.add(name)
        elif _match(module, tuple((p, p) for p in _PLUMBING)) is None:
            break  # the code that called into the libraries
        frame = frame.f_back
    for _, name in _LIBRARIES:
        if name in found:
            return name
    if threading.current_thread().name.startswith("asyncio"):
        return "asyncio (resolver thread)"
    return "socket"


def _match(module: str, table: tuple[tuple[str, str], ...]) -> str | None:
    for prefix, name in table:
        if module == prefix or module.startswith(prefix + "."):
            return name
    return None


def _split(address: Any) -> tuple[str, int | None] | None:
    """``(host, port)`` of an INET address; None for unix and other socket families."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], str):
        return address[0], address[1] if isinstance(address[1], int) else None
    return None


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _WATCHED:
        return
    run = _run
    if run is None or getattr(_inside, "on", False) or not run.governs_this_thread():
        return
    if event in _NETWORK:
        _check_network(run, event, args)
    else:
        _check_program(run, event, args)


def _check_network(run: Egress, event: str, args: tuple[Any, ...]) -> None:
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        target = _split(args[1])
        if target is None or run.allows_address(*target):
            return
        raise _refused(run, target[0], target[1], event)
    host, port = args[0], args[1] if len(args) > 1 else None
    if isinstance(host, bytes):
        host = host.decode("idna", "replace")
    if not host:
        return  # local (passive) lookups: binding a server
    if isinstance(port, str):
        port = int(port) if port.isdigit() else socket.getservbyname(port)
    if not run.allows_name(host, port):
        raise _refused(run, host, port, event)


def _refused(run: Egress, host: str, port: int | None, event: str) -> BaseException:
    error = run.refuse(host, port, event)
    return run.stop if run.stop is not None and run.active else error


_PROBES = ("platform", "ctypes.util", "uuid")
"""Stdlib modules whose helper programs (``uname -p``, ``ldconfig``) are not steps: SDKs
call ``platform.processor()`` once per process, which would make traces differ by run."""


def _check_program(run: Egress, event: str, args: tuple[Any, ...]) -> None:
    frame: Any = sys._getframe(2)
    while frame is not None:
        if _match(frame.f_globals.get("__name__", ""), tuple((p, p) for p in _PROBES)):
            return
        frame = frame.f_back
    if not run.active:
        raise PermissionError(
            errno.EPERM, f"agentbox: the run has ended; starting a program ({event}) is refused"
        )
    raw = args[1] if event == "subprocess.Popen" else args[_ARGV_AT[event]]
    argv = [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in _as_list(raw)]
    if event == "subprocess.Popen":
        from agentbox.http import proxy  # start-up cost (http.server, ~30 ms): on demand

        run.record_program(event, argv, proxy.start(current, host_traffic))
    else:
        run.record_program(event, argv, None)


def _as_list(raw: Any) -> list[Any]:
    if isinstance(raw, str | bytes | os.PathLike):
        return [raw]
    return list(raw or [])


# ---- subprocess environment ---------------------------------------------------------
_ENV_INDEX = 6  # Popen._execute_child(self, args, executable, preexec_fn, close_fds,
#                 pass_fds, cwd, env, ...): env is the 7th argument after self


def _patch_thread_start() -> None:
    """Note every thread started during a run, or by such a thread after it (Thread.start)."""
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        run = _run
        if run is not None and (run.active or threading.current_thread() in run.threads):
            run.threads.add(self)
        original(self)

    threading.Thread.start = start  # type: ignore[method-assign]


def _patch_popen() -> None:
    original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def _execute_child(self: Any, *args: Any, **kwargs: Any) -> Any:
        run = _run
        if run is not None and run.active and not _BACKEND.get():
            from agentbox.http import proxy  # start-up cost (http.server, ~30 ms): on demand

            extra = proxy.environment(run.patterns, current, host_traffic)
            if len(args) > _ENV_INDEX:
                env = args[_ENV_INDEX]
                merged = {**(env if env is not None else os.environ), **extra}
                args = (*args[:_ENV_INDEX], merged, *args[_ENV_INDEX + 1 :])
            elif "env" in kwargs:
                env = kwargs["env"]
                kwargs["env"] = {**(env if env is not None else os.environ), **extra}
        return original(self, *args, **kwargs)

    subprocess.Popen._execute_child = _execute_child  # type: ignore[attr-defined]


# ---- lifecycle ----------------------------------------------------------------------
def install() -> None:
    """Add the audit hook and the subprocess patch (once per process; idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        sys.addaudithook(_hook)
        _patch_popen()
        _patch_thread_start()
        _installed = True


def _at_exit() -> None:
    run = _run
    if run is not None:
        run.exiting = True


@contextmanager
def egress_guard(ctx: AgentContext, allow_hosts: list[str] | None = None) -> Iterator[Egress]:
    """Guard the network while the block runs one agent (the runner wraps ``_drive``).

    On exit the guard stays armed for threads the run started and at interpreter exit;
    a runner signal raised while recording a blocked attempt (a budget halt) is re-raised
    if the agent swallowed it.

    Args:
        ctx: the run's context; blocked attempts become its steps.
        allow_hosts: default ``agent.allow_hosts`` of the run's scenario.
    """
    global _run
    install()
    if allow_hosts is None:
        allow_hosts = list(getattr(ctx.scenario.agent, "allow_hosts", None) or [])
    run = Egress(ctx, allow_hosts)
    _run = run
    try:
        yield run
    except BaseException as exc:
        run.active = False
        ctx.closed = True
        _register_exit_lockdown()
        if run.stop is not None and exc is not run.stop:
            raise run.stop from None
        raise
    run.active = False
    ctx.closed = True
    _register_exit_lockdown()
    if run.stop is not None:
        raise run.stop


def _register_exit_lockdown() -> None:
    atexit.unregister(_at_exit)  # registered last, it runs before the agent's own handlers
    atexit.register(_at_exit)


def current() -> Egress | None:
    """The current (or, once it ended, the last) run's guard state; None before any run."""
    return _run
