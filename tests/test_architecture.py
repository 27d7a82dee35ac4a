"""The layering rules of DESIGN.md, checked: who may import what, who speaks SQL, who prints."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "agentbox"
SOURCES = sorted(PKG.rglob("*.py"))


def _modules_loaded(import_line: str) -> set[str]:
    code = f"import sys; {import_line}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_engine_imports_no_ui_and_no_litellm() -> None:
    loaded = _modules_loaded("import agentbox.runner, agentbox.lifecycle, agentbox.store")
    assert not loaded & {"typer", "textual", "rich", "litellm", "click"}


def test_cli_import_does_not_load_litellm_or_textual() -> None:
    loaded = _modules_loaded("import agentbox.cli")
    assert "litellm" not in loaded and "textual" not in loaded


def _calls(tree: ast.AST, name: str) -> list[int]:
    return [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
    ]


def test_only_the_cli_and_tui_print() -> None:
    offenders = []
    for path in SOURCES:
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("cli", "tui"):
            continue
        lines = _calls(ast.parse(path.read_text()), "print")
        offenders += [f"{rel}:{n}" for n in lines]
    assert offenders == []


def test_only_the_store_speaks_sql() -> None:
    offenders = []
    for path in SOURCES:
        rel = path.relative_to(PKG)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if (
                any(n.split(".")[0] in ("sqlite3", "sqlite_utils") for n in names)
                and str(rel) != "store.py"
                # a shadow run's source database, opened read-only; not the trace store
                and str(rel) != "sandbox/sources/sqlite.py"
            ):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


TYPED_READERS = ["otel/spans.py", "suites/export.py"]
"""Modules that read stored steps through their typed event (``step.event``), never by
key into ``step.data`` (the shapes live in agentbox/events.py)."""


def test_step_readers_use_the_typed_event() -> None:
    offenders = []
    for rel in TYPED_READERS:
        tree = ast.parse((PKG / rel).read_text())
        offenders += [
            f"{rel}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "data"
        ]
    assert offenders == []


def test_litellm_is_imported_only_by_the_model_layer() -> None:
    offenders = []
    for path in SOURCES:
        rel = path.relative_to(PKG)
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            if any(n.split(".")[0] == "litellm" for n in names) and str(rel) != "models.py":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


# ---- size: no class over ~300 lines, no function over ~60 lines in the engine ----------------
ENGINE = ["runner", "lifecycle.py", "agents", "policy.py", "sandbox", "store.py"]
MAX_CLASS_LINES, MAX_FUNCTION_LINES = 300, 60
SIZE_ALLOWED = {
    # "path::qualified name": why it may stay long (each entry is a decision, not a backlog)
    "policy.py::Policy.problems": "one check per policy section, in file order, each two "
    "lines: splitting it scatters the scenario-error wording",
    "sandbox/sources/sql.py::resolve_tables": "one pass over the source's tables that "
    "reports every mismatch at once; its branches share the per-table state",
    "store.py::TraceStore": "the only module that speaks SQL (DESIGN.md): one class per "
    "database file, its queries side by side",
}


def _engine_files() -> list[Path]:
    files: list[Path] = []
    for entry in ENGINE:
        path = PKG / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def _oversized(path: Path, root: Path = PKG) -> list[str]:
    rel = path.relative_to(root).as_posix()
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                size = (child.end_lineno or child.lineno) - child.lineno + 1
                limit = MAX_CLASS_LINES if isinstance(child, ast.ClassDef) else MAX_FUNCTION_LINES
                if size > limit:
                    found.append(f"{rel}::{name} ({size} lines)")
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text()), "")
    return found


def test_engine_classes_and_functions_stay_small() -> None:
    """A class over 300 lines or a function over 60 in the engine needs an entry (and a
    reason) in SIZE_ALLOWED; an entry that no longer applies must be removed."""
    found = [o for path in _engine_files() for o in _oversized(path)]
    unexplained = [o for o in found if o.split(" (")[0] not in SIZE_ALLOWED]
    stale = sorted(set(SIZE_ALLOWED) - {o.split(" (")[0] for o in found})
    assert unexplained == [], "split these, or add them to SIZE_ALLOWED with a reason"
    assert stale == [], "these are small now: remove them from SIZE_ALLOWED"


def test_the_size_check_sees_a_long_method(tmp_path: Path) -> None:
    body = "\n".join(f"        x{i} = {i}" for i in range(70))
    (tmp_path / "long.py").write_text(f"class C:\n    def f(self):\n{body}\n")
    assert _oversized(tmp_path / "long.py", tmp_path) == ["long.py::C.f (71 lines)"]


def test_import_contracts_hold() -> None:
    """The import-linter contracts in pyproject.toml: layers, no cycles between siblings,
    litellm only in agentbox.models, no UI library in the engine."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    out = subprocess.run(
        [str(exe), "--no-cache"], cwd=PKG.parent, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def _import_blocks(body: list[ast.stmt]) -> list[list[ast.stmt]]:
    """Runs of consecutive import statements in ``body`` and in the blocks nested in it."""
    blocks: list[list[ast.stmt]] = []
    run: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            run.append(stmt)
            continue
        if run:
            blocks.append(run)
            run = []
        for field in ("body", "orelse", "finalbody", "handlers"):
            for child in getattr(stmt, field, []):
                inner = child.body if isinstance(child, ast.ExceptHandler) else [child]
                blocks += _import_blocks(inner)
    if run:
        blocks.append(run)
    return blocks


def test_imports_inside_functions_say_why() -> None:
    """Outside the CLI and the TUI (whose module docstrings say their commands import
    lazily to keep start-up fast), an import inside a function is there for start-up cost
    or an optional dependency, and a comment on it (or the line above) says so. None may
    dodge an import cycle: the contracts above would see the cycle."""
    offenders = []
    for path in SOURCES:
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("cli", "tui"):
            continue
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for block in _import_blocks(node.body):
                first, last = block[0].lineno, block[-1].end_lineno or block[-1].lineno
                if not any("#" in line for line in lines[first - 2 : last]):
                    offenders.append(f"{rel}:{first}")
    assert sorted(set(offenders)) == []
