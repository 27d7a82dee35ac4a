"""Keep secrets out of the trace store and out of exported cases.

A :class:`Redactor` replaces secrets in JSON-like data with :data:`MARKER`:

- the value of every key named like a credential (``api_key``, ``apiKey``, ``X-API-Key``,
  ``Authorization``, ``access_token``, ``password``, ``client_secret``, ``private_key``,
  ...; see :func:`is_secret_key`), at any depth of nested dicts and lists, plus keys
  matching the project's extra patterns (``[redact] keys`` in ``.agentbox.toml``);
- inside every string: the values of environment variables read as secrets (names like
  ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*PASSWORD*``, plus ``[redact] env``; values
  shorter than :data:`MIN_SECRET_LENGTH` are ignored), ``"key": value`` pairs of JSON text
  and ``key=value`` pairs of query strings whose key is a secret key, and
  ``Bearer <token>``.

Redaction is idempotent (redacting redacted data changes nothing) and treats a dict and
its JSON text alike, so a request hashed after redaction hashes the same whether it holds
a secret (when recorded) or the marker (when a redacted recording is replayed): the
cassette hashes requests this way. Pure functions over values: no I/O.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_ENV_PATTERNS",
    "MARKER",
    "MIN_SECRET_LENGTH",
    "SECRET_KEYS",
    "RedactedWrites",
    "Redactor",
    "is_secret_key",
    "redacted_paths",
    "restore",
    "secret_env_values",
]

MARKER = "[redacted]"
"""What a secret is replaced with."""

SECRET_KEYS = (
    "api_key",
    "apikey",
    "authorization",
    "token",
    "password",
    "passwd",
    "secret",
    "secret_key",
    "access_key",
    "private_key",
    "cookie",
)
"""A key is secret when its snake_case form is one of these or ends with ``_`` + one."""

DEFAULT_ENV_PATTERNS = ("*_API_KEY", "*_TOKEN", "*_SECRET", "*PASSWORD*")
"""Environment variables whose values are secrets (globs, upper-cased names)."""

MIN_SECRET_LENGTH = 8
"""Shorter environment values are not redacted (they would match ordinary text)."""

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_JSON_PAIR = re.compile(
    r'"([^"\\]{1,80})"(\s*:\s*)("[^"\\]*(?:\\.[^"\\]*)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)'
)
_STEMS = ("key", "auth", "token", "passw", "secret", "cookie")
"""Every built-in secret key, in any spelling, contains one of these (lower-cased)."""
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_QUERY_PAIR = re.compile(r"(?<![\w-])([A-Za-z_][\w.-]{0,63})=([^&\s\"'#]+)")
_QUERY_VALUE = re.compile(r"[^&\s\"'#]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)(?=[\w.~+/=-]*\d)[\w.~+/=-]{8,}")


def snake(key: str) -> str:
    """``apiKey`` / ``X-API-Key`` / ``api key`` -> ``api_key`` / ``x_api_key`` / ``api_key``."""
    return _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_")


def is_secret_key(key: str, extra: Iterable[str] = ()) -> bool:
    """Whether values under ``key`` are secrets.

    Args:
        key: a dict key or header name, any case or separator style.
        extra: more patterns (globs, case-insensitive), matched against the key as
            written and against its snake_case form.
    """
    name = snake(key)
    if any(name == k or name.endswith("_" + k) for k in SECRET_KEYS):
        return True
    lowered = key.lower()
    return any(
        fnmatch.fnmatchcase(lowered, p.lower()) or fnmatch.fnmatchcase(name, p.lower())
        for p in extra
    )


@functools.lru_cache(maxsize=16)
def _env_names(extra: tuple[str, ...]) -> re.Pattern[str]:
    """The compiled globs of secret variable names (built once per ``extra``: every run
    asks)."""
    return re.compile(
        "|".join(fnmatch.translate(p.upper()) for p in (*DEFAULT_ENV_PATTERNS, *extra))
    )


def secret_env_values(
    environ: Mapping[str, str], extra: Iterable[str] = (), *, min_length: int = MIN_SECRET_LENGTH
) -> tuple[str, ...]:
    """Values of environment variables read as secrets, longest first.

    Args:
        environ: the environment (``os.environ``).
        extra: more variable-name globs (``[redact] env`` in ``.agentbox.toml``).
        min_length: shorter values are left out.
    """
    names = _env_names(tuple(extra))
    values = {
        value
        for name, value in environ.items()
        if len(value) >= min_length and names.match(name.upper())
    }
    return tuple(sorted(values, key=len, reverse=True))


_SHARED: dict[tuple[Any, ...], Redactor] = {}
"""Redactors made by :meth:`Redactor.from_env`, by class, secret values and key globs."""


class Redactor:
    """Replace secrets in JSON-like values (see the module docstring).

    Args:
        values: secret strings to replace wherever they appear inside a string.
        keys: extra secret-key patterns (globs, case-insensitive).

    Call it: ``redactor(value)`` returns a redacted copy of dicts and lists (the input is
    not changed) and redacted strings; other values are returned as they are.
    """

    def __init__(self, values: Iterable[str] = (), keys: Iterable[str] = ()) -> None:
        self.values = tuple(sorted({v for v in values if v}, key=len, reverse=True))
        self.keys = tuple(keys)
        self._known: dict[str, bool] = {}
        self._texts: dict[str, str] = {}
        # a string shorter than this holds no secret value and no `key=v` pair
        self._shortest = min([5, *(len(v) for v in self.values)])

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        keys: Iterable[str] = (),
        env: Iterable[str] = (),
    ) -> Redactor:
        """A redactor for the secrets of ``environ`` plus extra key and env-name globs.

        Redactors of the same secrets and keys are one shared object (a redactor only
        caches what it computed), so each run does not warm its caches again.
        """
        values, keys = secret_env_values(environ, env), tuple(keys)
        memo = (cls, values, keys)
        shared = _SHARED.get(memo)
        if shared is None:
            if len(_SHARED) >= 16:
                _SHARED.clear()
            shared = _SHARED[memo] = cls(values, keys)
        return shared

    def is_secret(self, key: str) -> bool:
        """Whether values under ``key`` are redacted (cached per key)."""
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = is_secret_key(key, self.keys)
        return known

    def text(self, text: str) -> str:
        """``text`` with secret values, secret JSON/query pairs and bearer tokens replaced."""
        if len(text) < self._shortest:
            return text
        if len(text) <= 200:  # short strings repeat (tool names, verdicts, roles): cache
            done = self._texts.get(text)
            if done is None:
                if len(self._texts) >= 4096:
                    self._texts.clear()
                done = self._texts[text] = self._text(text)
            return done
        return self._text(text)

    def _text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MARKER)
        if self.keys:  # extra patterns: no cheap pre-check, scan every pair
            if '"' in text:
                text = _JSON_PAIR.sub(self._json_pair, text)
            if "=" in text:
                text = _QUERY_PAIR.sub(self._query_pair, text)
        else:  # look only where a secret key's name could be (cost ~ occurrences)
            hits = _stem_positions(text)
            if not hits:
                return text
            if '"' in text:
                text = self._json_pairs_at(text, hits)
                hits = _stem_positions(text)
            if "=" in text:
                text = self._query_pairs_at(text, hits)
        if "earer" in text or "EARER" in text:
            text = _BEARER.sub(self._bearer, text)
        return text

    def _json_pairs_at(self, text: str, hits: list[int]) -> str:
        starts = sorted({q for q in (text.rfind('"', 0, i) for i in hits) if q >= 0})
        out, last = [], 0
        for q in starts:
            if q < last:
                continue
            m = _JSON_PAIR.match(text, q)
            if m is None or m.group(3) in (f'"{MARKER}"', '""') or not self.is_secret(m.group(1)):
                continue
            out += [text[last : m.start(3)], f'"{MARKER}"']
            last = m.end(3)
        return "".join(out) + text[last:] if out else text

    def _query_pairs_at(self, text: str, hits: list[int]) -> str:
        out, last = [], 0
        for i in hits:
            if i < last:
                continue
            start = end = i
            while start > 0 and text[start - 1] in _KEY_CHARS:
                start -= 1
            while end < len(text) and text[end] in _KEY_CHARS:
                end += 1
            if end >= len(text) or text[end] != "=" or (start > 0 and text[start - 1] == "-"):
                continue
            m = _QUERY_VALUE.match(text, end + 1)
            if m is None or m.group(0) == MARKER or not self.is_secret(text[start:end]):
                continue
            out += [text[last : end + 1], MARKER]
            last = m.end()
        return "".join(out) + text[last:] if out else text

    @staticmethod
    def _bearer(m: re.Match[str]) -> str:
        return m.group(1) + MARKER

    def _json_pair(self, m: re.Match[str]) -> str:
        if m.group(3) in (f'"{MARKER}"', '""') or not self.is_secret(m.group(1)):
            return m.group(0)
        return f'"{m.group(1)}"{m.group(2)}"{MARKER}"'

    def _query_pair(self, m: re.Match[str]) -> str:
        if m.group(2) == MARKER or not self.is_secret(m.group(1)):
            return m.group(0)
        return f"{m.group(1)}={MARKER}"

    def patch(self, ops: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        """RFC 6902 operations with secrets redacted, including a scalar value set at a
        path whose last segment is a secret key (``/users/u1/password``)."""
        if not ops:
            return ops
        out = []
        for op in ops:
            last = str(op.get("path", "")).rsplit("/", 1)[-1].replace("~1", "/")
            last = last.replace("~0", "~")
            if "value" in op and _secret_scalar(op["value"]) and self.is_secret(last):
                out.append({**op, "value": MARKER})
            else:
                out.append(self(op))
        return out

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return self._dict(value)
        if isinstance(value, list | tuple):
            return self._list(value)
        return value

    # The walk below is the hot path of every stored step: exact JSON types take the
    # inlined branches (cache hits without a method call); anything else (subclasses of
    # str, int, dict...) takes the general ones. Both give the same result.
    def _dict(self, value: dict[Any, Any]) -> dict[Any, Any]:
        known, texts, shortest = self._known, self._texts, self._shortest
        out: dict[Any, Any] = {}
        for k, v in value.items():
            t = type(v)
            if t is str:
                if not v:
                    out[k] = v
                    continue
                secret = known.get(k) if type(k) is str else None
                if secret is None:
                    secret = self.is_secret(str(k))
                if secret:
                    out[k] = MARKER
                elif len(v) < shortest:
                    out[k] = v
                else:
                    done = texts.get(v)
                    out[k] = done if done is not None else self.text(v)
            elif v is None or t is bool:
                out[k] = v
            elif t is dict:
                out[k] = self._dict(v)
            elif t is list:
                out[k] = self._list(v)
            elif t is int or t is float:
                secret = known.get(k) if type(k) is str else None
                if secret is None:
                    secret = self.is_secret(str(k))
                out[k] = MARKER if secret else v
            elif isinstance(v, str):
                out[k] = MARKER if v and self.is_secret(str(k)) else self.text(v)
            elif isinstance(v, int | float):
                out[k] = MARKER if self.is_secret(str(k)) else v
            else:
                out[k] = self(v)
        return out

    def _list(self, value: list[Any] | tuple[Any, ...]) -> list[Any]:
        texts, shortest = self._texts, self._shortest
        out: list[Any] = []
        for v in value:
            t = type(v)
            if t is str:
                if len(v) < shortest:
                    out.append(v)
                else:
                    done = texts.get(v)
                    out.append(done if done is not None else self.text(v))
            elif t is dict:
                out.append(self._dict(v))
            elif t is list:
                out.append(self._list(v))
            else:
                out.append(self(v))
        return out


def restore(stored: Any, original: Any, redactor: Redactor) -> Any:
    """``stored`` (redacted) with the secrets put back from ``original`` where it still
    holds them: a part of ``original`` replaces the stored part it redacts to exactly.

    Used to resume or fork a run with the secrets of its scenario file (an
    ``agent.params.api_key``), which the store never held.
    """
    if redactor(original) == stored:
        return original
    if isinstance(stored, dict) and isinstance(original, dict):
        return {
            k: restore(v, original[k], redactor) if k in original else v for k, v in stored.items()
        }
    if isinstance(stored, list) and isinstance(original, list) and len(stored) == len(original):
        return [restore(s, o, redactor) for s, o in zip(stored, original, strict=True)]
    return stored


def redacted_paths(value: Any, path: str = "") -> list[str]:
    """Dotted paths in ``value`` whose string holds :data:`MARKER` (a secret the store lost).

    A held call resumed from the store has its secrets redacted; executing it with the
    marker as a value would be wrong, so the runner refuses such a call.
    """
    if isinstance(value, str):
        return [path or "(value)"] if MARKER in value else []
    if isinstance(value, dict):
        return [
            p for k, v in value.items() for p in redacted_paths(v, f"{path}.{k}" if path else k)
        ]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in redacted_paths(v, f"{path}[{i}]")]
    return []


def _stem_positions(text: str) -> list[int]:
    """Sorted positions of the secret-key stems in ``text`` (any case)."""
    low = text.lower()
    found: list[int] = []
    for stem in _STEMS:
        if stem not in low:
            continue
        i = low.find(stem)
        while i != -1:
            found.append(i)
            i = low.find(stem, i + 1)
    return sorted(found)


def _secret_scalar(value: Any) -> bool:
    """Values a secret key's value is replaced for (not containers, flags or empties)."""
    if isinstance(value, bool) or value is None:
        return False
    return isinstance(value, int | float) or (isinstance(value, str) and value != "")


_PLAIN_COLUMNS = frozenset(
    {"status", "counters", "pid", "started_at", "ended_at", "duration_s", "passed"}
)
"""Run and step columns that never hold user data (not walked)."""


class RedactedWrites:
    """A trace store whose writes of runs, steps and approvals are redacted first.

    Wraps a :class:`~agentbox.store.TraceStore` (everything else is forwarded unchanged);
    the runner writes through one, so nothing it records reaches the file unredacted.
    Steps handed to it are not changed: the run keeps the real values in memory. State
    blobs (seeds, checkpoints) are stored as they are (their hashes identify them).
    """

    def __init__(self, store: Any, redactor: Redactor) -> None:
        self._store = store
        self.redactor = redactor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def create_run(self, **fields: Any) -> None:
        """See ``TraceStore.create_run``."""
        self._store.create_run(**self.redactor(fields))

    def record_run_version(
        self, run_id: str, fingerprint: str, parts: dict[str, Any] | None, label: str | None
    ) -> None:
        """See ``TraceStore.record_run_version`` (the parts redacted; the fingerprint was
        taken over the real values)."""
        known = self._store.knows_version(fingerprint)
        clean = None if known or parts is None else self.redactor(parts)
        self._store.record_run_version(run_id, fingerprint, clean, label)

    def update_run(self, run_id: str, **fields: Any) -> None:
        """See ``TraceStore.update_run``."""
        r = self.redactor
        clean = {k: v if k in _PLAIN_COLUMNS else r(v) for k, v in fields.items()}
        self._store.update_run(run_id, **clean)

    def add_step(self, step: Any) -> None:
        """See ``TraceStore.add_step`` (a redacted copy of ``step`` is stored)."""
        r = self.redactor
        self._store.add_step(
            dataclasses.replace(
                step, data=r(step.data), message=r(step.message), patch=r.patch(step.patch)
            )
        )

    def update_step(self, run_id: str, idx: int, **fields: Any) -> None:
        """See ``TraceStore.update_step``."""
        r = self.redactor
        clean = {
            k: v if k in _PLAIN_COLUMNS else r.patch(v) if k == "patch" else r(v)
            for k, v in fields.items()
        }
        self._store.update_step(run_id, idx, **clean)

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
        """See ``TraceStore.add_approval``."""
        r = self.redactor
        self._store.add_approval(approval_id, run_id, step, tool, r(args), rule, r(reason))

    def decide_approval(
        self,
        approval_id: str,
        status: str,
        *,
        by: str,
        reason: str | None = None,
        edited_args: dict[str, Any] | None = None,
    ) -> bool:
        """See ``TraceStore.decide_approval``."""
        r = self.redactor
        return bool(
            self._store.decide_approval(
                approval_id, status, by=by, reason=r(reason), edited_args=r(edited_args)
            )
        )
