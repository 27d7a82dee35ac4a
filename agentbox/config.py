"""Project settings from ``.agentbox.toml`` (found in the working folder or a parent).

Resolution order for every setting: CLI flag > scenario > ``.agentbox.toml`` > built-in
default. This module only covers the file and the defaults; the CLI and runner apply the
other two layers.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agentbox.defaults import ApprovalHandler, Budgets
from agentbox.errors import ConfigError
from agentbox.redact import Redactor

CONFIG_NAME = ".agentbox.toml"


class RedactSettings(BaseModel):
    """What to redact besides the built-in secret keys and environment variables.

    ``[redact]`` in ``.agentbox.toml``: ``keys = ["ssn", "card_*"]``, ``env = ["MY_DB_URL"]``.
    """

    model_config = ConfigDict(extra="forbid")

    keys: list[str] = []
    """Extra key-name patterns (globs, case-insensitive) whose values are never stored."""
    env: list[str] = []
    """Extra environment-variable names (globs) whose values are secrets."""


class Settings(BaseModel):
    """Project settings. Paths are relative to the folder holding ``.agentbox.toml``."""

    model_config = ConfigDict(extra="forbid")

    store: str = ".agentbox/traces.db"
    """Trace store (SQLite) path; created on first use."""
    sandboxes: str = "sandboxes"
    """Folder holding sandbox folders."""
    scenarios: str = "scenarios"
    """Folder holding scenario files."""
    suite: str = "suites/regressions"
    """Suite folder ``agentbox export`` (and the TUI's ``x``) writes cases into by default."""
    default_model: str = "scripted"
    """Model used when a scenario names none."""
    approvals: ApprovalHandler | None = None
    """Default approval handler when a scenario sets none."""
    budgets: Budgets = Budgets()
    """Default budgets; a scenario's budgets override them field by field."""
    redact: RedactSettings = RedactSettings()
    """Extra secrets to keep out of the trace store and exported cases."""
    otlp: str | None = None
    """Collector every ``agentbox run`` also sends its spans to while it runs
    (``otlp+http://HOST:PORT`` or ``otlp+grpc://HOST:PORT``); ``--otlp`` overrides it."""

    root: Path = Path(".")
    """The project folder (where the config file is, else the working folder)."""

    def path(self, value: str) -> Path:
        """Resolve a configured path against the project root."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p

    def redactor(self) -> Redactor:
        """The redactor for this project and the current environment's secrets."""
        return Redactor.from_env(os.environ, keys=self.redact.keys, env=self.redact.env)

    @property
    def store_path(self) -> Path:
        """The trace store file."""
        return self.path(self.store)

    @property
    def sandboxes_path(self) -> Path:
        """The sandboxes folder."""
        return self.path(self.sandboxes)

    @property
    def suite_path(self) -> Path:
        """The default suite folder for exports."""
        return self.path(self.suite)

    @property
    def scenarios_path(self) -> Path:
        """The scenarios folder."""
        return self.path(self.scenarios)


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``.agentbox.toml`` in ``start`` (default: cwd) or its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_settings(start: Path | None = None) -> Settings:
    """Load the nearest config file, or defaults rooted at the working folder.

    Raises:
        ConfigError: the file is not valid TOML or has unknown/mistyped settings.
    """
    path = find_config(start)
    if path is None:
        return Settings(root=(start or Path.cwd()).resolve())
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    data = dict(raw.get("agentbox", raw))
    if "agentbox" in raw and "redact" in raw:  # a top-level [redact] beside [agentbox]
        data.setdefault("redact", raw["redact"])
    data.pop("root", None)
    try:
        return Settings.model_validate({**data, "root": path.parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{path}: {field}: {first['msg']}", "see the README's settings table"
        ) from None
