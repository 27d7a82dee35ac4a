"""The trace store: one SQLite file (WAL) holding runs, steps, checkpoints and approvals.

This is the only module that speaks SQL. Writers commit every step before the runner
takes the next side effect, so a killed process leaves a readable file in which the run
is still marked ``running`` (shown as not finished). Readers (the TUI, ``agentbox show``)
may read while a run writes.

Tables (schema version in ``meta``)::

    runs         one row per run: scenario, mode, model, status, totals, lineage, origin
                 (run | test | replay | fork | import; its own migration step)
    steps        (run_id, idx): kind, name, status, data JSON, message JSON, patch JSON,
                 tokens, cost, latency and the counters after the step; ``data`` per
                 kind is :mod:`agentbox.events` (docs/trace-format.md; its version is
                 ``meta.trace_format``, checked on every write)
    checkpoints  (run_id, step): full-state restore points (the seed by hash at step -1,
                 an edited state at a fork); state at step N = checkpoint + patches
    blobs        content-addressed, zlib-compressed JSON (seed states, edited states)
    approvals    held tool calls and their decisions (``closed`` when the run ended first)
                 (final run statuses: ``agentbox.statuses.FINISHED``)
    leases       which process may drive a run (pid, host, heartbeat): one at a time
    stop_requests  ``agentbox stop``: who asked a run to stop, and why
    parsed_cases   a cache: suite case files parsed to JSON, by content hash

Durability: ``journal_mode=WAL`` and ``synchronous=NORMAL``: a committed step survives a
crash of the process (not necessarily a power cut). Inside :meth:`TraceStore.batch` (suite
replay: one transaction per case) writes are committed together at the end of the block.
WAL checkpoints run between runs (:meth:`TraceStore._checkpoint`), not inside a commit.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import json.encoder
import os
import re
import socket
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbox import statuses
from agentbox.errors import StoreError
from agentbox.events import (
    TRACE_FORMAT,
    StepEvent,
    TraceFormatError,
    check_data,
    parse_event,
    upgrade_data,
)
from agentbox.statuses import FINISHED as FINISHED  # re-exported: views import it from here

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    scenario_path TEXT,
    scenario_json TEXT NOT NULL,
    sandbox TEXT NOT NULL,
    sandbox_path TEXT,
    mode TEXT NOT NULL,
    agent TEXT NOT NULL,
    model TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    input TEXT,
    output TEXT,
    started_at REAL NOT NULL,
    ended_at REAL,
    parent_id TEXT,
    fork_step INTEGER,
    replay_of TEXT,
    seed_hash TEXT,
    messages TEXT,
    counters TEXT,
    expectations TEXT,
    passed INTEGER,
    options TEXT,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    duration_s REAL,
    data TEXT,
    message TEXT,
    patch TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd REAL,
    counters TEXT,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    state_hash TEXT NOT NULL,
    note TEXT,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    tool TEXT NOT NULL,
    args TEXT NOT NULL,
    rule TEXT,
    reason TEXT,
    requested_at REAL NOT NULL,
    status TEXT NOT NULL,
    decided_at REAL,
    decided_by TEXT,
    decision_reason TEXT,
    edited_args TEXT
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals (status);
CREATE TABLE IF NOT EXISTS leases (
    run_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    purpose TEXT,
    acquired_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stop_requests (
    run_id TEXT PRIMARY KEY,
    requested_at REAL NOT NULL,
    requested_by TEXT NOT NULL,
    reason TEXT
);
"""

_CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS parsed_cases (digest TEXT PRIMARY KEY, data TEXT NOT NULL);
"""
"""Derived data, safe to drop: suite case files parsed to JSON, by content hash."""

_VERSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_versions (
    fingerprint TEXT PRIMARY KEY,
    parts TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS run_versions (
    run_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    label TEXT
);
CREATE INDEX IF NOT EXISTS run_versions_fingerprint ON run_versions (fingerprint);
CREATE TABLE IF NOT EXISTS suite_runs (
    id TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    label TEXT,
    fingerprint TEXT,
    live INTEGER NOT NULL,
    model TEXT,
    k INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    cases INTEGER NOT NULL,
    passed_cases INTEGER NOT NULL,
    totals TEXT
);
CREATE INDEX IF NOT EXISTS suite_runs_suite ON suite_runs (suite, started_at);
CREATE TABLE IF NOT EXISTS suite_results (
    suite_run_id TEXT NOT NULL,
    case_key TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    name TEXT NOT NULL,
    passed INTEGER NOT NULL,
    status TEXT NOT NULL,
    run_id TEXT,
    fingerprint TEXT,
    metrics TEXT,
    detail TEXT,
    PRIMARY KEY (suite_run_id, case_key, repeat)
) WITHOUT ROWID;
"""
"""Migration step "versions" (issue 17): agent versions per run, suite runs and their
per-case results. Tables only (no column on ``runs``), created if missing."""

HOST = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _encoder() -> Any:
    """``json.dumps(value, separators=(",", ":"), default=str)``, the same text, at half
    the cost: the C encoder is made once (``JSONEncoder.encode`` makes one per call; a
    step dumps four columns). Values are JSON trees: a cycle raises RecursionError."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator (PyPy)
        return json.JSONEncoder(separators=(",", ":"), default=str).encode
    encode = c_make_encoder(
        None, str, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    join = "".join

    def dump(value: Any) -> str:
        return join(encode(value, 0))

    return dump


_ENCODE = _encoder()


def _dump(value: Any) -> str | None:
    return None if value is None else _ENCODE(value)


_READ_ONLY_HINTS = re.compile(r"readonly|read-only|unable to open|disk I/O error", re.I)


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching values that start with ``text`` literally (``%``, ``_``
    and ``\\`` escaped; use with ``ESCAPE '\\'``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _like_contains(text: str) -> str:
    """A LIKE pattern matching values that contain ``text`` literally."""
    return "%" + _like_prefix(text)


_SCAN: Callable[[str, int], tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009  (not in typeshed)


def _load(text: str | None) -> Any:
    """``json.loads(text)`` (None for NULL), by the decoder's C scanner directly: a
    stored column is compact JSON, so the wrapper's whitespace matching is skipped
    (~2x faster on a step's columns); anything else takes ``json.loads`` itself, which
    returns the same value or raises the same error."""
    if text is None:
        return None
    try:
        value, end = _SCAN(text, 0)
    except Exception:  # json.loads below raises the error to report
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


ORIGINS = ("run", "test", "replay", "fork", "import")
"""What can start a run: ``agentbox run`` (also mcp serve, the python API), ``agentbox
test``/pytest, ``agentbox replay``, a fork, ``agentbox import``."""

_ORIGIN_FROM_LINEAGE = (
    "CASE WHEN parent_id IS NOT NULL THEN 'fork' "
    "WHEN replay_of LIKE 'case:%' THEN 'test' "
    "WHEN replay_of IS NOT NULL THEN 'replay' "
    "WHEN json_valid(options) AND json_extract(options, '$.origin.kind') = 'imported' "
    "THEN 'import' ELSE 'run' END"
)


def run_origin(fields: dict[str, Any]) -> str:
    """A new run's origin from its lineage fields (see :data:`ORIGINS`)."""
    replay_of = fields.get("replay_of")
    origin = (
        (fields.get("options") or {}).get("origin")
        if isinstance(fields.get("options"), dict)
        else None
    )
    if fields.get("parent_id"):
        return "fork"
    if isinstance(replay_of, str) and replay_of.startswith("case:"):
        return "test"
    if replay_of:
        return "replay"
    if isinstance(origin, dict) and origin.get("kind") == "imported":
        return "import"
    return "run"


@dataclass
class RunRow:
    """A stored run. JSON columns are parsed; times are Unix seconds."""

    id: str
    scenario: str
    scenario_path: str | None
    scenario_json: dict[str, Any]
    sandbox: str
    sandbox_path: str | None
    mode: str
    agent: str
    model: str | None
    status: str
    reason: str | None
    input: str | None
    output: str | None
    started_at: float
    ended_at: float | None
    parent_id: str | None
    fork_step: int | None
    replay_of: str | None
    seed_hash: str | None
    messages: list[dict[str, Any]]
    counters: dict[str, Any]
    expectations: list[dict[str, Any]] | None
    passed: bool | None
    options: dict[str, Any]
    pid: int | None
    origin: str | None = None
    """What started it: ``run``, ``test``, ``replay``, ``fork`` or ``import``."""

    @property
    def finished(self) -> bool:
        """Whether the run reached a final status."""
        return self.status in FINISHED

    @property
    def live(self) -> bool:
        """Whether a ``running`` run's process still exists (False: it died unfinished)."""
        if self.finished or self.pid is None:
            return False
        return pid_alive(self.pid)

    @property
    def display_status(self) -> str:
        """The status, with a dead ``running`` run shown as ``not finished``."""
        if self.status == "running" and not self.live:
            return statuses.UNFINISHED
        return self.status

    @property
    def duration_s(self) -> float | None:
        """Wall seconds from start to end (None while running)."""
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass
class StepRow:
    """A stored step. ``data`` holds the kind-specific fields, typed by :attr:`event`
    (the models of :mod:`agentbox.events`; ``docs/trace-format.md``)."""

    run_id: str
    idx: int
    kind: str
    name: str | None = None
    status: str = "ok"
    started_at: float = 0.0
    duration_s: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    message: dict[str, Any] | None = None
    patch: list[dict[str, Any]] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    counters: dict[str, Any] = field(default_factory=dict)

    @property
    def event(self) -> StepEvent:
        """``data`` as its kind's typed event (parsed on each access: writers update a
        step's data in place). Never raises: data that does not fit its kind, or a kind
        this version does not know, gives an :class:`~agentbox.events.UnknownEvent`."""
        return parse_event(self.kind, self.data)


@dataclass
class ApprovalRow:
    """A held tool call and, once decided, its decision."""

    id: str
    run_id: str
    step: int
    tool: str
    args: dict[str, Any]
    rule: str | None
    reason: str | None
    requested_at: float
    status: str
    decided_at: float | None
    decided_by: str | None
    decision_reason: str | None
    edited_args: dict[str, Any] | None


@dataclass
class LeaseRow:
    """Who drives a run now: a process (``pid`` on ``host``) and its last heartbeat."""

    run_id: str
    token: str
    pid: int
    host: str
    purpose: str | None
    acquired_at: float
    heartbeat_at: float

    def stale(self, stale_after_s: float, now: float | None = None) -> bool:
        """Whether it may be taken over.

        On this host the pid decides: a dead process's lease is stale at once, a live
        one's only after ten times ``stale_after_s`` without a heartbeat (its pid was
        reused, or it is suspended). A lease from another host (a store on a shared disk)
        is stale after ``stale_after_s`` seconds without a heartbeat.
        """
        quiet = (time.time() if now is None else now) - self.heartbeat_at
        if self.host == HOST:
            return not pid_alive(self.pid) or quiet > 10 * stale_after_s
        return quiet > stale_after_s


@dataclass
class VersionRow:
    """A run's agent version: fingerprint, label and the parts hashed
    (:class:`agentbox.versions.AgentVersion`)."""

    run_id: str
    fingerprint: str
    label: str | None
    parts: dict[str, Any]


@dataclass
class SuiteResultRow:
    """One case repeat of a suite run. ``metrics`` is ``RunMetrics.to_json()`` plus its
    step ``latencies`` (seconds); ``detail`` says why it failed (or None)."""

    case_key: str
    repeat: int
    name: str
    passed: bool
    status: str
    run_id: str | None = None
    fingerprint: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None


@dataclass
class SuiteRunRow:
    """One ``agentbox test`` invocation (times in Unix seconds).

    ``suite`` names what was tested (the paths given, as displayed); ``fingerprint``
    hashes the agent versions of its cases; ``totals`` is ``SuiteMetrics.to_json()``.
    """

    id: str
    suite: str
    label: str | None
    fingerprint: str | None
    live: bool
    model: str | None
    k: int
    started_at: float
    ended_at: float | None
    cases: int
    passed_cases: int
    totals: dict[str, Any] = field(default_factory=dict)


@dataclass
class StopRequest:
    """``agentbox stop``: who asked a run to stop (``user@host``, ``tui``), when and why."""

    run_id: str
    requested_at: float
    requested_by: str
    reason: str | None

    def describe(self) -> str:
        """``stopped by alice@box: runaway loop`` (the run's recorded reason)."""
        return f"stopped by {self.requested_by}" + (f": {self.reason}" if self.reason else "")


_INSERT_STEP = "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

_STEP_JSON = frozenset({"data", "message", "patch", "counters"})
_STEP_COLUMNS = (
    "run_id, idx, kind, name, status, started_at, duration_s, data, message, patch, "
    "input_tokens, output_tokens, cost_usd, counters"
)
"""The columns of ``steps`` in :class:`StepRow`'s field order."""
_UPDATE_STEP: dict[tuple[str, ...], str] = {}
"""``UPDATE steps`` statements by the columns they set (column names: from our code)."""

_RUN_JSON = {"scenario_json", "messages", "counters", "expectations", "options"}


class TraceStore:
    """Open (creating if needed) a trace store file.

    Args:
        path: the SQLite file; parent folders are created.

    Raises:
        StoreError: the file is not a SQLite database or has a newer schema.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the trace store folder {self.path.parent}: {exc.strerror}",
                "pass --store PATH (or set `store` in .agentbox.toml) to a writable place",
            ) from exc
        self._lock = threading.RLock()
        self._blobs: dict[str, Any] = {}
        self._stored_blobs: set[str] = set()  # digests known to be in the file
        self._pending: list[tuple[str, tuple[Any, ...]]] | None = None  # see batch()
        self._unchecked = 0  # commits since the last WAL checkpoint (see _checkpoint)
        self._recent: dict[tuple[str, int], tuple[str, Any, Any]] = {}
        """(run, idx) -> (kind, status, data JSON) of steps this connection wrote lately."""
        self._versions: set[str] = set()
        """Agent versions whose parts this connection knows are stored."""
        self._has_origin: bool | None = None
        self.read_only: str | None = None
        """Why the store is open for reading only (None: it is writable)."""
        try:
            self._connect()
        except sqlite3.OperationalError as exc:
            if not (self.path.is_file() and _READ_ONLY_HINTS.search(str(exc))):
                raise self._unusable(exc) from exc
            self._open_read_only(exc)
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from exc

    def _connect(self, patience_s: float = 15.0) -> None:
        """Open the file in WAL mode and bring its schema up to date.

        Switching a new file to WAL and creating its schema can meet ``database is locked``
        without SQLite calling its busy handler, when several processes create one store at
        the same moment; that is retried (with backoff, for ``patience_s`` seconds).
        """
        deadline = time.monotonic() + patience_s
        delay = 0.02
        while True:
            self.conn = sqlite3.connect(
                self.path, timeout=10, check_same_thread=False, isolation_level=None
            )
            try:
                self.conn.execute("PRAGMA busy_timeout=10000")
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                # checkpoints are run by _checkpoint, between runs, not inside a commit
                self.conn.execute("PRAGMA wal_autocheckpoint=0")
                self.conn.execute(f"PRAGMA journal_size_limit={16 << 20}")
                self._migrate()
                return
            except sqlite3.OperationalError as exc:
                self.conn.close()
                if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _unusable(self, exc: Exception) -> StoreError:
        return StoreError(
            f"{self.path}: not a usable trace store: {exc}",
            "point `store` in .agentbox.toml at another file",
        )

    def _open_read_only(self, why: sqlite3.OperationalError) -> None:
        """Open a store we may not write (a read-only file or folder): reading works;
        every write raises StoreError saying why."""
        with contextlib.suppress(Exception):
            self.conn.close()
        uri = self.path.resolve().as_uri()
        last: Exception = why
        for query in ("?mode=ro", "?mode=ro&immutable=1"):  # immutable: no -shm possible
            try:
                conn = sqlite3.connect(
                    uri + query,
                    uri=True,
                    timeout=10,
                    check_same_thread=False,
                    isolation_level=None,
                )
                conn.execute("SELECT count(*) FROM runs").fetchone()
            except sqlite3.DatabaseError as exc:
                last = exc
                continue
            self.conn = conn
            self.read_only = str(why)
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {version} is newer than this agentbox "
                    f"({SCHEMA_VERSION})",
                    "upgrade agentbox",
                )
            return
        raise self._unusable(last) from last

    @property
    def conn(self) -> sqlite3.Connection:
        """The SQLite connection; writes held back by :meth:`batch` are committed first,
        so every read sees them."""
        if self._pending:
            self._flush()
        return self._conn

    @conn.setter
    def conn(self, value: sqlite3.Connection) -> None:
        self._conn = value

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Commit the writes made inside the block as one transaction, at its end.

        For work that must be atomic as a whole and need not survive a crash step by
        step: a suite case (its run appears complete or not at all). Writes are held in
        memory, in order, and written in one short ``BEGIN IMMEDIATE`` ... ``COMMIT``
        when the block ends (also when it raises), or earlier when something reads the
        store. Other processes writing the same file wait only for that commit, not for
        the whole block. Writes from any thread of this store join the batch.

        Raises:
            StoreError: the store is read-only (at the commit).
        """
        if self._pending is not None:  # nested: the outer block commits
            yield
            return
        self._pending = []
        try:
            yield
        finally:
            try:
                self._flush()
            finally:
                self._pending = None
            self._checkpoint(1000)

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run one write now (under :meth:`_write`), or hold it for the batch's commit."""
        if self._pending is not None:
            self._pending.append((sql, params))
        else:
            self._conn.execute(sql, params)
            self._unchecked += 1

    def _flush(self) -> None:
        """Commit the writes held by :meth:`batch` in one transaction."""
        with self._write():
            pending = self._pending
            if not pending:
                return
            self._pending = []
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, group in itertools.groupby(pending, key=lambda p: p[0]):
                    conn.executemany(sql, [params for _, params in group])
            except BaseException:
                conn.execute("ROLLBACK")
                self._stored_blobs.clear()  # some of them were in this batch
                raise
            conn.execute("COMMIT")
            self._unchecked += 1 + len(pending) // 4

    def _checkpoint(self, after: int) -> None:
        """Copy the WAL into the database file (PASSIVE: never waits for readers) once
        about ``after`` commits went into it (SQLite's own default: 1,000 pages).

        Automatic checkpoints are off (``wal_autocheckpoint=0``): one would run inside
        whichever commit crosses the limit, a 5-25 ms stall (an fsync) in the middle of
        a run. The store checkpoints when a run ends or a batch commits instead, and in
        a run only past 5,000 commits (a WAL of ~60 MB), so it stays bounded in a very
        long run; ``journal_size_limit`` then truncates the WAL file to 16 MB.
        """
        if self._unchecked < after or self.read_only is not None:
            return
        with self._lock, contextlib.suppress(sqlite3.OperationalError):  # busy: next time
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._unchecked = 0

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """Hold the write lock; a store we may not write raises StoreError saying why
        (SQLite opens a file it cannot write read-only and fails only at the write)."""
        why = self.read_only
        if why is None:
            with self._lock:
                try:
                    yield
                    if self._unchecked >= 5_000 and self._pending is None:
                        self._checkpoint(5_000)
                    return
                except sqlite3.OperationalError as exc:
                    if not _READ_ONLY_HINTS.search(str(exc)) or "unable to open" in str(exc):
                        raise
                    why = self.read_only = str(exc)
        raise StoreError(
            f"{self.path} is read-only ({why}): runs can be read, nothing can be recorded",
            "make the file and its folder writable, or pass --store NEW.db",
        )

    def _migrate(self) -> None:
        with self._lock:
            self.conn.executescript(_SCHEMA)
            self.conn.executescript(_VERSIONS_SCHEMA)
            self._migrate_origin()
            self.conn.executescript(_CACHE_SCHEMA)
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {version} is newer than this agentbox "
                    f"({SCHEMA_VERSION})",
                    "upgrade agentbox",
                )
            if version < SCHEMA_VERSION:
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            self._migrate_trace_format()

    def _migrate_trace_format(self) -> None:
        """Bring stored step data to :data:`~agentbox.events.TRACE_FORMAT` (idempotent).

        1 -> 2: a ``policy`` step's ``data.kind`` becomes ``data.cause``.
        """
        stored = self.trace_format()
        if stored > TRACE_FORMAT:
            raise StoreError(
                f"{self.path}: trace format {stored} is newer than this agentbox ({TRACE_FORMAT})",
                "upgrade agentbox",
            )
        if stored == TRACE_FORMAT:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(
                "UPDATE steps SET data=json_set(json_remove(data, '$.kind'), '$.cause', "
                "json_extract(data, '$.kind')) "
                "WHERE kind='policy' AND json_type(data, '$.kind') IS NOT NULL"
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('trace_format', ?)", (str(TRACE_FORMAT),)
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _migrate_origin(self) -> None:
        """Step: ``runs.origin`` (run | test | replay | fork | import), filled in for runs
        stored before it from their lineage. Idempotent."""
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(runs)")}
        if "origin" in columns:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in self.conn.execute("PRAGMA table_info(runs)")}
            if "origin" not in columns:  # another process may have added it meanwhile
                self.conn.execute("ALTER TABLE runs ADD COLUMN origin TEXT")
                self.conn.execute(f"UPDATE runs SET origin = {_ORIGIN_FROM_LINEAGE}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _origin_column(self) -> str:
        """SQL for a run's origin (derived from lineage in a read-only store never migrated)."""
        if self._has_origin is None:
            columns = {row[1] for row in self.conn.execute("PRAGMA table_info(runs)")}
            self._has_origin = "origin" in columns
        return (
            f"COALESCE(origin, {_ORIGIN_FROM_LINEAGE})"
            if self._has_origin
            else _ORIGIN_FROM_LINEAGE
        )

    def close(self) -> None:
        """Commit any batched writes and close the connection."""
        try:
            if self._pending:
                self._flush()
        finally:
            self._conn.close()

    def change_counter(self) -> tuple[int, int]:
        """A value that changes whenever anything is committed to the store, by any process:
        SQLite's ``PRAGMA data_version`` (counts other connections' commits) and this
        connection's ``total_changes``. Cheap, no file-system calls: poll it to follow a
        live store (the TUI's refresh timers do)."""
        with self._lock:
            (version,) = self.conn.execute("PRAGMA data_version").fetchone()
            return int(version), self.conn.total_changes

    def schema_version(self) -> int:
        """The schema version stored in the file."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    def trace_format(self) -> int:
        """The trace format of the steps in the file (:data:`agentbox.events.TRACE_FORMAT`;
        1 for a store written before the version was recorded)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='trace_format'").fetchone()
        return int(row[0]) if row else 1

    # ---- blobs ---------------------------------------------------------------------
    def put_blob(self, digest: str, value: Any) -> None:
        """Store a JSON value under its content hash (no-op when present)."""
        if digest in self._stored_blobs:
            return
        with self._write():
            if not self._conn.execute("SELECT 1 FROM blobs WHERE hash=?", (digest,)).fetchone():
                # level 1: a 10 MB seed in ~0.15 s instead of ~0.5 s at 6, 2.3:1 instead
                # of 2.6:1 on realistic records; any level reads back the same
                data = zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 1)
                self._exec("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (digest, data))
            if len(self._stored_blobs) >= 1024:
                self._stored_blobs.clear()
            self._stored_blobs.add(digest)

    def get_blob(self, digest: str) -> Any:
        """Load a stored JSON value (treat it as read-only: recent ones are shared).

        Raises:
            StoreError: no blob with that hash.
        """
        cached = self._blobs.get(digest)
        if cached is not None:
            return cached
        row = self.conn.execute("SELECT data FROM blobs WHERE hash=?", (digest,)).fetchone()
        if row is None:
            raise StoreError(f"state blob {digest[:12]} is missing from {self.path}")
        try:
            value = json.loads(zlib.decompress(row[0]))
        except (ValueError, zlib.error) as exc:
            raise self._corrupt(f"state blob {digest[:12]}", "data", exc) from None
        if len(self._blobs) >= 4:  # seeds are large and few: keep the last ones decoded
            self._blobs.pop(next(iter(self._blobs)))
        self._blobs[digest] = value
        return value

    # ---- parsed suite cases ------------------------------------------------------
    def parsed_case(self, digest: str) -> Any:
        """The parsed data of a case file by its content hash (None: not cached).

        A cache in front of YAML parsing (~5 ms for a 10 KB case; JSON takes ~0.2 ms):
        see :func:`agentbox.suites.case.load_case`. A row that is not valid JSON counts
        as missing.
        """
        row = self._conn.execute(
            "SELECT data FROM parsed_cases WHERE digest=?", (digest,)
        ).fetchone()
        try:
            return None if row is None else json.loads(row[0])
        except ValueError:
            return None

    def put_parsed_case(self, digest: str, data: Any) -> None:
        """Cache the parsed data of a case file (JSON-exact values only)."""
        with self._write():
            self._exec("INSERT OR REPLACE INTO parsed_cases VALUES (?, ?)", (digest, _ENCODE(data)))

    # ---- runs ----------------------------------------------------------------------
    def create_run(self, **fields: Any) -> None:
        """Insert a run row; JSON fields (scenario_json, messages, counters...) as values.

        ``origin`` defaults to what the lineage says (:func:`run_origin`)."""
        row = {k: (_dump(v) if k in _RUN_JSON else v) for k, v in fields.items()}
        row.setdefault("pid", os.getpid())
        if not row.get("origin"):
            row["origin"] = run_origin(fields)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._write():
            self._exec(f"INSERT INTO runs ({cols}) VALUES ({marks})", tuple(row.values()))

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Update columns of a run (JSON fields given as values)."""
        row = {k: (_dump(v) if k in _RUN_JSON else v) for k, v in fields.items()}
        sets = ", ".join(f"{k}=?" for k in row)
        with self._write():
            self._exec(f"UPDATE runs SET {sets} WHERE id=?", (*row.values(), run_id))
        if fields.get("ended_at") is not None and self._pending is None:
            self._checkpoint(1000)  # the run ended: off its hot path

    def _corrupt(self, what: str, column: str, exc: Exception) -> StoreError:
        return StoreError(
            f"{self.path}: {what}: column {column} is not valid JSON ({exc}); the row is corrupt",
            "restore the store from a copy, or remove that row with the sqlite3 shell",
        )

    def _json_columns(self, data: dict[str, Any], keys: Iterable[str], what: str) -> None:
        for key in keys:
            try:
                data[key] = _load(data[key])
            except (ValueError, TypeError) as exc:
                raise self._corrupt(what, key, exc) from None

    def _run_from(self, row: sqlite3.Row) -> RunRow:
        data = dict(row)
        self._json_columns(data, _RUN_JSON, f"run {data.get('id')}")
        data["messages"] = data["messages"] or []
        data["counters"] = data["counters"] or {}
        data["options"] = data["options"] or {}
        data["passed"] = None if data["passed"] is None else bool(data["passed"])
        return RunRow(**data)

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(sql, params).fetchall()

    def get_run(self, run_id: str) -> RunRow:
        """A run by id or unique id prefix.

        Raises:
            StoreError: no run, or the prefix is ambiguous.
        """
        if not run_id.strip():
            raise StoreError("an empty run id matches nothing", "`agentbox runs` lists stored runs")
        rows = self._query("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            rows = self._query(
                "SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY started_at DESC LIMIT 6",
                (_like_prefix(run_id),),
            )
        if not rows:
            raise StoreError(
                f"no run {run_id!r} in {self.path}", "`agentbox runs` lists stored runs"
            )
        if len(rows) > 1:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise StoreError(f"run id prefix {run_id!r} is ambiguous: {ids}", "type more of the id")
        return self._run_from(rows[0])

    def _run_filter(
        self, status: str | None, text: str | None, origins: Iterable[str] | None = None
    ) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if origins is not None:
            wanted = sorted(set(origins))
            where.append(f"{self._origin_column()} IN ({', '.join('?' for _ in wanted)})")
            params += wanted
        if status:
            where.append("status = ?")
            params.append(status)
        if text:
            where.append(
                "(id LIKE ? ESCAPE '\\' OR scenario LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\')"
            )
            params += [_like_contains(text)] * 3
        return (" WHERE " + " AND ".join(where) if where else ""), params

    def list_runs(
        self,
        *,
        limit: int | None = 50,
        offset: int = 0,
        status: str | None = None,
        text: str | None = None,
        origins: Iterable[str] | None = None,
    ) -> list[RunRow]:
        """Runs newest first, optionally filtered by status, by text in id/scenario and by
        origin (``origins``: the ones to keep, from :data:`ORIGINS`; None: all).

        ``status`` is a stored status (``running`` includes runs whose process died), or
        ``not finished``: only the ``running`` runs whose process is gone.
        """
        stored = "running" if status == statuses.UNFINISHED else status
        where, params = self._run_filter(stored, text, origins)
        sql = "SELECT * FROM runs" + where + " ORDER BY started_at DESC, rowid DESC"
        if status == statuses.UNFINISHED:  # liveness is not in SQL: filter, page in Python
            shown = [
                r
                for r in map(self._run_from, self._query(sql, tuple(params)))
                if r.display_status == status
            ]
            return shown[offset : None if limit is None else offset + limit]
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [self._run_from(r) for r in self._query(sql, tuple(params))]

    def count_runs(
        self,
        *,
        status: str | None = None,
        text: str | None = None,
        origins: Iterable[str] | None = None,
    ) -> int:
        """Number of stored runs (matching the same filters as :meth:`list_runs`)."""
        if status == statuses.UNFINISHED:
            return len(self.list_runs(limit=None, status=status, text=text, origins=origins))
        where, params = self._run_filter(status, text, origins)
        return int(self.conn.execute("SELECT count(*) FROM runs" + where, params).fetchone()[0])

    # ---- steps ---------------------------------------------------------------------
    def add_step(self, step: StepRow) -> None:
        """Insert and commit one step (the runner's durability point).

        Data in an older trace format's shape (a step of an old export being imported) is
        stored upgraded (:func:`agentbox.events.upgrade_data`).

        Raises:
            TraceFormatError: the step does not match the trace format
                (:func:`agentbox.events.check_data`); nothing is written.
        """
        run_id, idx, kind, status, data = step.run_id, step.idx, step.kind, step.status, step.data
        if data:
            data = upgrade_data(kind, data)
        self._check_step(run_id, idx, kind, status, data)
        enc = _ENCODE
        text = None if data is None else enc(data)
        message, patch, counters = step.message, step.patch, step.counters
        params = (
            run_id,
            idx,
            kind,
            step.name,
            status,
            step.started_at,
            step.duration_s,
            text,
            None if message is None else enc(message),
            enc(patch) if patch else None,
            step.input_tokens,
            step.output_tokens,
            step.cost_usd,
            None if counters is None else enc(counters),
        )
        with self._lock:
            recent = self._recent
            if len(recent) >= 256:
                recent.clear()
            if self._pending is not None and self.read_only is None:  # batched: no I/O here
                recent[(run_id, idx)] = (kind, status, text)
                self._pending.append((_INSERT_STEP, params))
                return
        with self._write():
            self._recent[(run_id, idx)] = (kind, status, text)
            self._exec(_INSERT_STEP, params)

    def update_step(self, run_id: str, idx: int, **fields: Any) -> None:
        """Update and commit columns of a step (JSON columns given as values).

        Raises:
            TraceFormatError: a new ``status`` or ``data`` does not match the step's kind.
        """
        if "status" in fields or "data" in fields:
            self._check_updated(run_id, idx, fields)
        enc = _ENCODE
        row = {
            k: (None if v is None else enc(v)) if k in _STEP_JSON else v for k, v in fields.items()
        }
        names = tuple(row)
        sql = _UPDATE_STEP.get(names)
        if sql is None:
            sets = ", ".join(f"{k}=?" for k in names)
            sql = _UPDATE_STEP[names] = f"UPDATE steps SET {sets} WHERE run_id=? AND idx=?"
        params = (*row.values(), run_id, idx)
        with self._lock:
            known = self._recent.get((run_id, idx))
            if known is not None:
                status, data = row.get("status", known[1]), row.get("data", known[2])
                self._recent[(run_id, idx)] = (known[0], status, data)
            if self._pending is not None and self.read_only is None:  # batched: no I/O here
                self._pending.append((sql, params))
                return
        with self._write():
            self._exec(sql, params)

    def delete_step(self, run_id: str, idx: int) -> None:
        """Remove one step (an unfinished intent that is about to be retried)."""
        with self._write():
            self._recent.pop((run_id, idx), None)
            self._exec("DELETE FROM steps WHERE run_id=? AND idx=?", (run_id, idx))

    def steps(self, run_id: str, start: int = 0, stop: int | None = None) -> list[StepRow]:
        """Steps ``start <= idx < stop`` of a run, in order."""
        sql = f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id=? AND idx>=?"
        params: tuple[Any, ...] = (run_id, start)
        if stop is not None:
            sql += " AND idx<?"
            params = (*params, stop)
        rows = self.conn.execute(sql + " ORDER BY idx", params).fetchall()
        return [self._step_from(r) for r in rows]

    def step_texts(self, run_id: str) -> list[tuple[Any, ...]]:
        """``(kind, name, status, data, patch)`` of every step of a run, in order, as
        stored (``data`` and ``patch`` as JSON text, not decoded): to see at little cost
        whether two runs' steps are the same (replay compares them)."""
        return self.conn.execute(
            "SELECT kind, name, status, data, patch FROM steps WHERE run_id=? ORDER BY idx",
            (run_id,),
        ).fetchall()

    def iter_patches(self, run_id: str, start: int, stop: int) -> Iterator[list[dict[str, Any]]]:
        """The state patches of steps ``start <= idx < stop`` that changed state, in order."""
        cur = self.conn.execute(
            "SELECT patch FROM steps WHERE run_id=? AND idx>=? AND idx<? AND patch IS NOT NULL "
            "ORDER BY idx",
            (run_id, start, stop),
        )
        for (text,) in cur:
            try:
                yield json.loads(text)
            except ValueError as exc:
                raise self._corrupt(f"a step of run {run_id}", "patch", exc) from None

    def step_count(self, run_id: str) -> int:
        """Number of stored steps of a run."""
        return int(
            self.conn.execute("SELECT count(*) FROM steps WHERE run_id=?", (run_id,)).fetchone()[0]
        )

    def _step_from(self, row: tuple[Any, ...]) -> StepRow:
        """A step from a row of :data:`_STEP_COLUMNS` (JSON columns parsed, data upgraded).

        Raises:
            StoreError: a JSON column does not parse (named with its run and step).
        """
        (run_id, idx, kind, name, status, started, took, data, message, patch, i, o, usd, n) = row
        try:
            data, message, patch, n = _load(data), _load(message), _load(patch), _load(n)
        except (ValueError, TypeError):  # again, column by column, to name the bad one
            columns = dict(zip(_STEP_COLUMNS.split(", "), row, strict=True))
            self._json_columns(columns, _STEP_JSON, f"run {run_id} step {idx}")
            raise
        data = upgrade_data(kind, data or {})
        return StepRow(
            run_id, idx, kind, name, status, started, took, data, message, patch, i, o, usd, n or {}
        )

    @staticmethod
    def _check_step(run_id: str, idx: int, kind: str, status: str, data: Any) -> None:
        try:
            check_data(kind, status, data)
        except TraceFormatError:  # again, saying where (not formatted for every step)
            check_data(kind, status, data, where=f"run {run_id} step {idx}: ")
            raise

    def _check_updated(self, run_id: str, idx: int, fields: dict[str, Any]) -> None:
        """Validate an update of ``status``/``data`` against the stored step's kind (a
        step this connection wrote lately is known without reading it back: a read would
        commit a batch half-way, see :meth:`batch`)."""
        row = (
            self._recent.get((run_id, idx))
            or self.conn.execute(
                "SELECT kind, status, data FROM steps WHERE run_id=? AND idx=?", (run_id, idx)
            ).fetchone()
        )
        if row is None:
            return  # nothing to update
        status = fields.get("status", row[1])
        data = fields["data"] if "data" in fields else upgrade_data(row[0], _load(row[2]) or {})
        self._check_step(run_id, idx, row[0], status, data)

    # ---- checkpoints ---------------------------------------------------------------
    def add_checkpoint(self, run_id: str, step: int, state_hash: str, note: str = "") -> None:
        """Record that the state after ``step`` is the blob ``state_hash``."""
        with self._write():
            self._exec(
                "INSERT OR REPLACE INTO checkpoints VALUES (?,?,?,?)",
                (run_id, step, state_hash, note),
            )

    def checkpoint_before(self, run_id: str, step: int) -> tuple[int, str] | None:
        """The latest full-state checkpoint at or before ``step``: ``(step, hash)``."""
        row = self.conn.execute(
            "SELECT step, state_hash FROM checkpoints WHERE run_id=? AND step<=? "
            "ORDER BY step DESC LIMIT 1",
            (run_id, step),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    # ---- approvals -----------------------------------------------------------------
    def add_approval(
        self,
        approval_id: str,
        run_id: str,
        step: int,
        tool: str,
        args: dict[str, Any],
        rule: str | None,
        reason: str | None,
    ) -> None:
        """Record a pending approval."""
        with self._write():
            self._exec(
                "INSERT INTO approvals (id, run_id, step, tool, args, rule, reason, requested_at, "
                "status) VALUES (?,?,?,?,?,?,?,?, 'pending')",
                (approval_id, run_id, step, tool, _dump(args), rule, reason, time.time()),
            )

    def decide_approval(
        self,
        approval_id: str,
        status: str,
        *,
        by: str,
        reason: str | None = None,
        edited_args: dict[str, Any] | None = None,
    ) -> bool:
        """Decide a pending approval. Returns False when it was already decided."""
        with self._write():
            cur = self.conn.execute(
                "UPDATE approvals SET status=?, decided_at=?, decided_by=?, decision_reason=?, "
                "edited_args=? WHERE id=? AND status='pending'",
                (status, time.time(), by, reason, _dump(edited_args), approval_id),
            )
            return cur.rowcount == 1

    def get_approval(self, approval_id: str) -> ApprovalRow:
        """An approval by id or unique prefix. Raises StoreError when unknown."""
        rows = self._query("SELECT * FROM approvals WHERE id=?", (approval_id,))
        if not rows and approval_id.strip():
            rows = self._query(
                "SELECT * FROM approvals WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                (_like_prefix(approval_id),),
            )
        if len(rows) != 1:
            what = "no" if not rows else "ambiguous"
            raise StoreError(f"{what} approval {approval_id!r}", "`agentbox approvals` lists them")
        return self._approval_from(rows[0])

    def approvals(
        self, *, status: str | None = "pending", run_id: str | None = None
    ) -> list[ApprovalRow]:
        """Approvals, oldest first, filtered by status and run."""
        where, params = [], []
        if status:
            where.append("status=?")
            params.append(status)
        if run_id:
            where.append("run_id=?")
            params.append(run_id)
        sql = "SELECT * FROM approvals" + (" WHERE " + " AND ".join(where) if where else "")
        return [
            self._approval_from(r)
            for r in self._query(sql + " ORDER BY requested_at", tuple(params))
        ]

    def _approval_from(self, row: sqlite3.Row) -> ApprovalRow:
        data = dict(row)
        self._json_columns(data, ("args", "edited_args"), f"approval {data.get('id')}")
        return ApprovalRow(**data)

    def close_approvals(self, run_id: str, reason: str, by: str = "agentbox") -> int:
        """Close the run's pending approvals (and their trace steps): the run ended first.

        Returns:
            How many approvals were closed.
        """
        with self._lock:
            self._recent.clear()  # their steps' status changes below
            cur = self.conn.execute(
                "UPDATE approvals SET status='closed', decided_at=?, decided_by=?, "
                "decision_reason=? WHERE run_id=? AND status='pending'",
                (time.time(), by, reason, run_id),
            )
            self.conn.execute(
                "UPDATE steps SET status='closed', data=json_set(coalesce(data, '{}'), "
                "'$.decided_by', ?, '$.reason', ?) "
                "WHERE run_id=? AND kind='approval' AND status='pending'",
                (by, reason, run_id),
            )
            return cur.rowcount

    # ---- leases: one process drives a run at a time ---------------------------------
    def acquire_lease(
        self, run_id: str, token: str, *, purpose: str, stale_after_s: float
    ) -> LeaseRow | None:
        """Claim a run for this process, atomically. None on success, else the holder.

        A lease whose process is gone (on this host) or whose heartbeat is older than
        ``stale_after_s`` seconds is taken over.
        """
        now = time.time()
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                held = self._lease(run_id)
                if held is not None and held.token != token and not held.stale(stale_after_s, now):
                    return held
                self.conn.execute(
                    "INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?,?,?)",
                    (run_id, token, os.getpid(), HOST, purpose, now, now),
                )
            finally:
                self.conn.execute("COMMIT")
        return None

    def heartbeat_lease(self, run_id: str, token: str) -> bool:
        """Refresh a held lease; False when it was lost (taken over as stale)."""
        with self._lock:
            cur = self.conn.execute(
                "UPDATE leases SET heartbeat_at=? WHERE run_id=? AND token=?",
                (time.time(), run_id, token),
            )
            return cur.rowcount == 1

    def release_lease(self, run_id: str, token: str) -> None:
        """Give a lease back (no-op when it is no longer ours)."""
        with self._lock:
            self.conn.execute("DELETE FROM leases WHERE run_id=? AND token=?", (run_id, token))

    def lease(self, run_id: str) -> LeaseRow | None:
        """The current lease on a run, stale or not (None: nobody holds it)."""
        return self._lease(run_id)

    def _lease(self, run_id: str) -> LeaseRow | None:
        rows = self._query("SELECT * FROM leases WHERE run_id=?", (run_id,))
        return LeaseRow(**dict(rows[0])) if rows else None

    # ---- stop requests -------------------------------------------------------------
    def request_stop(self, run_id: str, by: str, reason: str | None) -> None:
        """Ask a run to stop at its next step boundary (the latest request wins)."""
        with self._lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO stop_requests VALUES (?,?,?,?)",
                (run_id, time.time(), by, reason),
            )

    def stop_request(self, run_id: str) -> StopRequest | None:
        """The stop request for a run, if any (the runner asks at every step boundary).

        Reads without committing a :meth:`batch` first: only ``agentbox stop`` (another
        process) writes this table, and a suite case must stay one transaction."""
        row = self._conn.execute(
            "SELECT requested_at, requested_by, reason FROM stop_requests WHERE run_id=?",
            (run_id,),
        ).fetchone()
        return None if row is None else StopRequest(run_id, *row)

    # ---- agent versions and suite runs (issue 17) ----------------------------------
    def knows_version(self, fingerprint: str) -> bool:
        """Whether the parts of this agent version are stored already."""
        if fingerprint in self._versions:
            return True
        row = self._conn.execute(  # one batched (see batch()) is in _versions already
            "SELECT 1 FROM agent_versions WHERE fingerprint=?", (fingerprint,)
        ).fetchone()
        if row is not None:
            self._versions.add(fingerprint)
        return row is not None

    def record_run_version(
        self, run_id: str, fingerprint: str, parts: dict[str, Any] | None, label: str | None
    ) -> None:
        """Store a run's agent version; its parts once per fingerprint (``parts`` None:
        already stored, see :meth:`knows_version`)."""
        with self._write():
            if parts is not None and fingerprint not in self._versions:
                self._exec(
                    "INSERT OR IGNORE INTO agent_versions VALUES (?,?,?)",
                    (fingerprint, _dump(parts), time.time()),
                )
            self._exec(
                "INSERT OR REPLACE INTO run_versions VALUES (?,?,?)", (run_id, fingerprint, label)
            )
        self._versions.add(fingerprint)

    def run_version(self, run_id: str) -> VersionRow | None:
        """The agent version of a run (None: recorded before versions, or imported)."""
        try:
            rows = self._query(
                "SELECT r.run_id, r.fingerprint, r.label, v.parts FROM run_versions r "
                "LEFT JOIN agent_versions v ON v.fingerprint = r.fingerprint WHERE r.run_id=?",
                (run_id,),
            )
        except sqlite3.OperationalError:  # a read-only store from before versions
            return None
        if not rows:
            return None
        data = dict(rows[0])
        self._json_columns(data, ("parts",), f"agent version {data['fingerprint']}")
        data["parts"] = data["parts"] or {}
        return VersionRow(**data)

    def run_fingerprints(self, run_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """``{run_id: (fingerprint, label)}`` for those of ``run_ids`` that have one."""
        ids = list(run_ids)
        out: dict[str, tuple[str, str | None]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" for _ in chunk)
            try:
                rows = self.conn.execute(
                    f"SELECT run_id, fingerprint, label FROM run_versions WHERE run_id IN ({marks})",
                    chunk,
                ).fetchall()
            except sqlite3.OperationalError:
                return out
            out.update({r[0]: (r[1], r[2]) for r in rows})
        return out

    def add_suite_run(self, run: SuiteRunRow, results: Iterable[SuiteResultRow]) -> None:
        """Store a suite run and its per-case results in one transaction."""
        with self._write():
            self.conn.execute("BEGIN")
            try:
                self.conn.execute(
                    "INSERT INTO suite_runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        run.id,
                        run.suite,
                        run.label,
                        run.fingerprint,
                        int(run.live),
                        run.model,
                        run.k,
                        run.started_at,
                        run.ended_at,
                        run.cases,
                        run.passed_cases,
                        _dump(run.totals),
                    ),
                )
                self.conn.executemany(
                    "INSERT OR REPLACE INTO suite_results VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            run.id,
                            r.case_key,
                            r.repeat,
                            r.name,
                            int(r.passed),
                            r.status,
                            r.run_id,
                            r.fingerprint,
                            _dump(r.metrics),
                            r.detail,
                        )
                        for r in results
                    ],
                )
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def _suite_run_from(self, row: sqlite3.Row) -> SuiteRunRow:
        data = dict(row)
        self._json_columns(data, ("totals",), f"suite run {data.get('id')}")
        data["totals"] = data["totals"] or {}
        data["live"] = bool(data["live"])
        return SuiteRunRow(**data)

    def _suite_query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self._query(sql, params)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a read-only store from before suite runs
                return []
            raise

    def get_suite_run(self, suite_run_id: str) -> SuiteRunRow | None:
        """A suite run by id or unique id prefix (None: no such id).

        Raises:
            StoreError: the prefix is ambiguous.
        """
        if not suite_run_id.strip():
            return None
        rows = self._suite_query("SELECT * FROM suite_runs WHERE id=?", (suite_run_id,))
        if not rows:
            rows = self._suite_query(
                "SELECT * FROM suite_runs WHERE id LIKE ? ESCAPE '\\' "
                "ORDER BY started_at DESC LIMIT 6",
                (_like_prefix(suite_run_id),),
            )
        if len(rows) > 1:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise StoreError(
                f"suite run id prefix {suite_run_id!r} is ambiguous: {ids}", "type more of the id"
            )
        return self._suite_run_from(rows[0]) if rows else None

    def list_suite_runs(
        self,
        *,
        limit: int | None = 50,
        suite: str | None = None,
        label: str | None = None,
        before: float | None = None,
    ) -> list[SuiteRunRow]:
        """Suite runs newest first, optionally of one suite, with one label, or started
        before a time (Unix seconds)."""
        where: list[str] = []
        params: list[Any] = []
        for column, value, op in (
            ("suite", suite, "="),
            ("label", label, "="),
            ("started_at", before, "<"),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        sql = "SELECT * FROM suite_runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY started_at DESC, rowid DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._suite_run_from(r) for r in self._suite_query(sql, tuple(params))]

    def suite_results(self, suite_run_id: str) -> list[SuiteResultRow]:
        """The per-case results of a suite run, by case then repeat."""
        rows = self._suite_query(
            "SELECT case_key, repeat, name, passed, status, run_id, fingerprint, metrics, detail "
            "FROM suite_results WHERE suite_run_id=? ORDER BY case_key, repeat",
            (suite_run_id,),
        )
        out = []
        for row in rows:
            data = dict(row)
            self._json_columns(data, ("metrics",), f"suite run {suite_run_id}")
            data["metrics"] = data["metrics"] or {}
            data["passed"] = bool(data["passed"])
            out.append(SuiteResultRow(**data))
        return out
