"""pytest plugin: agentbox suite case files are test items, so ``pytest suites/`` works.

Collected: every ``*.yaml``/``*.yml`` file that has a top-level ``cassette:`` key (what
``agentbox export`` writes). Other YAML files and all Python test files are left to pytest
as usual. Each case replays offline (cassette + recorded approval decisions) and fails
with its broken expectations or the cassette-miss diff.

Options: ``--agentbox-store PATH`` keeps the replayed runs in that trace store (default: a
temporary store for the session); ``--agentbox-live`` asks the recorded model instead of
the cassette.

Registered through the ``pytest11`` entry point ``agentbox``; without it, load it with
``pytest -p agentbox.pytest_plugin``. Importing this module loads nothing but pytest: the
engine is imported when the first case file is collected (never litellm or Textual).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from agentbox.store import TraceStore
    from agentbox.suites.replay import CaseResult

_CASE_KEY = re.compile(r"^cassette:", re.MULTILINE)
_STORE = pytest.StashKey["TraceStore"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentbox", "agentbox suite cases")
    group.addoption(
        "--agentbox-store",
        default=None,
        metavar="PATH",
        help="trace store for replayed cases (default: a temporary store)",
    )
    group.addoption(
        "--agentbox-live",
        action="store_true",
        default=False,
        help="ask the recorded model instead of replaying the cassette",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    try:
        text = file_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not _CASE_KEY.search(text):
        return None
    return CaseFileCollector.from_parent(parent, path=file_path)


def pytest_unconfigure(config: pytest.Config) -> None:
    store = config.stash.get(_STORE, None)
    if store is not None:
        store.close()


def _store(config: pytest.Config) -> TraceStore:
    store = config.stash.get(_STORE, None)
    if store is None:
        from agentbox.store import TraceStore  # plugin start-up: every pytest session loads it

        path = config.getoption("agentbox_store")
        if path is None:
            path = Path(tempfile.mkdtemp(prefix="agentbox-pytest-")) / "traces.db"
        store = TraceStore(path)
        config.stash[_STORE] = store
    return store


class CaseFailed(Exception):
    """A case replayed but did not pass."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.message)
        self.result = result


class CaseFileCollector(pytest.File):
    """One case file: yields one item."""

    def collect(self) -> Any:
        import yaml  # plugin start-up: every pytest session loads it

        from agentbox.errors import AgentboxError
        from agentbox.suites.case import fast_yaml
        from agentbox.yamlfile import read_text

        name = self.path.stem
        try:  # bounded: a hostile file must not hang collection
            data = fast_yaml(read_text(self.path))
            if isinstance(data, dict) and isinstance(data.get("case"), str):
                name = data["case"]
        except (yaml.YAMLError, AgentboxError, ValueError):
            pass  # reported when the item runs
        yield CaseItem.from_parent(self, name=name)


class CaseItem(pytest.Item):
    """Replays one case file."""

    def runtest(self) -> None:
        from agentbox.config import (
            find_config,
            load_settings,
        )  # plugin start-up: every pytest session loads it
        from agentbox.errors import AgentboxError
        from agentbox.suites.case import load_case
        from agentbox.suites.replay import CaseResult, run_file

        folder = self.path.parent
        settings = load_settings(folder if find_config(folder) else None)
        try:
            case = load_case(self.path)
        except AgentboxError as exc:
            raise CaseFailed(
                CaseResult(str(self.path), self.name, "case", reason=exc.message)
            ) from None
        result = run_file(
            self.path,
            _store(self.config),
            settings,
            live=bool(self.config.getoption("agentbox_live")),
            case=case,
        )
        self.user_properties.append(("run_id", result.run_id))
        if result.simulator_error:  # the simulated user failed, not the agent
            pytest.skip(f"simulator_error: {result.reason} (run {result.run_id})")
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            r = excinfo.value.result
            head = f"case {r.name} ({r.path}) failed" + (
                f": run {r.run_id}, status {r.status}" if r.run_id else ""
            )
            verbose = int(self.config.getoption("verbose") or 0) > 0  # pytest -v: whole requests
            lines = "\n".join(r.explain(verbose)).splitlines()
            return "\n".join([head, *("  " + line for line in lines)])
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"agentbox case: {self.name}"
